/**
 * The canary verdict (--reload-canary), as a pure function: the new generation's first worker has served
 * beside the old ones for the window; given both sides' answers over that same window, whether the
 * rollover goes on or is rolled back, and why. The pool applies it (pool.ts).
 *
 * - A canary that exited (crashed, failed to boot) fails.
 * - 5xx: the canary's share of 5xx answers exceeds the old generation's by more than max5xx.
 * - Latency: the canary's p99 exceeds the old generation's times maxP99Ratio, and by more than
 *   P99_FLOOR_S, so that two fast p99s inside the histogram's lowest bucket are never "clearly worse".
 * - Either comparison needs minRequests answers on both sides; with fewer only a crash fails it.
 */
import type { RequestMetricsSnapshot } from '../../protocol.js';
import { DURATION_BUCKETS, bucketQuantile } from '../../metrics/request-stats.js';

/** A p99 this close to the old one is within the histogram's resolution and a busy host's noise. */
const P99_FLOOR_S = 0.01;

/** Answers over the window: one worker's, or a generation's summed. */
export interface WindowStats {
  requests: number;
  errors5xx: number;
  /** Per-bucket counts for DURATION_BUCKETS, then +Inf. */
  buckets: number[];
}

export interface CanaryThresholds {
  max5xx: number;
  maxP99Ratio: number;
  minRequests: number;
}

export interface CanaryInput {
  canary: WindowStats;
  old: WindowStats;
  /** Why the canary is gone ('exited with code 1', 'failed to boot'), or null while it serves. */
  exited: string | null;
  thresholds: CanaryThresholds;
}

type CanaryReason = 'crash' | '5xx' | 'latency';

export type CanaryVerdict = { pass: true; detail: string } | { pass: false; reason: CanaryReason; detail: string };

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const ms = (s: number) => `${(s * 1000).toFixed(1)} ms`;

export function judgeCanary(input: CanaryInput): CanaryVerdict {
  const { canary, old, thresholds: t } = input;
  if (input.exited !== null) return { pass: false, reason: 'crash', detail: `the canary ${input.exited}` };
  const seen = `canary ${canary.requests} requests, old generation ${old.requests}`;
  if (canary.requests < t.minRequests || old.requests < t.minRequests) {
    return { pass: true, detail: `${seen}: fewer than ${t.minRequests}, judged on crashes only` };
  }
  const canaryRate = canary.errors5xx / canary.requests;
  const oldRate = old.errors5xx / old.requests;
  if (canaryRate - oldRate > t.max5xx) {
    return {
      pass: false,
      reason: '5xx',
      detail:
        `5xx: canary ${pct(canaryRate)}, old generation ${pct(oldRate)} ` +
        `(max difference ${pct(t.max5xx)}; ${seen})`,
    };
  }
  const canaryP99 = bucketQuantile(DURATION_BUCKETS, canary.buckets, 0.99) ?? 0;
  const oldP99 = bucketQuantile(DURATION_BUCKETS, old.buckets, 0.99) ?? 0;
  const p99 = `p99: canary ${ms(canaryP99)}, old generation ${ms(oldP99)}`;
  if (canaryP99 > oldP99 * t.maxP99Ratio && canaryP99 - oldP99 > P99_FLOOR_S) {
    return { pass: false, reason: 'latency', detail: `${p99} (max ratio ${t.maxP99Ratio}; ${seen})` };
  }
  return { pass: true, detail: `5xx: canary ${pct(canaryRate)}, old generation ${pct(oldRate)}; ${p99}; ${seen}` };
}

/** What a worker answered between two cumulative snapshots (`from` null: since it started). */
export function windowOf(from: RequestMetricsSnapshot | null, to: RequestMetricsSnapshot | null): WindowStats {
  const stats: WindowStats = {
    requests: 0,
    errors5xx: 0,
    buckets: new Array<number>(DURATION_BUCKETS.length + 1).fill(0),
  };
  if (!to) return stats;
  stats.requests = Math.max(0, to.count - (from?.count ?? 0));
  for (const [status, n] of Object.entries(to.statuses)) {
    if (status.startsWith('5')) stats.errors5xx += Math.max(0, n - (from?.statuses[status] ?? 0));
  }
  stats.buckets = stats.buckets.map((_, i) => Math.max(0, (to.buckets[i] ?? 0) - (from?.buckets[i] ?? 0)));
  return stats;
}

/** A generation's window: its workers' windows summed. */
export function sumWindows(windows: readonly WindowStats[]): WindowStats {
  const sum: WindowStats = {
    requests: 0,
    errors5xx: 0,
    buckets: new Array<number>(DURATION_BUCKETS.length + 1).fill(0),
  };
  for (const w of windows) {
    sum.requests += w.requests;
    sum.errors5xx += w.errors5xx;
    for (let i = 0; i < sum.buckets.length; i++) sum.buckets[i]! += w.buckets[i] ?? 0;
  }
  return sum;
}
