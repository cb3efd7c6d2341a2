/**
 * One worker as the arbiter sees it: its record (state, deadlines, last heartbeat) and how to talk to its
 * process (boot, message, signal). Forking: fork.ts; the decisions over all workers: pool.ts.
 */
import type { Worker } from 'node:cluster';
import { readFileSync } from 'node:fs';
import type { Settings } from '../../config/settings.js';
import { type ArbiterToWorker, type BeatLoad, monotonicMs } from '../../protocol.js';
import type { TlsMaterial } from '../sockets/tls.js';
import type { Listener } from '../sockets/listeners.js';

export enum WorkerState {
  /** Forked; loading the app and listening. Not yet serving. */
  Booting = 'booting',
  /** Listening on every listener. */
  Ready = 'ready',
  /** Asked to stop gracefully because it is surplus (TTOU, reload, recycling). */
  Retiring = 'retiring',
  /** Asked to stop because the arbiter is stopping. */
  Stopping = 'stopping',
}

export interface WorkerRecord {
  id: number;
  pid: number;
  handle: Worker;
  generation: number;
  state: WorkerState;
  /** Monotonic ms timestamps. */
  forkedAt: number;
  readyAt: number | null;
  /** When a stopping or retiring worker gets SIGKILL. */
  killAt: number | null;
  /** Exit code the worker announced with a boot-error message. */
  bootError?: number;
  /** The listeners this worker was booted with (a HUP may change the arbiter's). */
  listeners: readonly Listener[];
  /** Last heartbeat (monotonic ms); silence past --timeout means a blocked event loop. */
  lastBeat: number;
  requests: number;
  inFlight: number;
  /** Open connections at the last heartbeat (keep-alive balance, balance.ts). */
  connections: number;
  rss: number;
  /** Heap, event loop and latencies as of the last heartbeat, for `ctl top` (cumulative). */
  load: BeatLoad;
  /** Consecutive heartbeats above --max-worker-memory. */
  rssHigh: number;
  /** Consecutive heartbeats above --max-worker-heap (decisions/heap-rule.ts). */
  heapHigh: number;
  /** Set once the worker hit --timeout; its exit is then expected. */
  timedOut: boolean;
  /** Why it is being retired, for logs and metrics. */
  retireReason: RetireReason | null;
  /** Retired for memory, its stop waits for its heap snapshot (--diagnostics-heap-snapshot); killAt still holds. */
  stopHeld: boolean;

  /**
   * The worker said hello: its message handler is installed. Messages sent
   * before that are lost, so a stop decided earlier is sent on hello.
   */
  hello: boolean;
}

/** Counted against the target: booting or serving, not asked to stop. */
export function isLive(w: WorkerRecord): boolean {
  return w.state === WorkerState.Booting || w.state === WorkerState.Ready;
}

/** The TCP ports of the app's listeners this worker holds: the stack probe must not take one for the inspector. */
export function appPorts(w: WorkerRecord): number[] {
  return w.listeners.flatMap((l) => (l.info.address.kind === 'tcp' ? [l.info.address.port] : []));
}

export type RetireReason = 'reload' | 'scale' | 'max-requests' | 'memory' | 'winch' | 'ctl-kill';

/** The arbiter's clock: the one workers stamp their beats with. */
export const now = monotonicMs;

/** A just-forked worker's record: booting, no beat yet (its fork counts as the first). */
export function workerRecord(handle: Worker, generation: number, listeners: readonly Listener[]): WorkerRecord {
  const t = now();
  return {
    id: handle.id,
    pid: handle.process.pid ?? -1,
    handle,
    generation,
    state: WorkerState.Booting,
    forkedAt: t,
    readyAt: null,
    killAt: null,
    listeners,
    lastBeat: t,
    requests: 0,
    inFlight: 0,
    connections: 0,
    rss: 0,
    load: { heapUsed: 0, heapLimit: 0, loopIdleMs: 0, loopActiveMs: 0, latency: [] },
    rssHigh: 0,
    heapHigh: 0,
    timedOut: false,
    retireReason: null,
    stopHeld: false,
    hello: false,
  };
}

/** Sends a message; a worker whose channel has closed is about to be reported dead, so errors are dropped. */
export function sendToWorker(w: WorkerRecord, msg: ArbiterToWorker, handle?: unknown): void {
  if (!w.handle.isConnected()) return;
  try {
    w.handle.send(msg, handle as never, () => {});
  } catch {
    // Channel closed between the check and the send.
  }
}

/** Heartbeat period: a quarter of --timeout, between 100 ms and 1 s. */
export function beatInterval(settings: Settings): number {
  return settings.timeout > 0 ? Math.min(1000, Math.max(100, (settings.timeout * 1000) / 4)) : 1000;
}

/** Sends settings and one listening handle per listener, twice: the second copy is the worker's spare. */
export function bootWorker(
  w: WorkerRecord,
  settings: Settings,
  workerHooks: boolean,
  tls: TlsMaterial | null = null,
): void {
  const listeners = w.listeners;
  sendToWorker(w, {
    t: 'boot',
    settings,
    generation: w.generation,
    listenerCount: listeners.length,
    beatMs: beatInterval(settings),
    workerHooks,
    tls,
  });
  for (const spare of [false, true]) {
    for (const l of listeners) sendToWorker(w, { t: 'listener', info: l.info, spare }, l.handle);
  }
}

/**
 * The request a sync worker is serving, from its process title
 * (`tsunicorn: worker [app] GET /path`, set per request: no IPC). Read when
 * the worker timed out, so even a worker whose event loop is blocked tells
 * what it was doing. Linux (/proc); null elsewhere or when idle.
 */
export function currentRequest(pid: number): string | null {
  try {
    const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
    const m = /^tsunicorn: worker \[.*?\] (\S+ \S+)/.exec(title);
    return m ? m[1]! : null;
  } catch {
    return null;
  }
}

export function signalWorker(w: WorkerRecord, signal: NodeJS.Signals): void {
  try {
    process.kill(w.pid, signal);
  } catch {
    // Already gone; its exit event is on its way.
  }
}
