/**
 * How a worker's exit is classified, and what the arbiter does next, as a
 * pure function (applied by WorkerPool.onExit):
 *
 * - asked to stop or retire, or killed after WORKER TIMEOUT: replaced at once;
 * - failed to boot (exit 3 or 4 before ready, or a boot-error message):
 *   - no worker has ever served and none is still booting: the app cannot
 *     boot at all; the arbiter halts with that code, as Gunicorn does. While
 *     siblings still boot, the slot waits (BACKOFF_MAX_MS): if one of them
 *     comes up, the failure was not the whole app's;
 *   - a new generation (HUP) while older workers serve: that generation is
 *     given up until the next HUP, and the old workers keep serving;
 *   - otherwise (a per-worker resource gone, an intermittent failure): the
 *     slot is retried with a capped exponential backoff while the ready
 *     workers keep serving;
 * - crashed: replaced; if it died within EARLY_DEATH_MS of its fork,
 *   restarts back off the same way.
 *
 * The backoff doubles from BACKOFF_MIN_MS to BACKOFF_MAX_MS with each failure
 * in a row; a failure more than RESET_AFTER_MS after the previous one starts
 * again from the minimum, and so does one after a worker booted fine
 * following boot failures (streakAfterReady).
 */
import { ExitCode } from '../../errors.js';

export const EARLY_DEATH_MS = 10_000;
const BACKOFF_MIN_MS = 100;
export const BACKOFF_MAX_MS = 10_000;
export const RESET_AFTER_MS = 2 * BACKOFF_MAX_MS;

export interface ExitFacts {
  now: number;
  forkedAt: number;
  /** It was retiring or stopping when it exited. */
  expected: boolean;
  /** It was killed (or exited) after WORKER TIMEOUT. */
  timedOut: boolean;
  /** Exit code it announced with boot-error, if any. */
  announcedBootError: number | null;
  /** Its exit code and whether it had reported ready. */
  code: number | null;
  wasReady: boolean;
  /** Ready workers left, of the exiting worker's generation and of others. */
  servingSameGeneration: number;
  servingOtherGenerations: number;
  /** Other workers of its generation still booting. */
  booting: number;
  /** A worker has reported ready at some point in this arbiter's life. */
  everServed: boolean;
  /** The arbiter is stopping: nothing is replaced. */
  stopping: boolean;
  /** Failures in a row so far, and when the last one was (null: none). */
  streak: number;
  lastFailureAt: number | null;
}

export type ExitVerdict =
  | { kind: 'expected' | 'timed-out' }
  | { kind: 'halt'; code: number; reason: string }
  | { kind: 'generation-failed'; code: number }
  /** Replace it after `delayMs`; `streak` failures in a row (0: this was no failure). */
  | { kind: 'boot-failure' | 'crash'; code: number | null; streak: number; delayMs: number };

/** The exit code of a boot failure, or null when the worker did not fail to boot. */
function bootFailureCode(f: Pick<ExitFacts, 'announcedBootError' | 'code' | 'wasReady'>): number | null {
  if (f.announcedBootError !== null) return f.announcedBootError;
  return !f.wasReady && (f.code === ExitCode.APP_LOAD || f.code === ExitCode.WORKER_BOOT) ? f.code : null;
}

/** The wait before the next start after `streak` failures in a row. */
export function backoffMs(streak: number): number {
  return streak <= 0 ? 0 : Math.min(BACKOFF_MIN_MS * 2 ** (streak - 1), BACKOFF_MAX_MS);
}

function nextStreak(f: ExitFacts): number {
  const fresh = f.lastFailureAt === null || f.now - f.lastFailureAt > RESET_AFTER_MS;
  return (fresh ? 0 : f.streak) + 1;
}

export function classifyExit(f: ExitFacts): ExitVerdict {
  if (f.timedOut) return { kind: 'timed-out' };
  if (f.expected) return { kind: 'expected' };
  const boot = bootFailureCode(f);
  if (boot !== null) {
    const serving = f.servingSameGeneration + f.servingOtherGenerations;
    if (serving === 0 && !f.everServed) {
      if (f.booting > 0 && !f.stopping) {
        return { kind: 'boot-failure', code: boot, streak: nextStreak(f), delayMs: BACKOFF_MAX_MS };
      }
      const reason = boot === ExitCode.APP_LOAD ? 'App failed to load.' : 'Worker failed to boot.';
      return { kind: 'halt', code: boot, reason };
    }
    if (f.servingSameGeneration === 0 && f.servingOtherGenerations > 0) {
      return { kind: 'generation-failed', code: boot };
    }
    if (f.stopping) return { kind: 'boot-failure', code: boot, streak: f.streak, delayMs: 0 };
    const streak = nextStreak(f);
    return { kind: 'boot-failure', code: boot, streak, delayMs: backoffMs(streak) };
  }
  if (f.stopping || f.now - f.forkedAt >= EARLY_DEATH_MS) return { kind: 'crash', code: f.code, streak: 0, delayMs: 0 };
  const streak = nextStreak(f);
  return { kind: 'crash', code: f.code, streak, delayMs: backoffMs(streak) };
}

/**
 * A worker reported ready. After boot failures that ends the streak: the
 * next failure is intermittent, not the same one again. After crashes it does
 * not: a worker that crashes right after boot also reports ready first.
 */
export function streakAfterReady(streak: number, lastFailure: 'boot-failure' | 'crash' | null): number {
  return lastFailure === 'boot-failure' ? 0 : streak;
}
