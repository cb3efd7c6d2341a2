/**
 * The worker's own part of each request, between Node's parser and the app: what is answered without the
 * app (a rejected connection, the request limits, conflicting scheme headers, --health-path), then the
 * counting, timing and keep-alive decisions, then the app call with its errors answered 500.
 * request-chain.ts puts it in place.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Settings } from '../../config/settings.js';
import type { Logger } from '../../log/logger.js';
import { BucketCounts, LATENCY_BUCKETS } from '../../metrics/request-stats.js';
import { closeAfterResponse } from '../../node-compat.js';
import { callUserCode } from '../../user-code.js';
import type { UpgradeHandler } from '../app/app-extras.js';
import {
  answerWithReason,
  closeAfterPending,
  lastRequest,
  markRejected,
  rejectConnection,
  requestEnded,
  requestStarted,
} from './client-errors.js';
import { forwardedClient, resolveClientInfo } from './forwarded.js';
import { Health } from './health.js';
import { type RequestLimits, type Rejection, checkRequest, requestLimits } from './limits.js';

export interface RequestGateOptions {
  settings: Settings;
  log: Logger;
  /** The app with its layers (request-chain.ts composeApp). */
  app: RequestListener;
  /** The app's handler for requests with an `Upgrade` header (app-extras.ts); without one Node serves them. */
  upgrade?: UpgradeHandler;
  /** Requests after which the worker retires (0 = never), jitter included. */
  maxRequests: number;
  onMaxRequests(): void;
  /** Sync workers: a request started / ended. */
  onRequestStart?(req: IncomingMessage): void;
  onRequestEnd?(): void;
  /** Sync workers: the request ran past --timeout; a 504 was sent if it could be. */
  onRequestTimeout?(req: IncomingMessage): void;
}

const CONFLICTING_SCHEME: Rejection = { status: 400, why: 'Conflicting scheme headers' };
/**
 * `ctl top`'s latencies come from a sample: every request up to LATENCY_ALL per beat, then one in LATENCY_STRIDE
 * (a power of two): two clock reads on every request are a measurable share of a keep-alive request's CPU
 * (docs/benchmarks.md).
 */
const LATENCY_ALL = 256;
const LATENCY_STRIDE = 16;

export class RequestGate {
  private readonly sync: boolean;
  private readonly limits: RequestLimits;
  /** --health-path, answered before the app (health.ts); null when unset. */
  private readonly health: Health | null;
  requests = 0;
  /** Durations of a sample of answered requests (see LATENCY_ALL), for `ctl top` on the beat; no IPC. */
  private readonly latency = new BucketCounts(LATENCY_BUCKETS);
  /** Requests started since the beat last read the latencies. */
  private sinceBeat = 0;
  /** Requests still to be answered with `Connection: close` to rebalance keep-alive connections. */
  private shedding = 0;
  /** The worker is closing: every response closes its connection, upgrades go elsewhere. */
  private closing = false;

  constructor(private readonly opts: RequestGateOptions) {
    this.sync = opts.settings.workerClass === 'sync';
    this.limits = requestLimits(opts.settings);
    this.health = opts.settings.healthPath ? new Health(opts.settings.healthPath) : null;
  }

  /** Every listener listens: --health-path answers 200. */
  ready(): void {
    this.health?.ready();
  }

  /** The arbiter is stopping the server (TERM): --health-path answers 503 from now on; requests are still served. */
  stopServing(): void {
    this.health?.stop();
  }

  /** The latency counts so far (cumulative), for the beat; the sample starts over with every request timed. */
  latencyCounts(): number[] {
    this.sinceBeat = 0;
    return [...this.latency.counts];
  }

  /** Close `count` keep-alive connections after their next response (arbiter/decisions/balance.ts). */
  shed(count: number): void {
    this.shedding = count;
  }

  /** Quick stop: take no more requests on open connections. */
  stopTaking(): void {
    this.closing = true;
  }

  /** Graceful stop: as stopTaking, and each connection closes after its last pending response, if not yet started. */
  drain(connections: Iterable<Socket>): void {
    this.closing = true;
    for (const socket of connections) closeAfterPending(socket);
  }

  /**
   * The socket stays in the worker's connections after the upgrade (see app-extras.ts), so a graceful stop
   * waits for it and destroy() ends it. One arriving while closing (on a keep-alive connection) goes elsewhere.
   */
  readonly handleUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    if (this.closing) {
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

  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket;
    const n = ++this.sinceBeat;
    const timed = n <= LATENCY_ALL || (n & (LATENCY_STRIDE - 1)) === 0;
    // A request parsed after its connection was rejected is dropped; the socket is closing.
    if (!requestStarted(socket, req, res, timed ? performance.now() : 0)) return;
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
    if (this.sync) this.syncRequest(req, res);
    else res.on('close', this.responseClosed);
    if (this.requests === this.opts.maxRequests) this.opts.onMaxRequests();
    let last = this.sync || this.closing || this.opts.settings.keepAlive === 0;
    if (!last && this.shedding > 0) {
      this.shedding--;
      last = true;
    }
    if (last) {
      closeAfterResponse(res);
      lastRequest(socket);
    }
    callUserCode(this.opts.app, this.appError, req, res);
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

  /** --health-path: not a request of the app's, so not counted, logged or timed. */
  private answerHealth(req: IncomingMessage, res: ServerResponse, health: Health): void {
    res.on('close', rejectedClosed);
    if (this.sync || this.closing || this.opts.settings.keepAlive === 0) closeAfterResponse(res);
    health.answer(req, res);
  }

  /** The 'close' listener of every async response: one function, not a closure per request. */
  private readonly responseClosed = ((gate: RequestGate) =>
    function (this: ServerResponse) {
      gate.requestDone(requestEnded(this.req.socket));
    })(this);

  /** A request that started at `started` (performance.now()) was answered; 0: not in the sample. */
  private requestDone(started: number): void {
    if (started > 0) this.latency.record((performance.now() - started) / 1000);
  }

  /** A sync worker's request: the --timeout deadline and the start/end reports. */
  private syncRequest(req: IncomingMessage, res: ServerResponse): void {
    this.opts.onRequestStart?.(req);
    const timeoutMs = this.opts.settings.timeout * 1000;
    const timer = timeoutMs > 0 ? setTimeout(() => this.requestTimedOut(req, res), timeoutMs) : null;
    res.once('close', () => {
      this.requestDone(requestEnded(req.socket));
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
    answerWithReason(res, 504, true);
  }

  /** The app threw or rejected: log it, answer 500 if nothing was sent yet. */
  private readonly appError = (err: unknown, req: IncomingMessage, res: ServerResponse): void => {
    this.opts.log.exception(`Error handling request ${req.method} ${req.url}`, err);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    answerWithReason(res, 500, true);
  };
}

function rejectedClosed(this: ServerResponse): void {
  requestEnded(this.req.socket);
}
