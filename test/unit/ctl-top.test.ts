/** `ctl top`: percentiles from latency buckets, rates between two status answers, and the lines it prints. */
import { describe, expect, it } from 'vitest';
import type { ArbiterStatus, WorkerStatus } from '../../src/arbiter/control/protocol.js';
import { type TopMemory, formatLatency, formatTop, topView } from '../../src/ctl/top.js';
import { BucketCounts, LATENCY_BUCKETS, bucketQuantile } from '../../src/metrics/request-stats.js';

describe('bucketQuantile', () => {
  const bounds = [0.001, 0.01, 0.1];
  it.each([
    ['no observations', [0, 0, 0, 0], 0.5, null],
    ['all in the first bucket: interpolated from 0', [10, 0, 0, 0], 0.5, 0.0005],
    ['the median in the second bucket', [4, 4, 2, 0], 0.5, 0.001 + (0.01 - 0.001) * 0.25],
    ['p99 in the third bucket', [50, 40, 10, 0], 0.99, 0.01 + (0.1 - 0.01) * 0.9],
    ['past the last bound: that bound', [0, 0, 0, 5], 0.5, 0.1],
    ['q = 1 is the top of the highest non-empty bucket', [3, 1, 0, 0], 1, 0.01],
  ] as const)('%s', (_, counts, q, want) => {
    const got = bucketQuantile(bounds, counts, q);
    if (want === null) expect(got).toBeNull();
    else expect(got).toBeCloseTo(want, 9);
  });

  it('BucketCounts puts a value equal to a bound in that bound', () => {
    const c = new BucketCounts(bounds);
    for (const v of [0.001, 0.0011, 0.1, 5]) c.record(v);
    expect(c.counts).toEqual([1, 1, 1, 1]);
    expect(new BucketCounts(LATENCY_BUCKETS).counts).toHaveLength(LATENCY_BUCKETS.length + 1);
  });
});

const latency = (fast: number, slow: number) => {
  const counts = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);
  counts[0] = fast; // ≤ 0.5 ms
  counts[7] = slow; // 50-100 ms
  return counts;
};

function worker(pid: number, requests: number, beatAgeMs: number, busyMs: number, lat: number[]): WorkerStatus {
  // Cumulative event-loop time: 1 s of it, busyMs active.
  return {
    pid,
    generation: 1,
    state: 'ready',
    ageMs: 60_000,
    requests,
    inFlight: 2,
    rss: 64 * 1048576,
    beatAgeMs,
    load: { heapUsed: 10 * 1048576, heapLimit: 0, loopIdleMs: 1000 - busyMs, loopActiveMs: busyMs, latency: lat },
  };
}

const status = (workers: WorkerStatus[]): ArbiterStatus => ({
  pid: 100,
  name: 'app',
  state: 'running',
  generation: 1,
  target: 2,
  restarts: 3,
  workers,
});

describe('topView', () => {
  it('the first answer has no rates; the next gives req/s over the beats, percentiles and loop use', () => {
    const memory: TopMemory = new Map();
    const first = topView({ status: status([worker(7, 100, 0, 0, latency(0, 0))]), at: 10_000 }, memory);
    expect(first.rows[0]).toMatchObject({ pid: 7, reqPerSec: null, p50: null, p99: null, elu: null });
    // Two seconds later by the beats (the answer came 500 ms after the beat): 200 requests, 2% of them slow.
    const w = worker(7, 300, 500, 0, latency(196, 4));
    w.load = { ...w.load, loopIdleMs: 1000 + 1500, loopActiveMs: 500 };
    const next = topView({ status: status([w]), at: 12_500 }, memory);
    expect(next.rows[0]!.reqPerSec).toBeCloseTo(100, 6);
    expect(next.rows[0]!.p50).toBeLessThanOrEqual(0.0005);
    expect(next.rows[0]!.p99).toBeGreaterThan(0.05);
    expect(next.rows[0]!.elu).toBeCloseTo(0.25, 6);
    expect(next.reqPerSec).toBeCloseTo(100, 6);
  });

  it('no beat since the last answer keeps the last rates; a worker gone is forgotten', () => {
    const memory: TopMemory = new Map();
    topView({ status: status([worker(7, 0, 0, 0, latency(0, 0))]), at: 0 }, memory);
    const a = topView({ status: status([worker(7, 50, 0, 0, latency(50, 0))]), at: 1000 }, memory);
    expect(a.rows[0]!.reqPerSec).toBeCloseTo(50, 6);
    // Same beat (answered 300 ms later, its age 300 ms more): still 50/s, not 0.
    const b = topView({ status: status([worker(7, 50, 300, 0, latency(50, 0))]), at: 1300 }, memory);
    expect(b.rows[0]!.reqPerSec).toBeCloseTo(50, 6);
    topView({ status: status([worker(8, 0, 0, 0, latency(0, 0))]), at: 2000 }, memory);
    expect([...memory.keys()]).toEqual([8]);
  });
});

describe('formatTop', () => {
  it('a header for the arbiter, the columns, a row per worker', () => {
    const memory: TopMemory = new Map();
    topView({ status: status([worker(7, 0, 0, 0, latency(0, 0)), worker(9, 0, 0, 0, latency(0, 0))]), at: 0 }, memory);
    const busy = worker(7, 250, 0, 0, latency(250, 0));
    busy.load = { ...busy.load, loopIdleMs: 1000 + 600, loopActiveMs: 400 };
    const idle = worker(9, 0, 0, 0, latency(0, 0));
    idle.load = { ...idle.load, loopIdleMs: 2000 };
    const v = topView({ status: status([busy, idle]), at: 1000 }, memory);
    const lines = formatTop(v, '12:00:00');
    expect(lines[0]).toBe('master 100 [app] running  generation 1  workers 2/2  250 req/s  restarts 3  12:00:00');
    expect(lines[1]).toMatch(/^PID\s+GEN\s+STATE\s+REQ\/S\s+IN-FLIGHT\s+P50\s+P99\s+RSS\s+HEAP\s+LOOP$/);
    expect(lines[2]).toMatch(/^7\s+1\s+ready\s+250\s+2\s+0\.25ms\s+0\.\d\dms\s+64\.0M\s+10\.0M\s+40%$/);
    expect(lines[3]).toMatch(/^9\s+1\s+ready\s+0\.0\s+2\s+-\s+-\s+64\.0M\s+10\.0M\s+0%$/);
    // Columns line up: each row is as long as the header line of columns.
    expect(lines[2]!.length).toBe(lines[1]!.length);
  });

  it.each([
    [null, '-'],
    [0.00042, '0.42ms'],
    [0.0042, '4.2ms'],
    [0.042, '42ms'],
    [1.25, '1.3s'],
  ] as const)('latency %s prints as %s', (s, text) => {
    expect(formatLatency(s)).toBe(text);
  });
});
