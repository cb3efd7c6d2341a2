/** The canary verdict (--reload-canary): crash, 5xx share and p99 against the old generation over one window. */
import { describe, expect, it } from 'vitest';
import { type WindowStats, judgeCanary, sumWindows, windowOf } from '../../src/arbiter/decisions/canary-verdict.js';
import { CanaryTrial } from '../../src/arbiter/pool/canary-trial.js';
import { DURATION_BUCKETS } from '../../src/metrics/request-stats.js';

const thresholds = { max5xx: 0.05, maxP99Ratio: 2, minRequests: 20 };
/** `requests` answers, `errors` of them 5xx, all of them in the bucket whose upper bound is `le` seconds. */
const win = (requests: number, errors: number, le: number): WindowStats => {
  const buckets = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  buckets[DURATION_BUCKETS.indexOf(le)] = requests;
  return { requests, errors5xx: errors, buckets };
};

describe('judgeCanary', () => {
  const cases: [string, WindowStats, WindowStats, string | null, boolean, string?][] = [
    ['a healthy canary passes', win(100, 0, 0.005), win(300, 0, 0.005), null, true],
    [
      'a crash fails whatever the numbers',
      win(100, 0, 0.005),
      win(300, 0, 0.005),
      'exited with code 1',
      false,
      'crash',
    ],
    [
      'a canary that failed to boot fails with no requests',
      win(0, 0, 0.005),
      win(0, 0, 0.005),
      'failed to boot',
      false,
      'crash',
    ],
    ['500 to everything fails', win(100, 100, 0.005), win(300, 0, 0.005), null, false, '5xx'],
    [
      'a 5xx share just above the old one plus 5 points fails',
      win(100, 7, 0.005),
      win(100, 1, 0.005),
      null,
      false,
      '5xx',
    ],
    ['a 5xx share within 5 points of the old one passes', win(100, 6, 0.005), win(100, 1, 0.005), null, true],
    ['old generation as bad as the canary: not the deploy', win(100, 50, 0.005), win(300, 150, 0.005), null, true],
    ['too few canary requests: judged on crashes only', win(19, 19, 0.005), win(300, 0, 0.005), null, true],
    ['too few old requests: judged on crashes only', win(100, 100, 0.005), win(19, 0, 0.005), null, true],
    ['p99 ten times the old one fails', win(100, 0, 0.25), win(300, 0, 0.025), null, false, 'latency'],
    ['p99 within the ratio passes', win(100, 0, 0.05), win(300, 0, 0.05), null, true],
    ['fast p99s are never clearly worse (10 ms floor)', win(100, 0, 0.01), win(300, 0, 0.005), null, true],
  ];
  it.each(cases)('%s', (_name, canary, old, exited, pass, reason) => {
    const verdict = judgeCanary({ canary, old, exited, thresholds });
    expect(verdict.pass).toBe(pass);
    if (!verdict.pass) expect(verdict.reason).toBe(reason);
    expect(verdict.detail.length).toBeGreaterThan(0);
  });

  it('says what it compared', () => {
    const v = judgeCanary({ canary: win(100, 100, 0.005), old: win(300, 3, 0.005), exited: null, thresholds });
    expect(v.detail).toContain('5xx: canary 100.0%, old generation 1.0%');
    const low = judgeCanary({ canary: win(3, 3, 0.005), old: win(300, 0, 0.005), exited: null, thresholds });
    expect(low.detail).toMatch(/fewer than 20, judged on crashes only/);
  });
});

describe('windowOf and sumWindows', () => {
  const snap = (statuses: Record<string, number>, count: number, first: number) => ({
    statuses,
    count,
    sum: 0,
    buckets: [first, ...new Array<number>(DURATION_BUCKETS.length).fill(0)],
  });

  it('counts what a worker answered between two cumulative snapshots, 5xx by class', () => {
    const w = windowOf(snap({ 200: 10, 503: 1 }, 11, 11), snap({ 200: 15, 500: 2, 503: 3 }, 20, 20));
    expect(w).toMatchObject({ requests: 9, errors5xx: 4 });
    expect(w.buckets[0]).toBe(9);
    expect(windowOf(null, snap({ 200: 4 }, 4, 4)).requests).toBe(4);
    expect(windowOf(snap({ 200: 4 }, 4, 4), null).requests).toBe(0);
  });

  it('a generation is its workers summed', () => {
    const sum = sumWindows([win(10, 1, 0.005), win(5, 2, 0.005)]);
    expect(sum).toMatchObject({ requests: 15, errors5xx: 3 });
    expect(sum.buckets[0]).toBe(15);
  });
});

describe('CanaryTrial', () => {
  const snap = (ok: number, errors: number) => ({
    statuses: { 200: ok, 500: errors },
    count: ok + errors,
    sum: 0,
    buckets: [ok + errors, ...new Array<number>(DURATION_BUCKETS.length).fill(0)],
  });

  it('the window closes with the canary beat stamped at or after its end, not before', () => {
    const trial = new CanaryTrial(2, 3, thresholds);
    trial.beat(10_000);
    expect(trial.windowClosed).toBe(false);
    trial.open(9, 1000, []);
    trial.beat(3999);
    expect(trial.windowClosed).toBe(false);
    trial.beat(4000);
    expect(trial.windowClosed).toBe(true);
  });

  it("judges the canary from zero and each old worker from its snapshot at the window's start", () => {
    const trial = new CanaryTrial(2, 3, thresholds);
    trial.workerId = 9;
    trial.open(9, 0, [
      { id: 1, snapshot: snap(1000, 0) },
      { id: 2, snapshot: null }, // no beat yet: from zero
    ]);
    const latest = new Map([
      [9, snap(0, 30)],
      [1, snap(1100, 0)],
      [2, snap(50, 0)],
    ]);
    const v = trial.judge((id) => latest.get(id) ?? null, null);
    expect(v).toMatchObject({ pass: false, reason: '5xx' });
    expect(v.detail).toContain('canary 30 requests, old generation 150');
    expect(trial.onTrial).toBe(false);
    expect(trial.status(0)).toMatchObject({ generation: 2, state: 'rolled-back', reason: '5xx' });
  });
});
