/** How a worker exit is classified and backed off (exits.ts). */
import { describe, expect, it } from 'vitest';
import {
  BACKOFF_MAX_MS,
  EARLY_DEATH_MS,
  RESET_AFTER_MS,
  type ExitFacts,
  backoffMs,
  classifyExit,
  streakAfterReady,
} from '../../src/arbiter/decisions/exits.js';

const base: ExitFacts = {
  now: 100_000,
  forkedAt: 99_000,
  expected: false,
  timedOut: false,
  announcedBootError: null,
  code: 1,
  wasReady: true,
  servingSameGeneration: 2,
  servingOtherGenerations: 0,
  booting: 0,
  everServed: true,
  stopping: false,
  streak: 0,
  lastFailureAt: null,
};
const bootFail = { announcedBootError: 3, code: 3, wasReady: false };

describe('classifyExit', () => {
  it.each<[string, Partial<ExitFacts>, ReturnType<typeof classifyExit>]>([
    ['retired or stopped: replaced at once', { expected: true, code: 0 }, { kind: 'expected' }],
    ['killed after WORKER TIMEOUT', { timedOut: true, code: null }, { kind: 'timed-out' }],
    [
      'the app cannot boot at all at start-up (exit 3): halt with 3',
      { ...bootFail, servingSameGeneration: 0, everServed: false },
      { kind: 'halt', code: 3, reason: 'Worker failed to boot.' },
    ],
    [
      'exit 4 before ready, no boot-error message: halt with 4',
      { code: 4, wasReady: false, servingSameGeneration: 0, everServed: false },
      { kind: 'halt', code: 4, reason: 'App failed to load.' },
    ],
    [
      'at start-up, while siblings still boot: the slot waits the longest backoff instead of halting',
      { ...bootFail, servingSameGeneration: 0, everServed: false, booting: 2 },
      { kind: 'boot-failure', code: 3, streak: 1, delayMs: BACKOFF_MAX_MS },
    ],
    [
      'at start-up, the last sibling failing too: halt',
      { ...bootFail, servingSameGeneration: 0, everServed: false, booting: 0, streak: 2, lastFailureAt: 99_990 },
      { kind: 'halt', code: 3, reason: 'Worker failed to boot.' },
    ],
    [
      'a HUP generation that cannot boot while old workers serve: given up until the next HUP',
      { ...bootFail, servingSameGeneration: 0, servingOtherGenerations: 2 },
      { kind: 'generation-failed', code: 3 },
    ],
    [
      'fails to boot while its own generation serves: backed off',
      bootFail,
      { kind: 'boot-failure', code: 3, streak: 1, delayMs: 100 },
    ],
    [
      'the 4th failure in a row: 800 ms',
      { ...bootFail, streak: 3, lastFailureAt: 99_500 },
      { kind: 'boot-failure', code: 3, streak: 4, delayMs: 800 },
    ],
    [
      'fails to boot when none serve, after the app has served: backed off, not halted',
      { ...bootFail, servingSameGeneration: 0, streak: 1, lastFailureAt: 99_900 },
      { kind: 'boot-failure', code: 3, streak: 2, delayMs: 200 },
    ],
    [
      'a failure long after the previous one starts the backoff again',
      { ...bootFail, streak: 9, lastFailureAt: 100_000 - RESET_AFTER_MS - 1 },
      { kind: 'boot-failure', code: 3, streak: 1, delayMs: 100 },
    ],
    [
      'a boot failure while the arbiter stops: no backoff',
      { ...bootFail, stopping: true, streak: 2 },
      { kind: 'boot-failure', code: 3, streak: 2, delayMs: 0 },
    ],
    [
      'exit 3 after it was ready is a crash, not a boot failure',
      { code: 3, wasReady: true, forkedAt: 100_000 - EARLY_DEATH_MS },
      { kind: 'crash', code: 3, streak: 0, delayMs: 0 },
    ],
    ['a crash right after boot: backed off', { forkedAt: 99_950 }, { kind: 'crash', code: 1, streak: 1, delayMs: 100 }],
    [
      'a crash of a long-lived worker: replaced at once, streak reset',
      { forkedAt: 0, streak: 5, lastFailureAt: 99_000 },
      { kind: 'crash', code: 1, streak: 0, delayMs: 0 },
    ],
  ])('%s', (_what, facts, verdict) => {
    expect(classifyExit({ ...base, ...facts })).toEqual(verdict);
  });
});

describe('backoffMs', () => {
  it('doubles from 100 ms and is capped', () => {
    const cap = BACKOFF_MAX_MS;
    expect([0, 1, 2, 3, 7, 8, 20, 1000].map(backoffMs)).toEqual([0, 100, 200, 400, 6400, cap, cap, cap]);
  });
});

describe('streakAfterReady', () => {
  it.each([
    ['after boot failures, a worker that boots ends the streak', 5, 'boot-failure', 0],
    ['after crashes it does not (a crash-looping worker reports ready first)', 5, 'crash', 5],
    ['no failure yet', 0, null, 0],
  ] as const)('%s', (_what, streak, last, expected) => {
    expect(streakAfterReady(streak, last)).toBe(expected);
  });
});
