/** Whether a worker is alive: its silence counts from its own beat stamps, and the arbiter's stalls are forgiven. */
import { describe, expect, it } from 'vitest';
import {
  MIN_STALL_MS,
  beatTime,
  hungAt,
  isHung,
  remember,
  silenceMs,
  stallOf,
} from '../../src/arbiter/decisions/liveness.js';

const T = 2000;

describe('isHung', () => {
  it.each([
    // [what, now, lastBeat, stalls, hung]
    ['a recent beat', 10_000, 9_500, [], false],
    ['silent exactly the timeout', 10_000, 8_000, [], false],
    ['silent past the timeout', 10_001, 8_000, [], true],
    [
      'the arbiter stopped 5 s since the beat: only 0.5 s of silence counts',
      15_500,
      10_000,
      [{ from: 10_000, to: 15_000 }],
      false,
    ],
    ['a stall before the beat forgives nothing', 15_500, 13_000, [{ from: 5_000, to: 12_000 }], true],
    [
      'a stall straddling the beat forgives only its part after it',
      16_000,
      13_000,
      [{ from: 12_000, to: 14_000 }],
      false,
    ],
    ['and past a timeout beyond that, it is hung', 16_001, 13_000, [{ from: 12_000, to: 14_000 }], true],
    [
      'several stalls add up',
      17_000,
      10_000,
      [
        { from: 11_000, to: 13_000 },
        { from: 14_000, to: 17_000 },
      ],
      false,
    ],
    [
      'a worker hung across a stall: killed a timeout of running time later',
      15_001,
      10_000,
      [{ from: 11_000, to: 14_000 }],
      true,
    ],
  ] as const)('%s', (_what, now, lastBeat, stalls, hung) => {
    expect(isHung({ now, lastBeat, stalls, timeoutMs: T })).toBe(hung);
  });

  it('--timeout 0 never judges a worker hung', () => {
    expect(isHung({ now: 1e9, lastBeat: 0, stalls: [], timeoutMs: 0 })).toBe(false);
    expect(hungAt({ now: 1e9, lastBeat: 0, stalls: [], timeoutMs: 0 })).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('hungAt', () => {
  it('is the first moment isHung turns true when nothing more happens', () => {
    const cases = [
      { lastBeat: 9_000, stalls: [] },
      { lastBeat: 9_000, stalls: [{ from: 9_500, to: 10_000 }] },
    ];
    for (const c of cases) {
      const at = hungAt({ now: 10_000, timeoutMs: T, ...c });
      expect(isHung({ now: at, timeoutMs: T, ...c })).toBe(true);
      expect(isHung({ now: at - 2, timeoutMs: T, ...c })).toBe(false);
    }
  });
});

describe('silenceMs', () => {
  it('never goes negative and never counts a stall twice past now', () => {
    expect(silenceMs(10_000, 10_500, [])).toBe(0);
    expect(silenceMs(10_000, 9_000, [{ from: 9_500, to: 12_000 }])).toBe(500);
  });
});

describe('stallOf', () => {
  it.each([
    ['woken by its timer on time', { asleepAt: 0, sleepMs: 500, wokeAt: 505, turnAt: 506 }, null],
    ['woken early by an event, handled at once', { asleepAt: 0, sleepMs: 1000, wokeAt: 10, turnAt: 12 }, null],
    [
      'stopped while asleep: late from its planned wake-up',
      { asleepAt: 0, sleepMs: 500, wokeAt: 5_500, turnAt: 5_501 },
      { from: 500, to: 5_501 },
    ],
    [
      'stopped (or blocked) while handling an event',
      { asleepAt: 0, sleepMs: 1000, wokeAt: 10, turnAt: 3_010 },
      { from: 10, to: 3_010 },
    ],
    ['just under the jitter allowance', { asleepAt: 0, sleepMs: 0, wokeAt: 0, turnAt: MIN_STALL_MS - 1 }, null],
  ] as const)('%s', (_what, turn, stall) => {
    expect(stallOf(turn)).toEqual(stall);
  });

  it('remember keeps the most recent stalls only', () => {
    let stalls = remember([], null);
    for (let i = 0; i < 40; i++) stalls = remember(stalls, { from: i * 1000, to: i * 1000 + 200 });
    expect(stalls.length).toBeLessThanOrEqual(16);
    expect(stalls.at(-1)).toEqual({ from: 39_000, to: 39_200 });
  });
});

describe('beatTime', () => {
  it.each([
    ['the worker stamp, read late', 9_000, 12_000, 8_000, 9_000],
    ['no stamp (an older worker): its arrival', undefined, 12_000, 8_000, 12_000],
    ['a stamp later than its arrival is impossible: its arrival', 13_000, 12_000, 8_000, 12_000],
    ['never earlier than the beat before', 7_000, 12_000, 8_000, 8_000],
    ['not a number: its arrival', Number.NaN, 12_000, 8_000, 12_000],
  ] as const)('%s', (_what, stamp, arrivedAt, previous, expected) => {
    expect(beatTime(stamp, arrivedAt, previous)).toBe(expected);
  });
});
