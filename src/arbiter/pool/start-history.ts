/**
 * How the pool's workers have been starting, which the spawn and exit decisions are made from: the restart
 * backoff (decisions/exits.ts), whether any worker ever served, which generations failed to boot, and
 * whether the whenReady hook has run. A HUP clears the backoff, not the rest.
 */
import { streakAfterReady } from '../decisions/exits.js';

type Failure = 'boot-failure' | 'crash';

export class StartHistory {
  /** Spawning waits until then (monotonic ms) while workers keep dying right after boot. */
  nextSpawnAt = 0;
  /** Failed starts in a row, and when and what the last one was. */
  streak = 0;
  lastFailureAt: number | null = null;
  private lastFailure: Failure | null = null;
  /** A worker has reported ready since the arbiter started: boot failures no longer halt it (exits.ts). */
  everServed = false;
  /** Generations whose workers failed to boot while an older one kept serving. */
  readonly failedGenerations = new Set<number>();
  /** Generations whose boot error was logged: all workers of one fail alike, so the cause is printed once. */
  readonly bootErrorReported = new Set<number>();
  /** The whenReady hook runs once, when the first workers reach the target. */
  whenReadyCalled = false;

  /** A HUP: the new generation starts with no backoff. */
  newGeneration(): void {
    this.streak = 0;
    this.lastFailureAt = null;
    this.lastFailure = null;
    this.nextSpawnAt = 0;
  }

  /** A worker reported ready. */
  ready(): void {
    this.everServed = true;
    this.streak = streakAfterReady(this.streak, this.lastFailure);
  }

  /** A failed start, as classified and backed off by decisions/exits.ts. */
  failed(kind: Failure, streak: number, delayMs: number, at: number): void {
    this.streak = streak;
    if (streak > 0) {
      this.lastFailureAt = at;
      this.lastFailure = kind;
    }
    if (delayMs > 0) this.nextSpawnAt = Math.max(this.nextSpawnAt, at + delayMs);
  }
}
