/**
 * What an app may provide besides its request handler (docs/frameworks.md, "WebSockets and other upgrades"):
 * `upgrade(req, socket, head)`, with the signature of Node's own 'upgrade' event so that `ws` and anything
 * written for an `http.Server` plugs in as it is; and `shutdown()`, called once as a graceful stop begins, to
 * close WebSockets and event streams the worker would otherwise wait for until --graceful-timeout.
 *
 * Without `upgrade`, Node serves a request with an `Upgrade` header as an ordinary request, which keeps
 * `Upgrade: h2c` working over HTTP/1.1 (RFC 9110 §7.8): a blanket 426 would break it. An upgraded socket stays
 * in HttpWorker's connections until it closes, so --worker-connections and graceful stops count it.
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
 * First match wins: a property of the app value (called with it as `this`), else a module export of that name.
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
