/**
 * A canary reload in progress (--reload-canary): which worker is the canary, the cumulative request snapshots
 * the window started from, and the outcome once judged (decisions/canary-verdict.ts decides; the pool applies).
 * Snapshots come from heartbeats: with --reload-canary every worker puts its request counters on each beat.
 */
import type { RequestMetricsSnapshot } from '../../protocol.js';
import {
  type CanaryThresholds,
  type CanaryVerdict,
  judgeCanary,
  sumWindows,
  windowOf,
} from '../decisions/canary-verdict.js';

/** What `ctl status` shows of the last canary. */
export interface CanaryStatus {
  generation: number;
  pid: number | null;
  state: 'booting' | 'serving' | 'passed' | 'rolled-back';
  /** Seconds left in the window while serving. */
  remainingS?: number;
  reason?: string;
  detail?: string;
}

export class CanaryTrial {
  /** The canary's worker id, once forked. */
  workerId: number | null = null;
  pid: number | null = null;
  /** Monotonic ms at which the window ends; set when the canary is ready. */
  deadline: number | null = null;
  verdict: CanaryVerdict | null = null;
  /**
   * The canary beat after the deadline: its counts now cover the whole window, and the old workers' are at most
   * one beat older. Its beats drive the verdict; a canary that stops beating is a hung worker (--timeout).
   */
  windowClosed = false;
  /** Each serving worker's snapshot when the window opened (the canary's: none, it starts from zero). */
  private readonly from = new Map<number, RequestMetricsSnapshot | null>();

  constructor(
    readonly generation: number,
    readonly seconds: number,
    readonly thresholds: CanaryThresholds,
  ) {}

  get onTrial(): boolean {
    return this.verdict === null;
  }

  /** The canary is serving: the window opens now for it and for each old worker serving now. */
  open(
    canaryId: number,
    at: number,
    oldServing: Iterable<{ id: number; snapshot: RequestMetricsSnapshot | null }>,
  ): void {
    this.from.set(canaryId, null);
    // An old worker that has not beaten since it started counts from zero: it has served little yet.
    for (const w of oldServing) this.from.set(w.id, w.snapshot);
    this.deadline = at + this.seconds * 1000;
  }

  /** A beat of the canary, stamped `at` (monotonic ms) by the worker. */
  beat(at: number): void {
    if (this.deadline !== null && at >= this.deadline) this.windowClosed = true;
  }

  /** Judges the window from the latest snapshots (`exited`: why the canary is gone, if it is). */
  judge(latest: (id: number) => RequestMetricsSnapshot | null, exited: string | null): CanaryVerdict {
    const canary = this.workerId === null ? windowOf(null, null) : windowOf(null, latest(this.workerId));
    const old = sumWindows(
      [...this.from].filter(([id]) => id !== this.workerId).map(([id, from]) => windowOf(from, latest(id))),
    );
    this.verdict = judgeCanary({ canary, old, exited, thresholds: this.thresholds });
    return this.verdict;
  }

  /** An old worker left during the window: what it answered since it opened is lost with it. */
  forget(id: number): void {
    if (id !== this.workerId) this.from.delete(id);
  }

  status(t: number): CanaryStatus {
    const v = this.verdict;
    if (v)
      return {
        generation: this.generation,
        pid: this.pid,
        state: v.pass ? 'passed' : 'rolled-back',
        ...(v.pass ? {} : { reason: v.reason }),
        detail: v.detail,
      };
    if (this.deadline === null) return { generation: this.generation, pid: this.pid, state: 'booting' };
    return {
      generation: this.generation,
      pid: this.pid,
      state: 'serving',
      remainingS: Math.max(0, (this.deadline - t) / 1000),
    };
  }
}
