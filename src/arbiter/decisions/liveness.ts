/**
 * Whether a worker is alive, as pure functions. A worker proves it is alive
 * by beating; it is judged hung when it has been silent longer than
 * --timeout. Two things keep a late arbiter from blaming its workers:
 *
 * - each beat carries the time the worker sent it (the host's monotonic
 *   clock, shared by every process: see monotonicMs in protocol.ts), so beats
 *   read late, after the arbiter was stopped or busy, still count from when
 *   they were sent;
 * - time during which the arbiter itself was not running (SIGSTOP, a VM or
 *   container pause, a blocked write) does not count as a worker's silence:
 *   workers frozen with it (docker pause) could not beat either.
 */

/** A stretch of time (monotonic ms) during which the arbiter's loop ran late. */
export interface Stall {
  from: number;
  to: number;
}

/** Lateness below this is ordinary timer and scheduling jitter, not a stall. */
export const MIN_STALL_MS = 100;
/** Stalls remembered; older ones have long stopped mattering to any worker's silence. */
const MAX_STALLS = 16;

/**
 * One turn of the loop: it went to sleep at `asleepAt` for at most `sleepMs`,
 * was woken at `wokeAt` (by an event or its timer), and judges again at
 * `turnAt`. It meant to judge again by the earlier of its wake-up and its
 * timer; anything past that is a stall, or null when within MIN_STALL_MS.
 */
export function stallOf(turn: { asleepAt: number; sleepMs: number; wokeAt: number; turnAt: number }): Stall | null {
  const due = Math.min(turn.asleepAt + turn.sleepMs, turn.wokeAt);
  return turn.turnAt - due >= MIN_STALL_MS ? { from: due, to: turn.turnAt } : null;
}

/** Adds a stall to the list, dropping the oldest beyond MAX_STALLS. */
export function remember(stalls: readonly Stall[], stall: Stall | null): Stall[] {
  if (!stall) return [...stalls];
  return [...stalls, stall].slice(-MAX_STALLS);
}

/** How long a worker whose last beat was at `lastBeat` has been silent at `now`, not counting the arbiter's stalls. */
export function silenceMs(now: number, lastBeat: number, stalls: readonly Stall[]): number {
  let excused = 0;
  for (const s of stalls) excused += Math.max(0, Math.min(now, s.to) - Math.max(lastBeat, s.from));
  return Math.max(0, now - lastBeat - excused);
}

export interface LivenessInput {
  now: number;
  /** When the worker last beat (its own stamp, or when it reported ready). */
  lastBeat: number;
  stalls: readonly Stall[];
  /** --timeout in ms; 0 disables the check. */
  timeoutMs: number;
}

/** True when the worker has been silent longer than the timeout. */
export function isHung(i: LivenessInput): boolean {
  return i.timeoutMs > 0 && silenceMs(i.now, i.lastBeat, i.stalls) > i.timeoutMs;
}

/** When, if it stays silent and the arbiter runs on time, the worker will be judged hung (Infinity: never). */
export function hungAt(i: LivenessInput): number {
  if (i.timeoutMs <= 0) return Number.POSITIVE_INFINITY;
  return i.now + Math.max(0, i.timeoutMs - silenceMs(i.now, i.lastBeat, i.stalls)) + 1;
}

/**
 * The time a beat counts from: the worker's stamp, unless it is missing or
 * impossible (later than its arrival, or older than the beat before it).
 */
export function beatTime(stamp: number | undefined, arrivedAt: number, previous: number): number {
  if (stamp === undefined || !Number.isFinite(stamp) || stamp > arrivedAt) return arrivedAt;
  return Math.max(stamp, previous);
}
