/**
 * A worker's local request counters for Prometheus: responses by status and
 * a duration histogram, kept as plain numbers (no labels to hash, no
 * allocation per request) and sent to the arbiter as a cumulative snapshot
 * on each heartbeat. The arbiter, which serves /metrics, adds the workers up.
 */
import type { RequestMetricsSnapshot } from '../protocol.js';

/** Upper bounds (seconds) of the request-duration histogram: prom-client's defaults. */
export const DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class RequestStats {
  private readonly statuses = new Map<number, number>();
  /** One per bound, then +Inf. */
  private readonly buckets = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  private sum = 0;
  private count = 0;

  record(status: number, seconds: number): void {
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    this.buckets[i]!++;
    this.sum += seconds;
    this.count++;
  }

  snapshot(): RequestMetricsSnapshot {
    const statuses: Record<string, number> = {};
    for (const [status, n] of this.statuses) statuses[status] = n;
    return { statuses, buckets: [...this.buckets], sum: this.sum, count: this.count };
  }
}
