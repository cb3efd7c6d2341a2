/**
 * The bench's statistics (bench/stats.js): the confidence interval that decides whether a target
 * needs more rounds, which servers those rounds run, and the A/A control's resolution.
 */
import { describe, expect, it } from 'vitest';
import { aaControl, evaluate, medianCi, stat, summarise, undecidedNeeds } from '../../bench/stats.js';

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
    expect(stat([0.9, 1.1, 1.0, 0.95, 1.05])).toEqual({
      median: 1,
      min: 0.9,
      max: 1.1,
      n: 5,
      ci: { lo: 0.9, hi: 1.1 },
    });
    expect(stat([1, 2])?.ci).toBeNull();
  });
});

describe('extra rounds', () => {
  const check = (decided: boolean, needs: { server: string; workloads: string[] }[]) => ({ decided, needs });
  it('run the servers and workloads of the undecided targets only', () => {
    const needs = undecidedNeeds([
      check(false, [
        { server: 'tsu-async', workloads: ['ka'] },
        { server: 'cluster-none', workloads: ['ka'] },
      ]),
      check(false, [
        { server: 'tsu-async', workloads: ['close'] },
        { server: 'pm2', workloads: ['close'] },
      ]),
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

describe('A/A control', () => {
  /** One round's keep-alive runs: req/s per server (the rest of a run is what the summary reads, kept neutral). */
  const round = (r: number, rps: Record<string, number>) =>
    Object.entries(rps).map(([server, v]) => ({
      server,
      round: r,
      results: {
        ka: {
          rps: v,
          latencyMs: { p99: 1 },
          socketErrors: {},
          non2xx: 0,
          wrkCpu: 0,
          serverCpu: 0,
          rootCpu: null,
          cpuUsPerReq: null,
          busiestWorkerCpuShare: null,
          busiestWorkerConnShare: null,
          peakTotalRss: 0,
          peakRootRss: 0,
        },
      },
    }));
  const ORDER = ['tsu-async', 'tsu-async-aa', 'cluster-none', 'cluster-rr', 'pm2'];
  /** Seven rounds: tsunicorn at `ratio` of the best cluster mode, its second copy at `aa[i]` of it. */
  const runs = (ratio: number, aa: number[]) =>
    aa.flatMap((k, i) =>
      round(i + 1, {
        'tsu-async': 100 * ratio,
        'tsu-async-aa': 100 * ratio * k,
        'cluster-none': 100,
        'cluster-rr': 90,
        pm2: 100 * ratio,
      }),
    );
  const targets = (raw: unknown[]) => evaluate(raw, summarise(raw, ORDER));

  it('resolution: how far the CI of the copy/original ratio reaches from 1.00×', () => {
    expect(aaControl({ ka: stat([0.97, 0.99, 1.0, 1.01, 1.06]) })).toEqual([
      { workload: 'ka', stat: expect.anything(), floor: 0.06 },
    ]);
    expect(aaControl({ ka: stat([0.9, 1.02]) })[0]!.floor).toBeCloseTo(0.04, 10);
    expect(aaControl({ close: null })).toEqual([{ workload: 'close', stat: null, floor: undefined }]);
  });

  it('marks a ratio target nearer its goal than the control strays, and only then; the verdict stays the median', () => {
    const tight = [1, 1, 1.01, 0.99, 1, 1, 1.005];
    const wide = [0.92, 1.08, 1, 0.95, 1.05, 1.02, 0.97];
    const ka = (raw: unknown[]) => targets(raw).checks.find((c: { id: string }) => c.id === 'ka-vs-cluster')!;
    // 0.93x against a 0.95x goal: a miss by 0.02, which a ±1 % control resolves and a ±8 % one does not.
    expect(ka(runs(0.93, tight))).toMatchObject({ status: 'FAIL', belowResolution: false });
    expect(ka(runs(0.93, wide))).toMatchObject({ status: 'FAIL', belowResolution: true });
    expect(ka(runs(0.97, wide))).toMatchObject({ status: 'PASS', belowResolution: true });
    expect(
      targets(runs(0.93, wide)).control.find((k: { workload: string }) => k.workload === 'ka')!.stat,
    ).toMatchObject({ median: 1, n: 7 });
    // Targets that are not a req/s ratio under one workload get no mark.
    expect(targets(runs(0.93, wide)).checks.find((c: { id: string }) => c.id === 'p99-vs-cluster')).not.toHaveProperty(
      'belowResolution',
    );
  });

  it('runs in the extra rounds beside the targets it gives a resolution to', () => {
    const needs = undecidedNeeds(targets(runs(0.95, [1, 1, 1, 1, 1, 1, 1])).checks);
    expect([...(needs.get('tsu-async-aa') ?? [])]).toEqual(['ka']);
  });
});
