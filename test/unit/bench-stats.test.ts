/**
 * The bench's statistics (bench/stats.js): the confidence interval that decides whether a target
 * needs more rounds, and which servers those rounds run.
 */
import { describe, expect, it } from 'vitest';
import { medianCi, stat, undecidedNeeds } from '../../bench/stats.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('confidence interval of the median', () => {
  it('uses the widest order statistics that still reach the level', () => {
    // Under 5 values even min–max covers less than 90 % (1 − 2/16 = 87.5 % at 4).
    expect(medianCi(range(4))).toBeNull();
    // 5 and 7 values: min–max (93.8 %, 98.4 %); the next pair in would cover 62.5 %, 87.5 %.
    expect(medianCi(range(5))).toMatchObject({ lo: 1, hi: 5 });
    expect(medianCi(range(7))).toMatchObject({ lo: 1, hi: 7 });
    // 9: the 2nd to the 8th (96.1 %); 15: the 4th to the 12th (96.5 %; the 5th to the 11th: 88.2 %).
    expect(medianCi(range(9))).toMatchObject({ lo: 2, hi: 8 });
    expect(medianCi(range(15))).toMatchObject({ lo: 4, hi: 12 });
    expect(medianCi(range(15))!.coverage).toBeCloseTo(1 - (2 * (1 + 15 + 105 + 455)) / 2 ** 15, 10);
    // A lower level allows a narrower interval.
    expect(medianCi(range(15), 0.8)).toMatchObject({ lo: 5, hi: 11 });
  });

  it('is part of every summary figure', () => {
    expect(stat([0.9, 1.1, 1.0, 0.95, 1.05])).toEqual({ median: 1, min: 0.9, max: 1.1, n: 5, ci: { lo: 0.9, hi: 1.1 } });
    expect(stat([1, 2])?.ci).toBeNull();
  });
});

describe('extra rounds', () => {
  const check = (decided: boolean, needs: { server: string; workloads: string[] }[]) => ({ decided, needs });
  it('run the servers and workloads of the undecided targets only', () => {
    const needs = undecidedNeeds([
      check(false, [{ server: 'tsu-async', workloads: ['ka'] }, { server: 'cluster-none', workloads: ['ka'] }]),
      check(false, [{ server: 'tsu-async', workloads: ['close'] }, { server: 'pm2', workloads: ['close'] }]),
      check(true, [{ server: 'tsu-fetch', workloads: ['ka'] }]),
      check(false, [{ server: 'node-http', workloads: [] }]),
    ] as never);
    expect(Object.fromEntries([...needs].map(([k, v]) => [k, [...v].sort()]))).toEqual({
      'tsu-async': ['close', 'ka'],
      'cluster-none': ['ka'],
      pm2: ['close'],
      'node-http': [],
    });
  });

  it('stop when every target is decided', () => {
    expect(undecidedNeeds([check(true, [{ server: 'tsu-async', workloads: ['ka'] }])] as never).size).toBe(0);
  });
});
