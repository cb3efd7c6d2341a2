/**
 * When the arbiter kills a worker. Three clocks run per worker:
 *
 * - its stop deadline (`killAt`): a worker asked to stop or retire gets
 *   SIGKILL once --graceful-timeout has passed (a quick stop: QUICK_STOP_MS);
 * - its heartbeat: silence past --timeout means a blocked event loop (the
 *   rule, which forgives the arbiter's own stalls, is liveness.ts). Its JS
 *   stack is read over the inspector (stack-probe.ts) and logged, the
 *   workerAbort hook is called, then SIGABRT, then SIGKILL;
 * - a sync worker's request past --timeout, which the worker reports itself
 *   (it answered 504 and exits).
 *
 * The loop calls murderStale() on every turn and sleeps no longer than
 * nextWakeMs(), so no deadline waits for an unrelated event.
 */
import type { Settings } from '../config/settings.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { MessageOf, WorkerToArbiter } from '../protocol.js';
import type { EventQueue } from './event-queue.js';
import { type Stall, hungAt, isHung } from './decisions/liveness.js';
import { loadWebSocket } from './diagnostics/inspector-client.js';
import { probeStack } from './diagnostics/stack-probe.js';
import { type WorkerRecord, appPorts, currentRequest, now, signalWorker } from './pool/worker-record.js';

/** A quick stop (INT, QUIT) gives workers this long to exit before SIGKILL. */
const QUICK_STOP_MS = 1000;
/** How long reading a timed-out worker's stack may take before it is aborted anyway; generous for a loaded box. */
const STACK_CAPTURE_MS = 2500;
/** After SIGABRT, how long before SIGKILL. */
const ABORT_GRACE_MS = 1000;

/** When a worker asked to stop gets SIGKILL: after --graceful-timeout, or QUICK_STOP_MS for INT and QUIT. */
export function stopDeadline(settings: Settings, graceful: boolean): number {
  return now() + (graceful ? settings.gracefulTimeout * 1000 : QUICK_STOP_MS);
}

/** Kills workers past their stop deadline, and starts the abort of workers silent past --timeout (liveness.ts). */
export function murderStale(
  workers: Iterable<WorkerRecord>,
  settings: Settings,
  log: Logger,
  queue: EventQueue,
  stalls: readonly Stall[],
  heapSnapshot: HeapSnapshotTaker | null = null,
): void {
  const t = now();
  const timeoutMs = settings.timeout * 1000;
  for (const w of workers) {
    if (w.killAt !== null && t >= w.killAt) {
      if (!w.timedOut) log.warning(`Worker (pid:${w.pid}) did not exit in time; sending SIGKILL`);
      w.killAt = null;
      signalWorker(w, 'SIGKILL');
    } else if (!w.timedOut && isHung({ now: t, lastBeat: w.lastBeat, stalls, timeoutMs })) {
      onTimeout(w, log, queue, settings, heapSnapshot);
    } else if (settings.stackCapture && isHung({ now: t, lastBeat: w.lastBeat, stalls, timeoutMs: timeoutMs / 2 })) {
      // Silent half the timeout: load the WebSocket client now (slow to import on Node 20) so the probe need not.
      void loadWebSocket().catch(() => {});
    }
  }
}

/** Writes a heap snapshot of a worker within a time limit (--diagnostics-heap-snapshot); never rejects. */
export type HeapSnapshotTaker = (w: WorkerRecord, timeoutMs: number) => Promise<void>;

/**
 * A silent worker: its heap snapshot (if asked for) and then its stack are read outside the loop, and come back
 * as a 'stack' event (abortStuck).
 */
function onTimeout(
  w: WorkerRecord,
  log: Logger,
  queue: EventQueue,
  settings: Settings,
  heapSnapshot: HeapSnapshotTaker | null,
): void {
  w.timedOut = true;
  const request = currentRequest(w.pid);
  const serving = request ? ` serving ${request}` : '';
  log.critical(`WORKER TIMEOUT (pid:${w.pid})${serving}`);
  const snapshotMs = heapSnapshot ? settings.gracefulTimeout * 1000 : 0;
  // Backstop: whatever the snapshot and the stack probe do, the worker is gone by then.
  w.killAt = now() + snapshotMs + STACK_CAPTURE_MS + ABORT_GRACE_MS + 500;
  if (!settings.stackCapture) {
    queue.push({ kind: 'stack', workerId: w.id, stack: null, reason: 'stack capture is off (--no-stack-capture)' });
    return;
  }
  const snapshot = heapSnapshot ? heapSnapshot(w, snapshotMs) : Promise.resolve();
  void snapshot
    .then(() => probeStack(w.pid, { timeoutMs: STACK_CAPTURE_MS, excludePorts: appPorts(w) }))
    .then(
      (r) =>
        queue.push({ kind: 'stack', workerId: w.id, stack: r.ok ? r.stack : null, reason: r.ok ? null : r.reason }),
      (err) => queue.push({ kind: 'stack', workerId: w.id, stack: null, reason: describeError(err) }),
    );
}

/** A timed-out worker's stack probe is done: logs where it was stuck, calls the `workerAbort` hook, then SIGABRT. */
export function abortStuck(
  w: WorkerRecord,
  stack: string | null,
  reason: string | null,
  log: Logger,
  workerAbort: () => void,
): void {
  if (stack) log.error(`Worker (pid:${w.pid}) was stuck in:\n${stack}`);
  else log.error(`Worker (pid:${w.pid}): its stack could not be read (${reason})`);
  workerAbort();
  signalWorker(w, 'SIGABRT');
  w.killAt = Math.min(w.killAt ?? Number.POSITIVE_INFINITY, now() + ABORT_GRACE_MS);
}

/** A sync worker answered 504 past --timeout and is exiting on its own; it gets the abort grace to do so. */
export function requestTimedOut(
  w: WorkerRecord,
  msg: MessageOf<WorkerToArbiter, 'request-timeout'>,
  settings: Settings,
  log: Logger,
): void {
  if (w.timedOut) return;
  w.timedOut = true;
  const serving = `serving ${msg.method} ${msg.path}`;
  log.critical(`WORKER TIMEOUT (pid:${w.pid}) ${serving}: over --timeout ${settings.timeout} s; answered 504`);
  w.killAt = now() + ABORT_GRACE_MS;
}

/** How long the loop may sleep: until the next kill deadline, heartbeat deadline or spawn, and at most 1 s. */
export function nextWakeMs(
  workers: Iterable<WorkerRecord>,
  settings: Settings,
  nextSpawnAt: number,
  stalls: readonly Stall[],
): number {
  const t = now();
  let next = t + 1000;
  const timeoutMs = settings.timeout * 1000;
  for (const w of workers) {
    if (w.killAt !== null) next = Math.min(next, w.killAt);
    if (!w.timedOut) next = Math.min(next, hungAt({ now: t, lastBeat: w.lastBeat, stalls, timeoutMs }));
  }
  if (nextSpawnAt > t) next = Math.min(next, nextSpawnAt);
  return Math.max(0, next - t);
}
