/**
 * What an app may provide besides its request handler: `upgrade` for HTTP
 * upgrades (WebSocket), and `shutdown` to hear that its worker is stopping.
 * docs/frameworks.md documents both for users.
 *
 * - `upgrade(req, socket, head)` has the signature of Node's own `'upgrade'`
 *   event, so `ws` (`new WebSocketServer({ noServer: true }).handleUpgrade`),
 *   and anything else written against a Node `http.Server`, plugs in as it
 *   is, for node and fetch apps alike. It receives every request that
 *   carries an `Upgrade` header (Node's rule, there is no per-request opt-out
 *   on Node 20): it must answer the ones it does not handle.
 * - `shutdown()` is called once, when a graceful stop begins (TERM, HUP
 *   retirement, --max-requests), after the worker stopped accepting: the
 *   moment to send WebSocket close frames or end event streams. The worker
 *   waits for those connections to close, up to --graceful-timeout.
 *
 * Where they are found, first match wins: a property of the loaded app value
 * (`export default { fetch, upgrade, shutdown }`, a factory's return value,
 * `module.exports = handler; handler.upgrade = …`), else an export of that
 * name from the app module (`export const app = express(); export function
 * upgrade(…)`). A property is called with the app value as `this`.
 *
 * Without `upgrade`, Node (since v10) serves a request with an `Upgrade`
 * header as an ordinary request: the app answers it (a WebSocket client sees
 * that answer, say a 404, and fails its handshake cleanly), and `Upgrade: h2c`
 * (curl --http2 on http://) keeps working over HTTP/1.1, as RFC 9110 §7.8
 * allows. A blanket 426 would break the latter.
 *
 * An upgraded socket stays in HttpWorker's connection set until it closes
 * (it joined on 'connection'; Node only detaches its HTTP parser), so
 * --worker-connections counts it, a graceful stop waits for it, and the
 * graceful deadline destroys it.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../log/logger.js';
import { callUserCode } from '../../user-code.js';
import { rejectConnection } from '../http/client-errors.js';

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => unknown;
export type ShutdownHandler = () => unknown;

export interface AppExtras {
  upgrade?: UpgradeHandler;
  shutdown?: ShutdownHandler;
}

const EXTRA_NAMES = ['upgrade', 'shutdown'] as const;

function isObjectLike(v: unknown): v is Record<string, unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function');
}

/**
 * `value` is the app as loaded (after a factory call); `exported` what EXPORT
 * named before the call, so an EXPORT that is itself `upgrade` is not taken
 * as the upgrade handler too; `ns` the module's exports.
 */
export function findAppExtras(value: unknown, exported: unknown, ns: Record<string, unknown>): AppExtras {
  const extras: AppExtras = {};
  const cjs = ns.default;
  for (const name of EXTRA_NAMES) {
    const own = isObjectLike(value) ? value[name] : undefined;
    if (typeof own === 'function') {
      extras[name] = (own as (...a: unknown[]) => unknown).bind(value) as never;
      continue;
    }
    // A CJS module's named exports may only be visible on its default (module.exports).
    const fromModule = name in ns ? ns[name] : isObjectLike(cjs) ? cjs[name] : undefined;
    if (typeof fromModule === 'function' && fromModule !== exported) extras[name] = fromModule as never;
  }
  return extras;
}

/**
 * The worker's 'upgrade' listener around the app's handler: a throw or rejection is logged, and answered 500
 * if nothing was written yet.
 */
export function upgradeListener(handler: UpgradeHandler, log: Logger): UpgradeHandler {
  const fail = (err: unknown, req: IncomingMessage, socket: Duplex): void => {
    log.exception(`Error handling upgrade ${req.method} ${req.url}`, err);
    // Once the app wrote anything the protocol is its own: only a close is left.
    if ((socket as Socket).bytesWritten > 0) socket.destroy();
    else rejectConnection(socket as Socket, 500);
  };
  return (req, socket, head) => callUserCode(handler, fail, req, socket, head);
}

/** Calls the app's shutdown() once; a throw or rejection is logged and changes nothing else. */
export function callShutdown(shutdown: ShutdownHandler | undefined, log: Logger): void {
  if (!shutdown) return;
  callUserCode(shutdown, (err) => log.exception("Error in the app's shutdown()", err));
}
