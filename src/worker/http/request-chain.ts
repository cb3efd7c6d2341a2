/**
 * What runs for one connection and one request in a worker, in order, put together here and nowhere else:
 *
 * per connection ('connection'):
 *   1. counted against --worker-connections (HttpWorker, listeners.ts pauses accepting at the limit)
 *   2. with --proxy-protocol, from an allowed peer: the PROXY header is read first (proxy-protocol.ts)
 *   3. Node's TLS handshake and HTTP parser; malformed input is answered on that connection (client-errors.ts)
 * per request ('request'), the gate (request-gate.ts):
 *   4. dropped if its connection was rejected; the request limits (limits.ts); forwarding headers (forwarded.ts)
 *   5. --health-path (health.ts), answered without the app
 *   6. counted and timed; `Connection: close` when sync, closing, shedding or without keep-alive
 *   7. the app (composeApp below): through an emit (app-call.ts), its throw or rejection answered 500, then
 *      the observer (access log, metrics), the preRequest/postRequest hooks, and the app's listener: the node
 *      app itself, or the fetch adapter (fetch-adapter.ts with lazy-request.ts and light-response.ts)
 * other events: 'upgrade' (the gate, then the app's upgrade handler), CONNECT (405), and for sync workers an
 * unknown Expect (417, with a close).
 */
import http, { type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { TlsOptions } from 'node:tls';
import { type Hooks, type WorkerInfo, callHookSync } from '../../config/hooks.js';
import type { Settings } from '../../config/settings.js';
import { closeAfterResponse, keepAliveMs } from '../../node-compat.js';
import type { ListenerInfo } from '../../protocol.js';
import { callThroughEmit } from '../app/app-call.js';
import { lastRequest, onClientError, rejectConnection } from './client-errors.js';
import { type TrustList, clientInfo, normalizeAddress } from './forwarded.js';
import { parserOptions, requestLimits } from './limits.js';
import { readProxyHeader, replayInto, setProxiedPeer } from './proxy-protocol.js';
import type { RequestGate } from './request-gate.js';
import { type RequestSink, observeRequests } from './request-observer.js';

/** What wraps the app's listener: the request hooks and the observer's sinks; each costs nothing when absent. */
export interface AppLayers {
  hooks: Hooks;
  info: WorkerInfo;
  reportHook: Parameters<typeof callHookSync>[2];
  sinks: readonly RequestSink[];
}

/** Step 7: the app's listener with its layers, called so that V8 cannot inline it into the worker (app-call.ts). */
export function composeApp(listener: RequestListener, layers: AppLayers): RequestListener {
  const observed = observeRequests(withRequestHooks(listener, layers), layers.sinks, (req) => clientInfo(req).address);
  return callThroughEmit(observed);
}

/** preRequest/postRequest hooks wrap the app only when the config defines them. */
function withRequestHooks(app: RequestListener, { hooks, info, reportHook }: AppLayers): RequestListener {
  if (!hooks.preRequest && !hooks.postRequest) return app;
  return (req: IncomingMessage, res: ServerResponse) => {
    callHookSync(hooks, 'preRequest', reportHook, info, req);
    if (hooks.postRequest) res.once('close', () => callHookSync(hooks, 'postRequest', reportHook, info, req, res));
    return app(req, res);
  };
}

export interface ChainServerOptions {
  settings: Settings;
  /** With --certfile: the TLS server options (workers serve HTTPS on every listener). */
  tls: TlsOptions | null;
  gate: RequestGate;
  /** Whether the app handles `Upgrade` requests; without a handler Node serves them as ordinary requests. */
  upgrade: boolean;
  /** Peers allowed to send a PROXY header (--proxy-allow-from); null without --proxy-protocol. */
  proxyPeers: TrustList | null;
  /** Step 1, before anything reads the socket. */
  onConnection(socket: Socket): void;
}

/** Most often Node checks connections against --headers-timeout and --request-read-timeout (its default is 30 s). */
const CHECK_MS = 1000;
type ConnectionListener = (this: http.Server, socket: Socket) => void;

/** A server for one listener with the whole chain attached. */
export function createChainServer(info: ListenerInfo, opts: ChainServerOptions): http.Server {
  const { settings, gate } = opts;
  const { maxHeaderSize, maxHeadersCount } = parserOptions(requestLimits(settings));
  const requestMs = Math.round(settings.requestReadTimeout * 1000);
  // Node requires headersTimeout <= requestTimeout when both are set.
  const headersMs = Math.min(Math.round(settings.headersTimeout * 1000), requestMs || Number.POSITIVE_INFINITY);
  const options: http.ServerOptions = {
    // Nagle off on every connection: inherited from the listener where the arbiter could set it there.
    noDelay: !info.noDelayInherited,
    maxHeaderSize,
    // limits.ts checks Host itself, and answers with a body.
    requireHostHeader: false,
    headersTimeout: headersMs,
    requestTimeout: requestMs,
    connectionsCheckingInterval: Math.max(100, Math.min(CHECK_MS, (headersMs || CHECK_MS) / 4)),
  };
  const server = opts.tls
    ? https.createServer(
        { ...options, ...opts.tls, ...(headersMs > 0 ? { handshakeTimeout: headersMs } : {}) },
        gate.handleRequest,
      )
    : http.createServer(options, gate.handleRequest);
  server.maxHeadersCount = maxHeadersCount;
  server.keepAliveTimeout = keepAliveMs(server as { keepAliveTimeoutBuffer?: number }, settings.keepAlive);
  // Node's own 'connection' listener (the HTTP parser, or the TLS handshake) runs from ours, after steps 1-2.
  const inner = server.listeners('connection') as ConnectionListener[];
  server.removeAllListeners('connection');
  const proxy = opts.proxyPeers && info.address.kind === 'tcp' ? opts.proxyPeers : null;
  server.on('connection', (socket: Socket) => {
    opts.onConnection(socket);
    if (proxy?.has(normalizeAddress(socket.remoteAddress ?? ''))) readProxy(server, socket, inner, headersMs);
    else for (const fn of inner) fn.call(server, socket);
  });
  // Malformed input gets a short response and a close; the worker and other connections carry on.
  server.on('clientError', onClientError);
  // CONNECT: not a proxy. (Without a listener Node would just drop the connection.)
  server.on('connect', (_req: IncomingMessage, socket: Socket) =>
    rejectConnection(socket, 405, 'CONNECT is not supported'),
  );
  if (opts.upgrade) server.on('upgrade', gate.handleUpgrade);
  // Node answers an unknown Expect with 417 itself and keeps the connection, which would hold a sync worker.
  if (settings.workerClass === 'sync') server.on('checkExpectation', expectationFailed);
  return server;
}

function readProxy(server: http.Server, socket: Socket, inner: ConnectionListener[], timeoutMs: number): void {
  readProxyHeader(socket, timeoutMs, (outcome) => {
    if (!outcome.ok) {
      rejectConnection(socket, 400, `Invalid PROXY protocol header: ${outcome.why}`);
      return;
    }
    if (outcome.source) setProxiedPeer(socket, outcome.source);
    replayInto(socket, outcome.rest, (s) => {
      for (const fn of inner) fn.call(server, s);
    });
  });
}

/** A sync worker's answer to an Expect other than 100-continue: Node's 417, with a close. */
function expectationFailed(req: IncomingMessage, res: ServerResponse): void {
  lastRequest(req.socket);
  closeAfterResponse(res);
  res.writeHead(417).end();
}
