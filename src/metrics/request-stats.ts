/**
 * A worker's local request counters for Prometheus: responses by status and
 * a duration histogram, kept as plain numbers (no labels to hash, no
 * allocation per request) and sent to the arbiter as a cumulative snapshot
 * on each heartbeat. The arbiter, which serves /metrics, adds the workers up.
 */
import type { RequestMetricsSnapshot } from '../protocol.js';

/** Upper bounds (seconds) of the request-duration histogram: prom-client's defaults. */
export const DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The q-quantile (0..1) of per-bucket counts, interpolated linearly inside its bucket as Prometheus'
 * histogram_quantile does; null with no observations. Past the last bound it is that bound.
 */
export function bucketQuantile(bounds: readonly number[], counts: readonly number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total <= 0) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i]!;
    if (n > 0 && below + n >= rank) {
      if (i >= bounds.length) return bounds[bounds.length - 1] ?? null;
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      return lower + (bounds[i]! - lower) * Math.min(1, Math.max(0, (rank - below) / n));
    }
    below += n;
  }
  return bounds[bounds.length - 1] ?? null;
}

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
