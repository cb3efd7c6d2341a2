/**
 * The arbiter's Prometheus metrics (prom-client), aggregated across workers
 * from the cumulative snapshots on their heartbeats (src/protocol.ts), so
 * there is no IPC per request and no second, untyped IPC channel: prom-client's
 * AggregatorRegistry would ask each worker over cluster messages of its own
 * on every scrape, and a worker whose event loop is busy would delay it.
 *
 * Counters never go backwards: each beat adds the difference from that
 * worker's previous snapshot, so what a worker counted stays counted after it
 * exits (its totals are folded in as they arrive). Requests a worker served
 * after its last beat are sent on a final beat when it exits gracefully; only
 * a worker killed outright (SIGKILL, a crash) loses the ≤ 1 s since its last
 * beat.
 *
 * Everything here is updated from the arbiter loop; a scrape only reads.
 */
import { Counter, Gauge, type Histogram, Registry } from 'prom-client';
import type { RequestMetricsSnapshot } from '../protocol.js';
import { DURATION_BUCKETS } from './request-stats.js';

/** A --reload-canary verdict, for `tsunicorn_reload_canary_total{result}`: passed, or why it was rolled back. */
export type CanaryResult = 'passed' | 'crash' | '5xx' | 'latency';
const CANARY_RESULTS: readonly CanaryResult[] = ['passed', 'crash', '5xx', 'latency'];

/** Why a worker went away, for `tsunicorn_worker_restarts_total{reason}`. */
export type RestartReason = 'crash' | 'timeout' | 'max-requests' | 'memory' | 'reload' | 'scale' | 'winch' | 'ctl-kill';
const REASONS: readonly RestartReason[] = [
  'crash',
  'timeout',
  'max-requests',
  'memory',
  'reload',
  'scale',
  'winch',
  'ctl-kill',
];

/**
 * A histogram exposed from bucket totals. prom-client's Histogram only takes
 * single observations, and the arbiter has per-bucket counts from workers;
 * its registry reads any metric through `get()` (name, help, type, values),
 * which is what this implements. test/unit/prometheus.test.ts checks the text.
 */
class BucketHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly buckets = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  sum = 0;
  count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  add(prev: RequestMetricsSnapshot | undefined, next: RequestMetricsSnapshot): void {
    for (let i = 0; i < this.buckets.length; i++) {
      const d = (next.buckets[i] ?? 0) - (prev?.buckets[i] ?? 0);
      if (d > 0) this.buckets[i]! += d;
    }
    const dc = next.count - (prev?.count ?? 0);
    if (dc > 0) {
      this.count += dc;
      this.sum += Math.max(0, next.sum - (prev?.sum ?? 0));
    }
  }

  async get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    let cumulative = 0;
    DURATION_BUCKETS.forEach((le, i) => {
      cumulative += this.buckets[i]!;
      values.push({ labels: { le }, value: cumulative, metricName: `${this.name}_bucket` });
    });
    values.push({ labels: { le: '+Inf' }, value: this.count, metricName: `${this.name}_bucket` });
    values.push({ labels: {}, value: this.sum, metricName: `${this.name}_sum` });
    values.push({ labels: {}, value: this.count, metricName: `${this.name}_count` });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

export class PrometheusMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'status'>;
  private readonly duration: BucketHistogram;
  private readonly inFlight: Gauge;
  private readonly workers: Gauge;
  private readonly restarts: Counter<'reason'>;
  private readonly canary: Counter<'result'>;
  private readonly rss: Gauge<'pid'>;
  /** Per live worker (by cluster id): its last snapshot and in-flight count. */
  private readonly last = new Map<number, { pid: number; snapshot?: RequestMetricsSnapshot; inFlight: number }>();

  constructor() {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'tsunicorn_http_requests_total',
      help: 'HTTP responses sent by all workers, by status (499: the client went away first).',
      labelNames: ['status'],
      registers,
    });
    this.duration = new BucketHistogram(
      'tsunicorn_http_request_duration_seconds',
      'Time from request to the end of the response, in seconds.',
    );
    this.registry.registerMetric(this.duration as unknown as Histogram);
    this.inFlight = new Gauge({
      name: 'tsunicorn_http_requests_in_flight',
      help: 'Requests being served, as of the last heartbeat of each worker.',
      registers,
    });
    this.workers = new Gauge({ name: 'tsunicorn_workers', help: 'Live workers (booting or serving).', registers });
    this.restarts = new Counter({
      name: 'tsunicorn_worker_restarts_total',
      help: 'Workers that exited and were replaced or removed, by reason.',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of REASONS) this.restarts.inc({ reason }, 0);
    this.canary = new Counter({
      name: 'tsunicorn_reload_canary_total',
      help: 'Canary reloads judged (--reload-canary), by result: passed, or why it was rolled back.',
      labelNames: ['result'],
      registers,
    });
    for (const result of CANARY_RESULTS) this.canary.inc({ result }, 0);
    this.rss = new Gauge({
      name: 'tsunicorn_worker_resident_memory_bytes',
      help: 'Resident memory of each live worker.',
      labelNames: ['pid'],
      registers,
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  workerBeat(
    id: number,
    pid: number,
    inFlight: number,
    rss: number,
    snapshot: RequestMetricsSnapshot | undefined,
  ): void {
    const prev = this.last.get(id);
    if (snapshot) {
      for (const [status, n] of Object.entries(snapshot.statuses)) {
        const d = n - (prev?.snapshot?.statuses[status] ?? 0);
        if (d > 0) this.requests.inc({ status }, d);
      }
      this.duration.add(prev?.snapshot, snapshot);
    }
    this.last.set(id, { pid, snapshot: snapshot ?? prev?.snapshot, inFlight });
    this.rss.set({ pid: String(pid) }, rss);
    this.updateInFlight();
  }

  /** A worker exited; `reason` null when it was not a restart (the arbiter is stopping). */
  canaryJudged(result: CanaryResult): void {
    this.canary.inc({ result });
  }

  workerExit(id: number, pid: number, reason: RestartReason | null): void {
    this.last.delete(id);
    this.rss.remove({ pid: String(pid) });
    this.updateInFlight();
    if (reason) this.restarts.inc({ reason });
  }

  setWorkers(n: number): void {
    this.workers.set(n);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  private updateInFlight(): void {
    let n = 0;
    for (const w of this.last.values()) n += w.inFlight;
    this.inFlight.set(n);
  }
}
