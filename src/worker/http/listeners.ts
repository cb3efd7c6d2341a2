/**
 * A worker's copies of the arbiter's listening sockets, and when it accepts on them.
 *
 * At its connection limit a worker stops accepting rather than letting Node close connections over
 * `server.maxConnections`, so the kernel gives further connections to other workers or keeps them in the
 * backlog. It takes its copy of the listening socket out of the poll set (node-compat.ts pauseAccepting) and
 * puts it back below the limit; a sync worker does this for every request. Where that is not available it
 * closes its copy instead and listens again on a spare one, which the arbiter keeps supplied over IPC (then a
 * sync worker keeps a few spares, never to wait for one). Either way, done inside the synchronous 'connection'
 * event, no second connection is accepted.
 */
import type http from 'node:http';
import type { Settings } from '../../config/settings.js';
import type { Logger } from '../../log/logger.js';
import {
  type ServerHandle,
  acceptPauseSupported,
  listenOnHandle,
  pauseAccepting,
  resumeAccepting,
  stopAccepting,
} from '../../node-compat.js';
import type { ListenerInfo } from '../../protocol.js';
import { descriptorsFree } from './fd-limit.js';

interface Endpoint {
  info: ListenerInfo;
  server: http.Server;
  /** The handle being listened on, or null while closed. */
  active: ServerHandle | null;
  /** The active handle is out of the poll set (pauseAccepting): it accepts again without a spare. */
  held: boolean;
  /** Unused copies of the bound handle, to listen on at start and after a pause. */
  spares: ServerHandle[];
  /** Spares asked for and not yet received. */
  requested: number;
  /** Until start() has settled for it: a listen error then fails the boot. */
  starting: boolean;
  /** After an accept error: when accepting starts again. */
  retry: NodeJS.Timeout | null;
}

export interface ListenersOptions {
  settings: Settings;
  log: Logger;
  /** Makes the server for a listener, with the request chain attached (request-chain.ts). */
  createServer(info: ListenerInfo): http.Server;
  /** Asks the arbiter for `count` more copies of listener `index`. */
  needSpare(index: number, count: number): void;
  /** A listener could not listen again after start (logged): the worker stops to be replaced. */
  onListenError(): void;
}

/** Spares per listener of a sync worker that pauses by closing: never to wait for the arbiter; refilled below 2. */
const SYNC_SPARES = 6;
const SYNC_SPARES_LOW = 2;
/** How long a worker stops accepting on a listener after an accept error (EMFILE, ENFILE, …): no spinning. */
const ACCEPT_BACKOFF_MS = 500;
/** At most one accept-error line per listener per this long. */
const ACCEPT_ERROR_LOG_MS = 10_000;

export class Listeners {
  private readonly endpoints = new Map<number, Endpoint>();
  private readonly sparesWanted: number;
  private readonly sparesLow: number;
  /** Pauses take the listener out of the poll set rather than closing it. */
  private readonly hold = acceptPauseSupported();
  private started = false;
  /** At the connection limit: not accepting until a connection closes. */
  paused = false;
  /** close() was called: handles that arrive are closed, nothing listens again. */
  private closed = false;
  private acceptErrorLoggedAt = Number.NEGATIVE_INFINITY;
  /** Out of file descriptors (the beat could not read memory): not accepting until some are free. */
  private starved = false;

  constructor(private readonly opts: ListenersOptions) {
    const sync = opts.settings.workerClass === 'sync' && !this.hold;
    this.sparesWanted = sync ? SYNC_SPARES : 1;
    this.sparesLow = sync ? SYNC_SPARES_LOW : 0;
  }

  /** A copy of a listener's bound handle from the arbiter. */
  add(info: ListenerInfo, handle: ServerHandle): void {
    let ep = this.endpoints.get(info.index);
    if (!ep) {
      const server = this.opts.createServer(info);
      server.on('error', (err: NodeJS.ErrnoException) => this.serverError(info.index, err));
      ep = { info, server, active: null, held: false, spares: [], requested: 0, starting: false, retry: null };
      this.endpoints.set(info.index, ep);
    }
    if (ep.requested > 0) ep.requested--;
    if (this.closed) {
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
    this.closeActive(ep);
    if (err.syscall !== 'accept') {
      const why = err.code ?? err.message;
      this.opts.log.error(`Worker (pid: ${pid}) cannot listen on ${ep.info.display}: ${why}; stopping to be replaced`);
      this.opts.onListenError();
      return;
    }
    if (ep.retry || this.closed) return;
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
      if (!this.paused) this.accept(ep);
    }, ACCEPT_BACKOFF_MS);
  }

  /**
   * This process is out of file descriptors. libuv then accepts each new connection and closes it at once
   * (its EMFILE fallback), failing requests another worker could serve: stop accepting instead.
   */
  descriptorsExhausted(): void {
    if (this.starved || this.closed) return;
    this.starved = true;
    const pid = process.pid;
    this.opts.log.warning(
      `Worker (pid: ${pid}) is out of file descriptors: not accepting connections until some are free`,
    );
    this.stopAll();
  }

  /** While out of descriptors: accept again once the headroom is free (fd-limit.ts). */
  checkDescriptors(): void {
    if (!this.starved || !descriptorsFree()) return;
    this.starved = false;
    this.opts.log.info(`Worker (pid: ${process.pid}) has file descriptors again: accepting connections`);
    if (!this.paused) this.listenAll();
  }

  /** At the connection limit; called inside libuv's accept loop, which this ends. */
  pause(): void {
    this.paused = true;
    this.stopAll();
  }

  resume(): void {
    this.paused = false;
    this.listenAll();
  }

  /** Stops accepting for good and closes every spare handle. */
  close(): void {
    this.closed = true;
    for (const ep of this.endpoints.values()) {
      this.closeActive(ep);
      if (ep.retry) clearTimeout(ep.retry);
      ep.retry = null;
      for (const h of ep.spares.splice(0)) h.close();
    }
  }

  private stopAll(): void {
    for (const ep of this.endpoints.values()) {
      if (!ep.active || ep.held) continue;
      if (this.hold && pauseAccepting(ep.active)) ep.held = true;
      else this.closeActive(ep);
    }
  }

  private listenAll(): void {
    for (const ep of this.endpoints.values()) this.accept(ep);
  }

  /** Accepts on `ep` again: the held handle back in the poll set, or a spare listened on. */
  private accept(ep: Endpoint): void {
    if (ep.retry || this.closed || this.starved) return;
    if (ep.active && ep.held) {
      if (resumeAccepting(ep.active)) {
        ep.held = false;
        return;
      }
      this.closeActive(ep);
    }
    if (!ep.active) this.listen(ep);
  }

  private closeActive(ep: Endpoint): void {
    if (ep.active) stopAccepting(ep.server);
    ep.active = null;
    ep.held = false;
  }

  private listen(ep: Endpoint): void {
    if (ep.retry || this.closed || this.starved) return;
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
}
