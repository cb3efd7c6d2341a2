/**
 * The one IPC protocol between the arbiter and its workers. Every message is
 * a member of these unions; each side dispatches on `t` through one table.
 * Listener handles travel as the second argument of `send()`, with a
 * `listener` message describing them.
 */
import type { BindAddress } from './config/bind-address.js';
import type { Settings } from './config/settings.js';
import type { TlsMaterial } from './arbiter/sockets/tls.js';

/** A listener as the worker needs to know it: what it is and how to log it. */
export interface ListenerInfo {
  index: number;
  address: BindAddress;
  /** http://127.0.0.1:8000, unix:/run/app.sock — as logged by the arbiter. */
  display: string;
  /** The listening socket has TCP_NODELAY and accepted connections inherit it (node-compat setInheritedNoDelay). */
  noDelayInherited: boolean;
}

/**
 * A worker's request metrics since it started (--metrics-bind only), carried
 * on its heartbeat: cumulative, so a lost or late beat loses nothing.
 */
export interface RequestMetricsSnapshot {
  /** Responses by HTTP status. */
  statuses: Record<string, number>;
  /** Per-bucket (not cumulative) counts of request durations for DURATION_BUCKETS, then one for +Inf. */
  buckets: number[];
  /** Sum of request durations, seconds. */
  sum: number;
  count: number;
}

/** What `tsunicorn ctl top` shows of a worker, carried on every beat; cumulative since the worker started. */
export interface BeatLoad {
  /** V8 heap in use and its limit (heap_size_limit), bytes. */
  heapUsed: number;
  heapLimit: number;
  /** performance.eventLoopUtilization(): ms the loop spent idle and active. */
  loopIdleMs: number;
  loopActiveMs: number;
  /** Per-bucket counts of request durations for LATENCY_BUCKETS (src/metrics/request-stats.ts), then +Inf. */
  latency: number[];
}

export type ArbiterToWorker =
  /** First message: everything the worker needs before it loads the app. */
  | {
      t: 'boot';
      settings: Settings;
      generation: number;
      listenerCount: number;
      beatMs: number;
      workerHooks: boolean;
      tls: TlsMaterial | null;
    }
  /** One per listener and per copy, with the bound (not listening) handle attached. */
  | { t: 'listener'; info: ListenerInfo; spare: boolean }
  /** Stop: graceful finishes in-flight requests; quick exits at once. */
  | { t: 'stop'; graceful: boolean }
  /** USR1 reached the arbiter: reopen log files. (Workers never listen for SIGUSR1: it would disable the inspector.) */
  | { t: 'reopen-logs' }
  /** Keep-alive balance (balance.ts): answer the next `count` requests with `Connection: close`. */
  | { t: 'shed'; count: number }
  /** TERM reached the arbiter: --health-path answers 503 from now on (through --shutdown-delay and the drain). */
  | { t: 'server-stopping' }
  /** --diagnostics-dir: send a Node diagnostic report (process.report) back, before this worker is recycled. */
  | { t: 'report-request' };

export type WorkerToArbiter =
  /** The worker's message handler is installed; the arbiter may send `boot`. */
  | { t: 'hello' }
  /** Serving on every listener. */
  | { t: 'ready' }
  /** Boot failed; the worker exits with `exitCode` right after sending this. */
  | { t: 'boot-error'; exitCode: number; code: string; message: string; stack?: string }
  /** A paused listener resumed on its spare handle and needs a new spare. */
  /** The worker wants `count` more copies of listener `index` (it listens on a fresh copy after each pause). */
  | { t: 'need-spare'; index: number; count: number }
  /**
   * Liveness, sent on a timer from the worker's event loop: silence means the loop is blocked. `at`: when it was
   * sent (monotonicMs), so a beat the arbiter reads late still counts from then.
   */
  | ({
      t: 'beat';
      at: number;
      requests: number;
      inFlight: number;
      connections: number;
      rss: number;
      metrics?: RequestMetricsSnapshot;
    } & BeatLoad)
  /** Answer to `report-request`: the worker's Node diagnostic report, as JSON text. */
  | { t: 'report'; json: string }
  /** The worker reached --max-requests and is draining; the arbiter should replace it now. */
  | { t: 'retiring'; reason: 'max-requests' }
  /** Sync workers: the request passed --timeout; the worker answered 504 (if it could) and exits. */
  | { t: 'request-timeout'; method: string; path: string };

/**
 * The host's monotonic clock in ms (CLOCK_MONOTONIC on Linux): one clock for every process on the host, so a time
 * stamped by a worker compares with the arbiter's. performance.now() counts from each process's own start.
 */
export const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Set in a captured worker (--capture-output): the fd of the arbiter's stdout, for the access log's `-`. */
export const STDOUT_FD_ENV = 'TSUNICORN_STDOUT_FD';

export type MessageOf<U extends { t: string }, T extends U['t']> = Extract<U, { t: T }>;

/** A dispatch table: one handler per message type, checked for completeness by the compiler. */
export type Dispatch<U extends { t: string }, Ctx extends unknown[] = []> = {
  [T in U['t']]: (msg: MessageOf<U, T>, ...ctx: Ctx) => void;
};

export function isMessage<U extends { t: string }>(value: unknown, types: readonly U['t'][]): value is U {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { t?: unknown }).t === 'string' &&
    types.includes((value as { t: U['t'] }).t)
  );
}

export const ARBITER_TO_WORKER_TYPES = [
  'boot',
  'listener',
  'stop',
  'reopen-logs',
  'shed',
  'server-stopping',
  'report-request',
] as const satisfies readonly ArbiterToWorker['t'][];
export const WORKER_TO_ARBITER_TYPES = [
  'hello',
  'ready',
  'boot-error',
  'need-spare',
  'beat',
  'retiring',
  'request-timeout',
  'report',
] as const satisfies readonly WorkerToArbiter['t'][];
