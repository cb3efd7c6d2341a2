/**
 * A worker's HTTP servers: one per listener, all sharing one request
 * listener. Both worker classes are this one class:
 *
 * - `async`: many concurrent connections with keep-alive, up to
 *   --worker-connections.
 * - `sync`: one connection, so one request, at a time, `Connection: close`.
 *
 * How a worker limits what it takes (docs/workers.md has the measurements):
 * Node's `server.maxConnections` would *close* connections over the limit.
 * Instead, at the limit the worker stops accepting: it closes its copy of
 * the listening socket, so the kernel gives further connections to other
 * workers or keeps them in the backlog, oldest first. Closing matters: it
 * happens inside libuv's accept loop (the 'connection' event is synchronous)
 * and ends that loop, so the worker takes exactly the connections it may
 * serve. Below the limit it listens again on a spare copy of the handle
 * (the arbiter keeps it supplied over IPC). A sync worker does this for
 * every request, so it holds a few spares to never wait for one.
 *
 * Graceful stop never closes a connection a client may be writing to: it
 * stops accepting, answers each connection's next request with
 * `Connection: close`, and leaves idle keep-alive connections to the
 * keep-alive timer, which fires only after the advertised timeout (plus up to
 * 1 s, see node-compat keepAliveMs) when clients have dropped them.
 *
 * Hardening (docs/security.md): each server enforces the request limits
 * (limits.ts), --headers-timeout and --request-read-timeout (Node's
 * headersTimeout / requestTimeout, checked every CHECK_MS), and answers
 * malformed input on the offending connection alone (client-errors.ts).
 * Before the app runs, the request's client and scheme are worked out
 * (forwarded.ts) and set as `req.tsunicorn`. With --proxy-protocol, the
 * server's own 'connection' handling is taken over so that a PROXY header can
 * be read before HTTP sees the socket (proxy-protocol.ts).
 */
import http, { type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { TlsOptions } from 'node:tls';
import type { Settings } from '../../config/settings.js';
import type { Logger } from '../../log/logger.js';
import {
  type ServerHandle,
  closeAfterResponse,
  keepAliveMs,
  listenOnHandle,
  stopAccepting,
} from '../../node-compat.js';
import type { ListenerInfo } from '../../protocol.js';
import { callThroughEmit } from '../app/app-call.js';
import {
  lastRequest,
  markRejected,
  onClientError,
  rejectConnection,
  requestEnded,
  requestStarted,
} from './client-errors.js';
import { type TrustList, forwardedClient, normalizeAddress, resolveClientInfo, trustList } from './forwarded.js';
import { type RequestLimits, type Rejection, checkRequest, parserOptions, requestLimits } from './limits.js';
import { connectionCap, descriptorsFree, fdUsage } from './fd-limit.js';
import { Health } from './health.js';
import { LiveSet } from './live-set.js';
import { readProxyHeader, replayInto, setProxiedPeer } from './proxy-protocol.js';
import type { UpgradeHandler } from '../app/app-extras.js';
import { BucketCounts, LATENCY_BUCKETS } from '../../metrics/request-stats.js';

interface Endpoint {
  info: ListenerInfo;
  server: http.Server;
  /** The handle being listened on, or null while paused. */
  active: ServerHandle | null;
  /** Unused copies of the bound handle, to listen on at start and after a pause. */
  spares: ServerHandle[];
  /** Spares asked for and not yet received. */
  requested: number;
  /** Until start() has settled for it: a listen error then fails the boot. */
  starting: boolean;
  /** After an accept error: when accepting starts again. */
  retry: NodeJS.Timeout | null;
}

export interface HttpWorkerOptions {
  settings: Settings;
  log: Logger;
  app: RequestListener;
  /** Asks the arbiter for `count` more copies of listener `index`. */
  needSpare(index: number, count: number): void;
  /** Requests after which the worker retires (0 = never), jitter included. */
  maxRequests: number;
  onMaxRequests(): void;
  /** Sync workers: a request started / ended. */
  onRequestStart?(req: IncomingMessage): void;
  onRequestEnd?(): void;
  /** Sync workers: the request ran past --timeout; a 504 was sent if it could be. */
  onRequestTimeout?(req: IncomingMessage): void;
  /** With --certfile: the TLS server options (workers serve HTTPS on every listener). */
  tls?: TlsOptions | null;
  /** The app's handler for requests with an `Upgrade` header (app-extras.ts); without one Node serves them as ordinary requests. */
  upgrade?: UpgradeHandler;
  /** A listener could not listen again after start (logged): the worker cannot serve it, so it stops to be replaced. */
  onListenError(): void;
}

/** A sync worker's answer to an Expect other than 100-continue: Node's 417, with a close. */
function expectationFailed(req: IncomingMessage, res: ServerResponse): void {
  lastRequest(req.socket);
  closeAfterResponse(res);
  res.writeHead(417).end();
}

/** Spares a sync worker keeps per listener so that it never waits for the arbiter between requests; refilled below 2. */
const SYNC_SPARES = 6;
const SYNC_SPARES_LOW = 2;
/** Most often Node checks connections against --headers-timeout and --request-read-timeout (its default is 30 s). */
const CHECK_MS = 1000;
/** How long a worker stops accepting on a listener after an accept error (EMFILE, ENFILE, …): no spinning. */
const ACCEPT_BACKOFF_MS = 500;
/** At most one accept-error line per listener per this long. */
const ACCEPT_ERROR_LOG_MS = 10_000;
const CONFLICTING_SCHEME: Rejection = { status: 400, why: 'Conflicting scheme headers' };
type ConnectionListener = (this: http.Server, socket: Socket) => void;
/** When a response's request started (performance.now()), for the latency histogram; one symbol, one hidden class. */
const kStarted = Symbol('tsunicorn.started');
type Timed = ServerResponse & { [kStarted]?: number };

export class HttpWorker {
  private readonly endpoints = new Map<number, Endpoint>();
  // Not Sets: see live-set.ts for what a Set of short-lived objects costs in GC.
  private readonly connections = new LiveSet<Socket>();
  private readonly inFlight = new LiveSet<ServerResponse>();
  private readonly sync: boolean;
  private readonly connectionLimit: number;
  private readonly sparesWanted: number;
  private readonly sparesLow: number;
  private started = false;
  private paused = false;
  private draining = false;
  private drained: (() => void) | null = null;
  private readonly limits: RequestLimits;
  /** Peers allowed to send a PROXY header (--proxy-allow-from); null without --proxy-protocol. */
  private readonly proxyPeers: TrustList | null;
  requests = 0;
  /** Durations of answered requests, for `ctl top` on the beat: a few comparisons per request, no IPC. */
  readonly latency = new BucketCounts(LATENCY_BUCKETS);
  /** The app's request listener, called so that V8 cannot inline it into the worker's code (app-call.ts). */
  readonly callApp: RequestListener;
  /** Requests still to be answered with `Connection: close` to rebalance keep-alive connections (arbiter/decisions/balance.ts). */
  private shedding = 0;
  private acceptErrorLoggedAt = Number.NEGATIVE_INFINITY;
  /** Out of file descriptors (the beat could not read memory): not accepting until some are free. */
  private starved = false;
  /** --health-path, answered before the app (health.ts); null when unset. */
  private readonly health: Health | null;

  constructor(private readonly opts: HttpWorkerOptions) {
    this.sync = opts.settings.workerClass === 'sync';
    this.connectionLimit = this.sync ? 1 : this.asyncConnectionLimit();
    this.sparesWanted = this.sync ? SYNC_SPARES : 1;
    this.sparesLow = this.sync ? SYNC_SPARES_LOW : 0;
    this.limits = requestLimits(opts.settings);
    this.callApp = callThroughEmit(opts.app);
    this.proxyPeers = opts.settings.proxyProtocol ? trustList(opts.settings.proxyAllowIps) : null;
    this.health = opts.settings.healthPath ? new Health(opts.settings.healthPath) : null;
  }

  /** The arbiter is stopping the server (TERM): --health-path answers 503 from now on; requests are still served. */
  stopServing(): void {
    this.health?.stop();
  }

  /** --worker-connections, within what the open-files limit leaves (fd-limit.ts). */
  private asyncConnectionLimit(): number {
    const wanted = this.opts.settings.workerConnections;
    const fds = fdUsage();
    const cap = connectionCap(wanted, fds.limit, fds.inUse);
    if (fds.limit !== null && fds.limit < wanted) {
      this.opts.log.warning(
        `Open files limit (ulimit -n) ${fds.limit} is below --worker-connections ${wanted}: ` +
          `this worker holds at most ${cap} connections at once`,
      );
    }
    return cap;
  }

  get activeRequests(): number {
    return this.inFlight.size;
  }

  get openConnections(): number {
    return this.connections.size;
  }

  /** The arbiter found this worker holding more than its share of connections: close `count` of them (async workers only; pool.ts decides). */
  shed(count: number): void {
    this.shedding = count;
  }

  /** A copy of a listener's bound handle from the arbiter. */
  addHandle(info: ListenerInfo, handle: ServerHandle): void {
    let ep = this.endpoints.get(info.index);
    if (!ep) {
      const server = this.createServer(info);
      ep = { info, server, active: null, spares: [], requested: 0, starting: false, retry: null };
      this.endpoints.set(info.index, ep);
    }
    if (ep.requested > 0) ep.requested--;
    if (this.draining) {
      handle.close();
      return;
    }
    ep.spares.push(handle);
    if (this.started && !ep.active && !this.paused) this.listen(ep);
  }

  /** Listens on every endpoint; resolves when all are listening. */
  async start(): Promise<void> {
    this.started = true;
    await Promise.all(
      [...this.endpoints.values()].map(
        (ep) =>
          new Promise<void>((resolve, reject) => {
            // Both listeners go once either fires: a later error is serverError's (#16).
            const settle = (err?: NodeJS.ErrnoException): void => {
              ep.starting = false;
              ep.server.off('listening', settle);
              ep.server.off('error', settle);
              if (!err) resolve();
              else reject(new Error(`cannot listen on ${ep.info.display}: ${err.code ?? err.message}`, { cause: err }));
            };
            ep.starting = true;
            ep.server.on('listening', settle);
            ep.server.on('error', settle);
            this.listen(ep);
          }),
      ),
    );
    this.health?.ready();
  }

  /**
   * An error on a listening server after start. Accept errors (out of descriptors, kernel memory) pause
   * accepting on that listener for a moment: libuv reports them again at once while the connection waits.
   * A listener that cannot listen again leaves the worker unable to serve it: it stops and is replaced.
   */
  private serverError(index: number, err: NodeJS.ErrnoException): void {
    const ep = this.endpoints.get(index);
    if (!ep || ep.starting) return;
    const pid = process.pid;
    if (ep.active) stopAccepting(ep.server);
    ep.active = null;
    if (err.syscall !== 'accept') {
      const why = err.code ?? err.message;
      this.opts.log.error(`Worker (pid: ${pid}) cannot listen on ${ep.info.display}: ${why}; stopping to be replaced`);
      this.opts.onListenError();
      return;
    }
    if (ep.retry || this.draining) return;
    const now = Date.now();
    if (now - this.acceptErrorLoggedAt >= ACCEPT_ERROR_LOG_MS) {
      this.acceptErrorLoggedAt = now;
      this.opts.log.warning(
        `Worker (pid: ${pid}) cannot accept connections on ${ep.info.display}: ${err.code ?? err.message}; ` +
          `pausing accept for ${ACCEPT_BACKOFF_MS} ms`,
      );
    }
    ep.retry = setTimeout(() => {
      ep.retry = null;
      if (!this.paused && !ep.active) this.listen(ep);
    }, ACCEPT_BACKOFF_MS);
  }

  /**
   * This process is out of file descriptors. libuv then accepts each new connection and closes it at once
   * (its EMFILE fallback), failing requests another worker could serve: stop accepting instead.
   */
  descriptorsExhausted(): void {
    if (this.starved || this.draining) return;
    this.starved = true;
    const pid = process.pid;
    this.opts.log.warning(
      `Worker (pid: ${pid}) is out of file descriptors: not accepting connections until some are free`,
    );
    for (const ep of this.endpoints.values()) {
      if (ep.active) stopAccepting(ep.server);
      ep.active = null;
    }
  }

  /** While out of descriptors: accept again once the headroom is free (fd-limit.ts). */
  checkDescriptors(): void {
    if (!this.starved || !descriptorsFree()) return;
    this.starved = false;
    this.opts.log.info(`Worker (pid: ${process.pid}) has file descriptors again: accepting connections`);
    if (!this.paused) for (const ep of this.endpoints.values()) if (!ep.active) this.listen(ep);
  }

  private listen(ep: Endpoint): void {
    if (ep.retry || this.draining || this.starved) return;
    const handle = ep.spares.shift();
    if (!handle) return;
    ep.active = handle;
    const path = ep.info.address.kind === 'unix' ? ep.info.address.path : undefined;
    listenOnHandle(ep.server, handle, this.opts.settings.backlog, path);
    // Ask in batches: one message for several copies, when the stock runs low.
    if (ep.spares.length + ep.requested <= this.sparesLow) {
      const count = this.sparesWanted - ep.spares.length - ep.requested;
      ep.requested += count;
      this.opts.needSpare(ep.info.index, count);
    }
  }

  private createServer(info: ListenerInfo): http.Server {
    const { settings } = this.opts;
    const { maxHeaderSize, maxHeadersCount } = parserOptions(this.limits);
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
    const server = this.opts.tls
      ? https.createServer(
          { ...options, ...this.opts.tls, ...(headersMs > 0 ? { handshakeTimeout: headersMs } : {}) },
          this.handleRequest,
        )
      : http.createServer(options, this.handleRequest);
    server.maxHeadersCount = maxHeadersCount;
    server.keepAliveTimeout = keepAliveMs(server as { keepAliveTimeoutBuffer?: number }, settings.keepAlive);
    // Node's own 'connection' listener (the HTTP parser, or the TLS handshake) runs from ours, after the
    // accounting and, with --proxy-protocol, after the PROXY header.
    const inner = server.listeners('connection') as ConnectionListener[];
    server.removeAllListeners('connection');
    const proxy = this.proxyPeers && info.address.kind === 'tcp' ? this.proxyPeers : null;
    server.on('connection', (socket: Socket) => {
      this.onConnection(socket);
      if (proxy?.has(normalizeAddress(socket.remoteAddress ?? ''))) this.readProxy(server, socket, inner, headersMs);
      else for (const fn of inner) fn.call(server, socket);
    });
    // Malformed input gets a short response and a close; the worker and other connections carry on.
    server.on('clientError', onClientError);
    // CONNECT: not a proxy. (Without a listener Node would just drop the connection.)
    server.on('connect', (_req: IncomingMessage, socket: Socket) =>
      rejectConnection(socket, 405, 'CONNECT is not supported'),
    );
    if (this.opts.upgrade) server.on('upgrade', this.handleUpgrade);
    // Node answers an unknown Expect with 417 itself and keeps the connection, which would hold a sync worker.
    if (this.sync) server.on('checkExpectation', expectationFailed);
    server.on('error', (err: NodeJS.ErrnoException) => this.serverError(info.index, err));
    return server;
  }

  private readProxy(server: http.Server, socket: Socket, inner: ConnectionListener[], timeoutMs: number): void {
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

  private onConnection(socket: Socket): void {
    this.connections.add(socket);
    socket.on('close', this.connectionClosed);
    // Synchronous, inside libuv's accept loop: pausing here ends the loop, so no extra connection is taken.
    if (!this.paused && this.connections.size >= this.connectionLimit) this.pause();
  }

  /** The 'close' listener of every connection: one function, not a closure per connection. */
  private readonly connectionClosed = ((worker: HttpWorker) =>
    function (this: Socket) {
      worker.connections.delete(this);
      if (worker.draining) {
        if (worker.connections.size === 0) worker.drained?.();
      } else if (worker.paused && worker.connections.size < worker.connectionLimit) {
        worker.resume();
      }
    })(this);

  /**
   * The socket stays in `connections` after the upgrade (see app-extras.ts), so a graceful stop waits for it
   * and destroy() ends it. One arriving while draining (on a keep-alive connection) goes to another worker.
   */
  private readonly handleUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    if (this.draining) {
      rejectConnection(socket, 503, 'Server is shutting down; retry');
      return;
    }
    const rejection = checkRequest(req, this.limits);
    const client = rejection ? null : resolveClientInfo(req);
    if (!client) {
      rejectConnection(socket, (rejection ?? CONFLICTING_SCHEME).status, (rejection ?? CONFLICTING_SCHEME).why);
      return;
    }
    req.tsunicorn = client;
    this.opts.upgrade!(req, socket, head);
  };

  /** A request that breaks the limits or sends conflicting scheme headers: answered here, never seen by the app. */
  private reject(res: ServerResponse, r: Rejection): void {
    markRejected(res.req.socket);
    const body = `${r.why}\n`;
    res
      .writeHead(r.status, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        connection: 'close',
      })
      .end(body);
  }

  private readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket;
    // A request parsed after its connection was rejected is dropped; the socket is closing.
    if (!requestStarted(socket, req, res)) return;
    const rejection = checkRequest(req, this.limits);
    // undefined: no forwarding headers, and req.tsunicorn is worked out if and when it is read.
    const client = rejection ? null : forwardedClient(req);
    if (client === null) {
      res.on('close', rejectedClosed);
      if (rejection?.badFraming) {
        // Answered on the raw socket, which then reads nothing more as requests; the body is dropped.
        req.resume();
        rejectConnection(socket, rejection.status, rejection.why);
      } else {
        this.reject(res, rejection ?? CONFLICTING_SCHEME);
      }
      return;
    }
    if (this.health?.matches(req)) return this.answerHealth(req, res, this.health);
    if (client) req.tsunicorn = client;
    this.requests++;
    (res as Timed)[kStarted] = performance.now();
    this.inFlight.add(res);
    if (this.sync) this.syncRequest(req, res);
    else res.on('close', this.responseClosed);
    if (this.requests === this.opts.maxRequests) this.opts.onMaxRequests();
    let last = this.sync || this.draining || this.opts.settings.keepAlive === 0;
    if (!last && this.shedding > 0) {
      this.shedding--;
      last = true;
    }
    if (last) {
      closeAfterResponse(res);
      lastRequest(socket);
    }
    runApp(this, req, res);
  };

  /** --health-path: not a request of the app's, so not counted, logged or timed. */
  private answerHealth(req: IncomingMessage, res: ServerResponse, health: Health): void {
    res.on('close', rejectedClosed);
    if (this.sync || this.draining || this.opts.settings.keepAlive === 0) closeAfterResponse(res);
    health.answer(req, res);
  }

  /** The 'close' listener of every async response: one function, not a closure per request. */
  private readonly responseClosed = ((worker: HttpWorker) =>
    function (this: ServerResponse) {
      worker.inFlight.delete(this);
      worker.requestDone(this);
      requestEnded(this.req.socket);
    })(this);

  private requestDone(res: Timed): void {
    this.latency.record((performance.now() - (res[kStarted] ?? performance.now())) / 1000);
  }

  /** A sync worker's request: the --timeout deadline and the start/end reports. */
  private syncRequest(req: IncomingMessage, res: ServerResponse): void {
    this.opts.onRequestStart?.(req);
    const timeoutMs = this.opts.settings.timeout * 1000;
    const timer = timeoutMs > 0 ? setTimeout(() => this.requestTimedOut(req, res), timeoutMs) : null;
    res.once('close', () => {
      this.inFlight.delete(res);
      this.requestDone(res);
      requestEnded(req.socket);
      if (timer) clearTimeout(timer);
      this.opts.onRequestEnd?.();
    });
  }

  /** Sync --timeout as a request deadline: answer 504 if nothing was sent yet, else close. */
  private requestTimedOut(req: IncomingMessage, res: ServerResponse): void {
    const done = () => this.opts.onRequestTimeout?.(req);
    if (res.headersSent) {
      res.destroy();
      done();
      return;
    }
    // Report once the 504 is on the wire: the worker exits right after.
    res.once('close', done);
    res
      .writeHead(504, { 'content-type': 'text/plain', 'content-length': '16', connection: 'close' })
      .end('Gateway Timeout\n');
  }

  /** A request listener that throws or rejects: log it, answer 500 if nothing was sent yet. */
  appError(err: unknown, req: IncomingMessage, res: ServerResponse): void {
    this.opts.log.exception(`Error handling request ${req.method} ${req.url}`, err);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res
      .writeHead(500, { 'content-type': 'text/plain', 'content-length': '22', connection: 'close' })
      .end('Internal Server Error\n');
  }

  private pause(): void {
    this.paused = true;
    for (const ep of this.endpoints.values()) {
      if (!ep.active) continue;
      stopAccepting(ep.server);
      ep.active = null;
    }
  }

  private resume(): void {
    this.paused = false;
    for (const ep of this.endpoints.values()) if (!ep.active) this.listen(ep);
  }

  /**
   * Graceful stop. Resolves when every connection has closed; the caller
   * bounds the wait with --graceful-timeout.
   */
  close(): Promise<void> {
    if (!this.draining) {
      this.draining = true;
      this.closeListeners();
      // Responses not yet started close their connection when done.
      for (const res of this.inFlight) if (!res.headersSent) closeAfterResponse(res);
    }
    if (this.connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const prev = this.drained;
      this.drained = () => {
        prev?.();
        resolve();
      };
    });
  }

  /** Quick stop: drop every connection now. */
  destroy(): void {
    this.draining = true;
    this.closeListeners();
    for (const socket of this.connections) socket.destroy();
  }

  private closeListeners(): void {
    for (const ep of this.endpoints.values()) {
      if (ep.active) stopAccepting(ep.server);
      ep.active = null;
      if (ep.retry) clearTimeout(ep.retry);
      ep.retry = null;
      for (const h of ep.spares.splice(0)) h.close();
    }
  }
}

function rejectedClosed(this: ServerResponse): void {
  requestEnded(this.req.socket);
}

/** Calls the app (through callThroughEmit: see app-call.ts) and answers 500 if it throws or rejects. */
function runApp(w: HttpWorker, req: IncomingMessage, res: ServerResponse): void {
  try {
    const result = w.callApp(req, res) as unknown;
    if (result && typeof (result as Promise<unknown>).then === 'function') {
      (result as Promise<unknown>).then(undefined, (err) => w.appError(err, req, res));
    }
  } catch (err) {
    w.appError(err, req, res);
  }
}
