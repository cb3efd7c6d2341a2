/**
 * The bench's statistics (bench/stats.js): the confidence interval that decides whether a target
 * needs more rounds, which servers those rounds run, and the A/A control's resolution.
 */
import { describe, expect, it } from 'vitest';
import { cpuUsPerRequest, parseStatCpu, treeTicks } from '../../bench/cpu.js';
import {
  aaControl,
  bestModes,
  combineRuns,
  evaluate,
  medianCi,
  stat,
  summarise,
  undecidedNeeds,
  verdict,
} from '../../bench/stats.js';

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
    expect(Object.fromEntries([...needs.servers].map(([k, v]) => [k, [...v].sort()]))).toEqual({
      'tsu-async': ['close', 'ka'],
      'cluster-none': ['ka'],
      pm2: ['close'],
      'node-http': [],
    });
  });

  it('stop when every target is decided', () => {
    expect(undecidedNeeds([check(true, [{ server: 'tsu-async', workloads: ['ka'] }])] as never)).toEqual({
      servers: new Map(),
      pairs: [],
    });
  });
});

/** One workload's run: req/s and CPU per request (the rest of a run is what the summary reads, kept neutral). */
const run = (rps: number, cpuUsPerReq: number | null) => ({
  rps,
  latencyMs: { p99: 1 },
  socketErrors: {},
  non2xx: 0,
  wrkCpu: 0,
  serverCpu: 0,
  rootCpu: null,
  cpuUsPerReq,
  busiestWorkerCpuShare: null,
  busiestWorkerConnShare: null,
  peakTotalRss: 0,
  peakRootRss: 0,
});
const ORDER = ['tsu-async', 'tsu-async-aa', 'cluster-none', 'cluster-rr', 'pm2', 'tsu-sync', 'gunicorn-sync'];
const targets = (raw: unknown[]) => evaluate(raw, summarise(raw, ORDER));
const find = (raw: unknown[], id: string) => targets(raw).checks.find((c: { id: string }) => c.id === id)!;

describe('target verdicts', () => {
  it('a ratio within the A/A resolution of its goal is undecided, on either side', () => {
    // 1.05× against ≤ 1.02×: 2.9 % away from the goal.
    expect(verdict(1.05, '<=', 1.02, 0.02)).toBe('FAIL');
    expect(verdict(1.05, '<=', 1.02, 0.04)).toBe('UNDECIDED');
    expect(verdict(0.99, '<=', 1.02, 0.04)).toBe('UNDECIDED');
    expect(verdict(0.97, '<=', 1.02, 0.04)).toBe('PASS');
    // The distance is relative to the goal: 5 % of 1.3 reaches 1.365.
    expect(verdict(1.36, '<=', 1.3, 0.05)).toBe('UNDECIDED');
    expect(verdict(1.37, '<=', 1.3, 0.05)).toBe('FAIL');
    expect(verdict(0.7, '>=', 0.8, 0.05)).toBe('FAIL');
    expect(verdict(0.83, '>=', 0.8, 0.05)).toBe('UNDECIDED');
    expect(verdict(0.9, '>=', 0.8, 0.05)).toBe('PASS');
  });

  it('a ratio with no A/A figure is undecided; an absolute target is judged on its median; no figure is a skip', () => {
    expect(verdict(2, '<=', 1.02, undefined)).toBe('UNDECIDED');
    expect(verdict(61, '<=', 60, null)).toBe('FAIL');
    expect(verdict(59, '<=', 60, null)).toBe('PASS');
    expect(verdict(null, '<=', 60, null)).toBe('SKIP');
    expect(verdict(Number.NaN, '<=', 1, 0)).toBe('SKIP');
  });
});

describe('best raw node:cluster mode', () => {
  it('is chosen once per workload by its median over the run, not per round', () => {
    // Round by round the better mode alternates; by median SCHED_NONE has the higher req/s, round-robin the lower CPU.
    const raw = [
      { server: 'cluster-none', round: 1, results: { ka: run(110, 10) } },
      { server: 'cluster-rr', round: 1, results: { ka: run(100, 9) } },
      { server: 'cluster-none', round: 2, results: { ka: run(100, 10) } },
      { server: 'cluster-rr', round: 2, results: { ka: run(105, 11) } },
      { server: 'cluster-none', round: 3, results: { ka: run(108, 10) } },
      { server: 'cluster-rr', round: 3, results: { ka: run(99, 9) } },
    ];
    expect(bestModes(raw as never, ['ka', 'close'], (w) => w.rps, 'max')).toEqual({ ka: 'cluster-none' });
    expect(bestModes(raw as never, ['ka'], (w) => w.cpuUsPerReq ?? Number.NaN, 'min')).toEqual({ ka: 'cluster-rr' });
  });
});

describe('A/A control', () => {
  /** One round's keep-alive runs: req/s and CPU per request per server. */
  const round = (r: number, figs: Record<string, [number, number]>) =>
    Object.entries(figs).map(([server, [rps, cpu]]) => ({ server, round: r, results: { ka: run(rps, cpu) } }));
  /**
   * Seven rounds: tsunicorn spending `ratio` × SCHED_NONE's CPU per request, its second copy `aa[i]` × its own
   * (and the inverse in req/s).
   */
  const runs = (ratio: number, aa: number[]) =>
    aa.flatMap((k, i) =>
      round(i + 1, {
        'tsu-async': [100 / ratio, 10 * ratio],
        'tsu-async-aa': [100 / ratio / k, 10 * ratio * k],
        'cluster-none': [100, 10],
        'cluster-rr': [95, 10.5],
        pm2: [90, 11],
      }),
    );

  it('resolution: how far the CI of the copy/original ratio reaches from 1.00× (none under 5 rounds)', () => {
    expect(aaControl({ ka: stat([0.97, 0.99, 1.0, 1.01, 1.06]) })).toEqual([
      { workload: 'ka', stat: expect.anything(), floor: 0.06 },
    ]);
    // Under 5 rounds, no interval: two ratios that happen to agree do not make a resolution.
    expect(aaControl({ ka: stat([0.99, 0.99]) })[0]!.floor).toBeUndefined();
    expect(aaControl({ ka: stat([0.9, 0.95, 1, 1.02]) })[0]!.floor).toBeUndefined();
    expect(aaControl({ close: null })).toEqual([{ workload: 'close', stat: null, floor: undefined }]);
  });

  it('is computed for CPU per request like for req/s, and decides a CPU target only beyond it', () => {
    const tight = [1, 1, 1.01, 0.99, 1, 1, 1.005];
    const wide = [0.92, 1.08, 1, 0.95, 1.05, 1.02, 0.97];
    const control = targets(runs(1.05, wide)).control;
    expect(
      control.find((k: { metric: string; workload: string }) => k.metric === 'cpu' && k.workload === 'ka'),
    ).toMatchObject({ floor: 0.08 });
    expect(
      control.find((k: { metric: string; workload: string }) => k.metric === 'rps' && k.workload === 'ka')!.stat,
    ).toMatchObject({ n: 7 });
    // 1.05× SCHED_NONE's CPU per request against ≤ 1.02×: a miss by 3 %, which a ±1 % control resolves and a ±8 % one does not.
    expect(find(runs(1.05, tight), 'cpu-ka-vs-none')).toMatchObject({ status: 'FAIL', actual: 1.05, resolution: 0.01 });
    expect(find(runs(1.05, wide), 'cpu-ka-vs-none')).toMatchObject({ status: 'UNDECIDED', resolution: 0.08 });
    // Each cluster mode on its own: 10.5 / 10.5 = 1.00× round-robin; PM2 at 11 µs.
    expect(find(runs(1.05, tight), 'cpu-ka-vs-rr')).toMatchObject({ status: 'PASS', actual: 1 });
    expect(find(runs(1.05, tight), 'cpu-ka-vs-pm2')).toMatchObject({ status: 'PASS', actual: 0.955 });
    // Not measured: close was not run.
    expect(find(runs(1.05, tight), 'cpu-close-vs-none')).toMatchObject({ status: 'SKIP' });
  });

  it('without the control in the run, no ratio target can fail', () => {
    const raw = runs(1.5, [1, 1, 1, 1, 1, 1, 1]).filter((r) => r.server !== 'tsu-async-aa');
    expect(find(raw, 'cpu-ka-vs-none')).toMatchObject({
      status: 'UNDECIDED',
      actual: 1.5,
      resolutionText: 'none (A/A control under 5 rounds)',
    });
  });

  it('gives the sync targets the Connection: close resolution of their metric', () => {
    const raw = [1, 2, 3, 4, 5].flatMap((r) =>
      Object.entries({
        'tsu-async': [1000, 50],
        'tsu-async-aa': [1000 * (r % 2 ? 1.01 : 0.99), 50 * (r % 2 ? 1.02 : 0.98)],
        'tsu-sync': [600, 80],
        'gunicorn-sync': [1000, 60],
      }).map(([server, [rps, cpu]]) => ({ server, round: r, results: { close: run(rps as number, cpu as number) } })),
    );
    expect(find(raw, 'cpu-sync-vs-gunicorn')).toMatchObject({ status: 'FAIL', actual: 1.333, resolution: 0.02 });
    expect(find(raw, 'rps-sync-vs-gunicorn')).toMatchObject({ status: 'FAIL', actual: 0.6, resolution: 0.01 });
  });

  it('CPU targets and their control come from pairs loaded at the same time when the run has them', () => {
    // Run one after the other, the box made tsunicorn look 1.05× and its copy ±8 %; loaded at once, 1.005× and ±1 %.
    const raw = runs(1.05, [0.92, 1.08, 1, 0.95, 1.05, 1.02, 0.97]);
    const pairs = [1, 2, 3, 4, 5, 6, 7].flatMap((round, i) => [
      { round, num: 'tsu-async', den: 'cluster-none', wl: 'ka', numUs: 10.05, denUs: 10 },
      {
        round,
        num: 'tsu-async-aa',
        den: 'tsu-async',
        wl: 'ka',
        numUs: 10 * [1, 1.01, 0.99, 1, 1, 1.005, 1][i]!,
        denUs: 10,
      },
    ]);
    const t = evaluate(raw, summarise(raw, ORDER), pairs);
    expect(t.checks.find((c: { id: string }) => c.id === 'cpu-ka-vs-none')).toMatchObject({
      status: 'PASS',
      actual: 1.005,
      resolution: 0.01,
    });
    // A target without pairs in the run keeps its runs' ratio (PM2: 10.5 / 11), judged with the pairs' resolution.
    expect(t.checks.find((c: { id: string }) => c.id === 'cpu-ka-vs-pm2')).toMatchObject({
      actual: 0.955,
      resolution: 0.01,
    });
    // req/s stays on the runs.
    expect(t.control.find((k: { metric: string }) => k.metric === 'rps')!.floor).toBeGreaterThan(0.05);
  });

  it('runs in the extra rounds beside the targets it gives a resolution to', () => {
    const needs = undecidedNeeds(targets(runs(1.02, [1, 1, 1, 1, 1, 1, 1])).checks);
    expect([...(needs.servers.get('tsu-async-aa') ?? [])]).toEqual(['ka']);
  });

  it('a CPU target from pairs asks the extra rounds for its pair and the A/A pair, and counts pair-only rounds', () => {
    const raw = runs(1.05, [1, 1, 1, 1, 1]);
    // Rounds 1-5 ran everything; rounds 6 and 7 the pairs alone.
    const pairs = [1, 2, 3, 4, 5, 6, 7].flatMap((round) => [
      { round, num: 'tsu-async', den: 'cluster-none', wl: 'ka', numUs: round > 5 ? 10.3 : 10.2, denUs: 10 },
      { round, num: 'tsu-async-aa', den: 'tsu-async', wl: 'ka', numUs: 10 * (round % 2 ? 1.01 : 0.99), denUs: 10 },
    ]);
    const t = evaluate(raw, summarise(raw, ORDER), pairs);
    const none = t.checks.find((c: { id: string }) => c.id === 'cpu-ka-vs-none')!;
    expect(none).toMatchObject({ rounds: 7, actual: 1.02, needs: [] });
    const needs = undecidedNeeds([none]);
    expect(needs.servers.size).toBe(0);
    expect(needs.pairs).toEqual([
      { num: 'tsu-async', den: 'cluster-none', wl: 'ka' },
      { num: 'tsu-async-aa', den: 'tsu-async', wl: 'ka' },
    ]);
  });

  describe("a real app's CPU target", () => {
    const raw = runs(1.05, [1, 1, 1, 1, 1, 1, 1]);
    /** Seven rounds of pairs: Express at `ratio` × raw cluster, its A/A pair at `appAa[i]`, hello's at `helloAa[i]`. */
    const pairs = (ratio: number, appAa: number[], helloAa: number[]) =>
      range(7).flatMap((round, i) => [
        { round, num: 'express-tsu', den: 'express-cluster', wl: 'ka', numUs: 50 * ratio, denUs: 50 },
        { round, num: 'express-tsu-aa', den: 'express-tsu', wl: 'ka', numUs: 50 * appAa[i]!, denUs: 50 },
        { round, num: 'tsu-async-aa', den: 'tsu-async', wl: 'ka', numUs: 10 * helloAa[i]!, denUs: 10 },
      ]);
    const tight = [1, 1.004, 0.996, 1, 1.002, 0.998, 1];
    const wide = [0.97, 1.03, 1, 0.98, 1.02, 1.01, 0.99];
    const express = (p: unknown[]) =>
      evaluate(raw, summarise(raw, ORDER), p as never).checks.find((c: { id: string }) => c.id === 'cpu-express')!;

    it("is judged against the app's own A/A control, not hello world's", () => {
      // 1.02× against ≤ 1.03×: within hello's ±3 %, beyond the app's ±0.4 %.
      expect(express(pairs(1.02, tight, wide))).toMatchObject({ status: 'PASS', actual: 1.02, resolution: 0.004 });
      expect(express(pairs(1.02, wide, tight))).toMatchObject({ status: 'UNDECIDED', resolution: 0.03 });
      const control = evaluate(raw, summarise(raw, ORDER), pairs(1.02, tight, wide) as never).control;
      expect(control.find((k: { app?: string }) => k.app === 'Express 5 JSON route')).toMatchObject({
        metric: 'cpu',
        workload: 'ka',
        floor: 0.004,
      });
      // hello's targets keep hello's control.
      expect(control.find((k: { app?: string; metric: string }) => !k.app && k.metric === 'cpu')).toMatchObject({
        floor: 0.03,
      });
    });

    it('is undecided without its own A/A pairs, and asks the extra rounds for them', () => {
      const withoutAa = pairs(1.02, tight, tight).filter((p) => p.num !== 'express-tsu-aa');
      const check = express(withoutAa);
      expect(check).toMatchObject({ status: 'UNDECIDED', resolutionText: 'none (A/A control under 5 rounds)' });
      expect(undecidedNeeds([check]).pairs).toEqual([
        { num: 'express-tsu', den: 'express-cluster', wl: 'ka' },
        { num: 'express-tsu-aa', den: 'express-tsu', wl: 'ka' },
      ]);
    });
  });
});

describe('CPU per request', () => {
  const stat = (pid: number, u: number, s: number, cu: number, cs: number) =>
    `${pid} (node worker (x)) S 1 ${pid} ${pid} 0 -1 4194304 100 0 0 0 ${u} ${s} ${cu} ${cs} 20 0 11 0 1234 0 0`;

  it('reads utime, stime, cutime and cstime after the last parenthesis of the command name', () => {
    expect(parseStatCpu(7, stat(7, 120, 30, 5, 2))).toEqual({ pid: 7, utime: 120, stime: 30, cutime: 5, cstime: 2 });
    expect(parseStatCpu(7, 'garbage')).toBeNull();
  });

  it('counts a worker replaced during the run through its reaper', () => {
    // Before: arbiter 10+2, workers A (100+20) and B (90+10). After: A exited at 150+30 and was reaped
    // (the arbiter's cutime/cstime took it), B at 190+25, a new worker C at 5+1.
    const before = treeTicks([
      parseStatCpu(1, stat(1, 10, 2, 0, 0))!,
      parseStatCpu(2, stat(2, 100, 20, 0, 0))!,
      parseStatCpu(3, stat(3, 90, 10, 0, 0))!,
    ]);
    const after = treeTicks([
      parseStatCpu(1, stat(1, 12, 3, 150, 30))!,
      parseStatCpu(3, stat(3, 190, 25, 0, 0))!,
      parseStatCpu(4, stat(4, 5, 1, 0, 0))!,
    ]);
    // Arbiter 3, A 60, B 115, C 6: 184 ticks = 1.84 s over 46 000 requests = 40 µs each.
    expect(after - before).toBe(184);
    expect(cpuUsPerRequest(before, after, 46_000)).toBeCloseTo(40, 10);
  });

  it('has no figure without requests, or when the tree lost time (a reaper outside it)', () => {
    expect(cpuUsPerRequest(100, 200, 0)).toBeNull();
    expect(cpuUsPerRequest(200, 100, 10)).toBeNull();
  });
});

describe("one server's two runs of a workload in a round", () => {
  const run = (requests: number, serverTicks: number, rps: number, p99: number) => ({
    rps,
    requests,
    serverTicks,
    latencyMs: { p50: 1, p99 },
    socketErrors: { connect: 0, read: 1, write: 0, timeout: 0 },
    non2xx: 2,
    wrkCpu: 0.7,
    foreignCpu: 0,
    serverCpu: 0.9,
    rootCpu: null,
    cpuUsPerReq: (serverTicks * 1e4) / requests,
    busiestWorkerCpuShare: null,
    busiestWorkerConnShare: 0.6,
    peakTotalRss: 100,
    peakRootRss: 50,
  });

  it('takes CPU per request over both runs, not the mean of the two figures', () => {
    // 300 ticks for 300k requests (10 µs) and 300 for 200k (15 µs): 600 ticks for 500k is 12 µs, not 12.5.
    const c = combineRuns(run(300_000, 300, 100_000, 2), run(200_000, 300, 66_000, 4));
    expect(c.cpuUsPerReq).toBe(12);
    expect(c).toMatchObject({ requests: 500_000, serverTicks: 600, rps: 83_000, runs: 2 });
    expect(c.latencyMs).toEqual({ p50: 1, p99: 3 });
    expect(c.socketErrors).toEqual({ connect: 0, read: 2, write: 0, timeout: 0 });
    expect(c.non2xx).toBe(4);
    expect(c.rootCpu).toBeNull();
    expect(c.busiestWorkerConnShare).toBe(0.6);
  });

  it('has no CPU per request without requests', () => {
    expect(combineRuns(run(0, 0, 0, 0), run(0, 0, 0, 0)).cpuUsPerReq).toBeNull();
  });
});
