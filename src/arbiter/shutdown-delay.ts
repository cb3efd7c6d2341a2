/**
 * --shutdown-delay: between TERM and the drain the server keeps serving,
 * with --health-path answering 503, so that load balancers and Kubernetes
 * endpoints stop sending before the workers stop accepting. The arbiter loop
 * asks `due()` on every turn and sleeps no longer than `wakeMs()`.
 */
import { now } from './pool/worker-record.js';

export class ShutdownDelay {
  private drainAt: number | null = null;

  begin(seconds: number): void {
    this.drainAt = now() + seconds * 1000;
  }

  /** The delay is running: workers still serve and are still replaced. */
  get pending(): boolean {
    return this.drainAt !== null;
  }

  cancel(): void {
    this.drainAt = null;
  }

  /** True once, when the delay has run out: the drain starts now. */
  due(): boolean {
    if (this.drainAt === null || now() < this.drainAt) return false;
    this.drainAt = null;
    return true;
  }

  /** How long the loop may sleep, at most `maxMs`. */
  wakeMs(maxMs: number): number {
    return this.drainAt === null ? maxMs : Math.max(0, Math.min(maxMs, this.drainAt - now()));
  }
}
