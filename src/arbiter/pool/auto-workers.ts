/**
 * `-w auto` in the arbiter: reads the limits (cgroup-limits.ts), asks the
 * decision (worker-count.ts) and logs it. Under a memory limit the first
 * decision is one worker; the first heartbeat of a ready worker gives its RSS
 * and the final count. A HUP with `-w auto` reads the limits again (a resized
 * container) and keeps the measured RSS.
 */
import process from 'node:process';
import type { Settings } from '../../config/settings.js';
import type { Logger } from '../../log/logger.js';
import { type CgroupLimits, readCgroupLimits } from '../platform/cgroup-limits.js';
import {
  type WorkerCount,
  type WorkerCountInput,
  decideWorkerCount,
  describeWorkerCount,
} from '../decisions/worker-count.js';

export class AutoWorkers {
  private limits: CgroupLimits;
  private workerRss: number | null = null;
  private decision: WorkerCount;

  constructor(
    private settings: Settings,
    private readonly log: Logger,
    read: () => CgroupLimits = readCgroupLimits,
  ) {
    this.limits = read();
    this.decision = this.decide();
  }

  /** The workers the loop should converge on: a number, or the auto decision. */
  static target(settings: Settings, auto: AutoWorkers | null): number {
    return settings.workers === 'auto' ? (auto?.target ?? 1) : settings.workers;
  }

  get target(): number {
    return this.decision.workers;
  }

  private decide(): WorkerCount {
    const input: WorkerCountInput = {
      ...this.limits,
      masterRss: process.memoryUsage.rss(),
      workerRss: this.workerRss,
      maxWorkerMemory: this.settings.maxWorkerMemory * 1048576,
    };
    const d = decideWorkerCount(input);
    this.log.info(describeWorkerCount(d, input));
    return d;
  }

  /** A ready worker's heartbeat. Returns the new target once a pending memory decision is made, else null. */
  onReadyBeat(rss: number): number | null {
    if (!this.decision.pending || rss <= 0) return null;
    this.workerRss = rss;
    this.decision = this.decide();
    return this.decision.workers;
  }

  /** HUP: the limits may have changed (a resized container), and so may --max-worker-memory. */
  reread(settings: Settings, read: () => CgroupLimits = readCgroupLimits): number {
    this.settings = settings;
    this.limits = read();
    this.decision = this.decide();
    return this.decision.workers;
  }
}
