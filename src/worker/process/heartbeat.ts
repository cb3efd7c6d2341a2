/**
 * The worker's heartbeat: a timer on the event loop sends a beat to the arbiter, so a blocked loop stops the
 * beats and the arbiter's --timeout fires. Each beat carries the worker's counters and cheap load readings.
 */
import v8 from 'node:v8';
import type { WorkerMetrics } from '../../metrics/worker-metrics.js';
import { type BeatLoad, type WorkerToArbiter, monotonicMs } from '../../protocol.js';
import type { HttpWorker } from '../http/http-worker.js';
import { sendToArbiter } from './ipc.js';

/** What a beat reads from; either may be absent while the worker boots. */
export interface BeatSource {
  readonly server: HttpWorker | null;
  readonly metrics: WorkerMetrics | null;
}

export class Heartbeat {
  private timer: NodeJS.Timeout | null = null;
  /** The last resident-memory reading: reported again when a new one cannot be taken. */
  private lastRss = 0;

  constructor(private readonly source: BeatSource) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => void sendToArbiter(this.beat()), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  beat(): WorkerToArbiter {
    const { server, metrics } = this.source;
    const snapshot = metrics?.snapshot();
    return {
      t: 'beat',
      at: monotonicMs(),
      requests: server?.requests ?? 0,
      inFlight: server?.activeRequests ?? 0,
      connections: server?.openConnections ?? 0,
      rss: this.residentMemory(),
      ...loadReading(server),
      ...(snapshot ? { metrics: snapshot } : {}),
    };
  }

  /**
   * Resident memory, or the last reading: Node opens /proc/self/stat for it, which fails with EMFILE (#16).
   * Stale rather than thrown (the beat keeps this worker alive); that failure also tells the server it is out
   * of descriptors.
   */
  private residentMemory(): number {
    const server = this.source.server;
    try {
      this.lastRss = process.memoryUsage.rss();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EMFILE' || code === 'ENFILE') server?.descriptorsExhausted();
      return this.lastRss;
    }
    server?.checkDescriptors();
    return this.lastRss;
  }
}

/** Heap (ctl top, --max-worker-heap), event-loop utilisation and latencies: cheap readings, no /proc. */
function loadReading(server: HttpWorker | null): BeatLoad {
  const elu = performance.eventLoopUtilization();
  const heap = v8.getHeapStatistics();
  return {
    heapUsed: heap.used_heap_size,
    heapLimit: heap.heap_size_limit,
    loopIdleMs: elu.idle,
    loopActiveMs: elu.active,
    latency: server ? server.latencyCounts() : [],
  };
}
