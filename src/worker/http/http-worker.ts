/**
 * A worker's HTTP servers: one per listener, all sharing one request chain (request-chain.ts). Both worker
 * classes are this one class: `async` holds many keep-alive connections, up to --worker-connections; `sync`
 * one connection, so one request, at a time, with `Connection: close`.
 *
 * Graceful stop never closes a connection a client may be writing to: it stops accepting, answers each
 * connection's next request with `Connection: close`, and leaves idle keep-alive connections to the keep-alive
 * timer, which fires only after the advertised timeout (node-compat keepAliveMs), when clients have dropped them.
 */
import type { IncomingMessage, RequestListener } from 'node:http';
import type { Socket } from 'node:net';
import type { TlsOptions } from 'node:tls';
import type { Settings } from '../../config/settings.js';
import { Lifecycle } from '../../lifecycle.js';
import type { Logger } from '../../log/logger.js';
import type { ServerHandle } from '../../node-compat.js';
import type { ListenerInfo } from '../../protocol.js';
import type { UpgradeHandler } from '../app/app-extras.js';
import { pendingRequests, trackConnection } from './client-errors.js';
import { connectionCap, fdUsage } from './fd-limit.js';
import { trustList } from './forwarded.js';
import { Listeners } from './listeners.js';
import { LiveSet } from './live-set.js';
import { createChainServer } from './request-chain.js';
import { RequestGate } from './request-gate.js';

export interface HttpWorkerOptions {
  settings: Settings;
  log: Logger;
  /** The app with its layers (request-chain.ts composeApp). */
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
  /** The app's handler for requests with an `Upgrade` header (app-extras.ts). */
  upgrade?: UpgradeHandler;
  /** A listener could not listen again after start (logged): the worker cannot serve it, so it stops to be replaced. */
  onListenError(): void;
}

export class HttpWorker {
  // Not a Set: see live-set.ts.
  private readonly connections = new LiveSet<Socket>();
  private readonly connectionLimit: number;
  private readonly listeners: Listeners;
  private readonly gate: RequestGate;
  /** Waiting for the last connection to close, during a close() or destroy(). */
  private readonly whenEmpty: Array<() => void> = [];
  private readonly lifecycle = new Lifecycle({
    close: (done) => {
      this.listeners.close();
      this.gate.drain(this.connections);
      this.onEmpty(done);
    },
    destroy: (done) => {
      this.listeners.close();
      this.gate.stopTaking();
      for (const socket of this.connections) socket.destroy();
      this.onEmpty(done);
    },
  });

  constructor(opts: HttpWorkerOptions) {
    const { settings } = opts;
    this.connectionLimit = settings.workerClass === 'sync' ? 1 : asyncConnectionLimit(settings, opts.log);
    this.gate = new RequestGate(opts);
    const proxyPeers = settings.proxyProtocol ? trustList(settings.proxyAllowIps) : null;
    const chain = {
      settings,
      tls: opts.tls ?? null,
      gate: this.gate,
      upgrade: opts.upgrade !== undefined,
      proxyPeers,
      onConnection: (socket: Socket) => this.onConnection(socket),
    };
    this.listeners = new Listeners({
      settings,
      log: opts.log,
      createServer: (info) => createChainServer(info, chain),
      needSpare: opts.needSpare,
      onListenError: opts.onListenError,
    });
  }

  get requests(): number {
    return this.gate.requests;
  }

  /** Latency counts of a sample of answered requests, for `ctl top` on the beat (request-gate.ts). */
  latencyCounts(): number[] {
    return this.gate.latencyCounts();
  }

  get activeRequests(): number {
    let n = 0;
    for (const socket of this.connections) n += pendingRequests(socket);
    return n;
  }

  get openConnections(): number {
    return this.connections.size;
  }

  /** The arbiter is stopping the server (TERM): --health-path answers 503 from now on; requests are still served. */
  stopServing(): void {
    this.gate.stopServing();
  }

  /** The arbiter found this worker holding more than its share of connections (async workers only). */
  shed(count: number): void {
    this.gate.shed(count);
  }

  /** A copy of a listener's bound handle from the arbiter. */
  addHandle(info: ListenerInfo, handle: ServerHandle): void {
    this.listeners.add(info, handle);
  }

  /** Listens on every listener; resolves when all are listening. */
  async start(): Promise<void> {
    await this.listeners.start();
    this.gate.ready();
  }

  /** Out of file descriptors (the beat could not read memory): stop accepting until some are free. */
  descriptorsExhausted(): void {
    this.listeners.descriptorsExhausted();
  }

  /** While out of descriptors: accept again once the headroom is free. */
  checkDescriptors(): void {
    this.listeners.checkDescriptors();
  }

  /** Graceful stop: resolves when every connection has closed; the caller bounds the wait (--graceful-timeout). */
  close(): Promise<void> {
    return this.lifecycle.close();
  }

  /** Quick stop: drop every connection now. */
  destroy(): Promise<void> {
    return this.lifecycle.destroy();
  }

  private onEmpty(done: () => void): void {
    if (this.connections.size === 0) done();
    else this.whenEmpty.push(done);
  }

  private onConnection(socket: Socket): void {
    this.connections.add(socket);
    trackConnection(socket);
    socket.on('close', this.connectionClosed);
    // Synchronous, inside libuv's accept callback: pausing here takes no further connection (listeners.ts).
    if (!this.listeners.paused && this.connections.size >= this.connectionLimit) this.listeners.pause();
  }

  /** The 'close' listener of every connection: one function, not a closure per connection. */
  private readonly connectionClosed = ((worker: HttpWorker) =>
    function (this: Socket) {
      worker.connections.delete(this);
      if (worker.lifecycle.closed) {
        if (worker.connections.size === 0) for (const done of worker.whenEmpty.splice(0)) done();
      } else if (worker.listeners.paused && worker.connections.size < worker.connectionLimit) {
        worker.listeners.resume();
      }
    })(this);
}

/** --worker-connections, within what the open-files limit leaves (fd-limit.ts). */
function asyncConnectionLimit(settings: Settings, log: Logger): number {
  const wanted = settings.workerConnections;
  const fds = fdUsage();
  const cap = connectionCap(wanted, fds.limit, fds.inUse);
  if (fds.limit !== null && fds.limit < wanted) {
    log.warning(
      `Open files limit (ulimit -n) ${fds.limit} is below --worker-connections ${wanted}: ` +
        `this worker holds at most ${cap} connections at once`,
    );
  }
  return cap;
}
