/**
 * Worker messages, exits and stack reads as the loop hands them on: to the pool first (pool/pool.ts), then
 * to what the arbiter keeps beside it: -w auto sizing, the heap rule with --diagnostics-dir reports, the
 * --health-path answer during a stop, and halting when workers cannot boot.
 */
import type { MessageOf, WorkerToArbiter } from '../protocol.js';
import type { ArbiterContext } from './context.js';
import { HEAP_STRIKES, describeHeap, heapStrikes } from './decisions/heap-rule.js';
import { type WorkerRecord, WorkerState, appPorts, currentRequest, sendToWorker } from './pool/worker-record.js';
import { halt } from './stop.js';

export function onWorkerMessage(a: ArbiterContext, workerId: number, msg: WorkerToArbiter): void {
  const w = a.pool.get(workerId);
  const wasRetiring = w?.state === WorkerState.Retiring;
  a.pool.onMessage(workerId, msg, a.poolContext());
  if (msg.t === 'beat' && a.auto) autoBeat(a, workerId);
  if (msg.t === 'beat' && w) heapBeat(a, w, msg, wasRetiring);
  if (msg.t === 'report' && w) a.diagnostics?.report(w.pid, msg.json);
  // A worker that became ready during --shutdown-delay answers --health-path with 503 too.
  if (msg.t === 'ready' && a.stopping) a.tellStopping(workerId);
}

export function onWorkerExit(a: ArbiterContext, workerId: number, code: number | null, signal: string | null): void {
  const stopping = a.stopping && !a.shutdownDelay.pending;
  const verdict = a.pool.onExit(workerId, code, signal, a.poolContext(), stopping);
  if (verdict) halt(a, verdict.code, verdict.reason);
}

/** A timed-out worker's stack was read (or could not be): recorded with --diagnostics-dir, then the abort. */
export function onWorkerStack(a: ArbiterContext, workerId: number, stack: string | null, reason: string | null): void {
  const w = a.pool.get(workerId);
  if (w) a.diagnostics?.timeout(w.pid, currentRequest(w.pid), stack, reason);
  a.pool.onStack(workerId, stack, reason, a.poolContext());
}

/** -w auto under a memory limit: a ready worker's first beat measures what one costs (pool/auto-workers.ts). */
function autoBeat(a: ArbiterContext, workerId: number): void {
  const w = a.pool.get(workerId);
  if (!w || w.state !== WorkerState.Ready || a.stopping) return;
  const target = a.auto?.onReadyBeat(w.rss) ?? null;
  if (target !== null) a.setTarget(target);
}

/**
 * --max-worker-heap recycles a worker before V8 aborts it; with --diagnostics-dir, a worker that this beat
 * made retire for memory (heap or --max-worker-memory) is asked for its diagnostic report first, and with
 * --diagnostics-heap-snapshot its heap is written before it is told to stop (pool.retire holds the stop).
 */
function heapBeat(a: ArbiterContext, w: WorkerRecord, beat: MessageOf<WorkerToArbiter, 'beat'>, wasRetiring: boolean) {
  const percent = a.settings.maxWorkerHeap;
  const heap = { used: beat.heapUsed, limit: beat.heapLimit };
  w.heapHigh = heapStrikes(w.heapHigh, heap, percent);
  if (w.heapHigh >= HEAP_STRIKES && w.state === WorkerState.Ready) {
    a.log.warning(describeHeap(w.pid, heap, percent));
    // Asked before the stop, so the worker answers before it starts to drain.
    if (a.diagnostics) sendToWorker(w, { t: 'report-request' });
    a.pool.retire(w, 'memory', a.settings);
    takeHeapSnapshot(a, w);
  } else if (!wasRetiring && w.state === WorkerState.Retiring && w.retireReason === 'memory' && a.diagnostics) {
    sendToWorker(w, { t: 'report-request' });
    takeHeapSnapshot(a, w);
  }
}

/** Off the loop, within --graceful-timeout (the retiring worker's kill deadline); its end comes back as an event. */
function takeHeapSnapshot(a: ArbiterContext, w: WorkerRecord): void {
  if (!w.stopHeld || !a.diagnostics) return;
  const done = () => a.queue.push({ kind: 'snapshot-taken', workerId: w.id });
  void a.diagnostics.heapSnapshot(w.pid, appPorts(w), a.settings.gracefulTimeout * 1000).then(done, done);
}

export function onSnapshotTaken(a: ArbiterContext, workerId: number): void {
  const w = a.pool.get(workerId);
  if (w) a.pool.releaseStop(w);
}
