/** The arbiter's Prometheus aggregation: snapshots from beats folded into counters that never go back. */
import { describe, expect, it } from 'vitest';
import { PrometheusMetrics } from '../../src/metrics/prometheus.js';
import { DURATION_BUCKETS, RequestStats } from '../../src/metrics/request-stats.js';

function sample(text: string, key: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${key} `));
  return line === undefined ? undefined : Number(line.slice(key.length + 1));
}

describe('RequestStats', () => {
  it('puts each duration in the first bucket whose bound is >= it', () => {
    const s = new RequestStats();
    s.record(200, 0.005);
    s.record(200, 0.0051);
    s.record(500, 99);
    const snap = s.snapshot();
    expect(snap.buckets).toHaveLength(DURATION_BUCKETS.length + 1);
    expect(snap.buckets[0]).toBe(1);
    expect(snap.buckets[1]).toBe(1);
    expect(snap.buckets[DURATION_BUCKETS.length]).toBe(1);
    expect(snap.statuses).toEqual({ 200: 2, 500: 1 });
    expect(snap.count).toBe(3);
  });
});

describe('PrometheusMetrics', () => {
  it('adds workers up, keeps an exited worker’s counts, and exposes a cumulative histogram', async () => {
    const m = new PrometheusMetrics();
    const a = new RequestStats();
    const b = new RequestStats();
    for (let i = 0; i < 3; i++) a.record(200, 0.002);
    m.workerBeat(1, 101, 1, 1000, a.snapshot());
    b.record(404, 0.3);
    m.workerBeat(2, 102, 0, 2000, b.snapshot());
    a.record(500, 0.02);
    m.workerBeat(1, 101, 2, 1500, a.snapshot());
    // The same snapshot twice adds nothing.
    m.workerBeat(1, 101, 2, 1500, a.snapshot());
    let text = await m.text();
    expect(sample(text, 'tsunicorn_http_requests_total{status="200"}')).toBe(3);
    expect(sample(text, 'tsunicorn_http_requests_total{status="404"}')).toBe(1);
    expect(sample(text, 'tsunicorn_http_requests_total{status="500"}')).toBe(1);
    expect(sample(text, 'tsunicorn_http_requests_in_flight')).toBe(2);
    expect(sample(text, 'tsunicorn_worker_resident_memory_bytes{pid="101"}')).toBe(1500);
    expect(sample(text, 'tsunicorn_http_request_duration_seconds_bucket{le="0.005"}')).toBe(3);
    expect(sample(text, 'tsunicorn_http_request_duration_seconds_bucket{le="0.025"}')).toBe(4);
    expect(sample(text, 'tsunicorn_http_request_duration_seconds_bucket{le="0.5"}')).toBe(5);
    expect(sample(text, 'tsunicorn_http_request_duration_seconds_bucket{le="+Inf"}')).toBe(5);
    expect(sample(text, 'tsunicorn_http_request_duration_seconds_count')).toBe(5);
    expect(sample(text, 'tsunicorn_http_request_duration_seconds_sum')).toBeCloseTo(0.326, 6);
    expect(text).toMatch(/^# TYPE tsunicorn_http_request_duration_seconds histogram$/m);

    m.workerExit(1, 101, 'crash');
    m.workerExit(2, 102, null);
    text = await m.text();
    expect(sample(text, 'tsunicorn_http_requests_total{status="200"}')).toBe(3);
    expect(sample(text, 'tsunicorn_http_request_duration_seconds_count')).toBe(5);
    expect(sample(text, 'tsunicorn_worker_restarts_total{reason="crash"}')).toBe(1);
    expect(sample(text, 'tsunicorn_worker_restarts_total{reason="reload"}')).toBe(0);
    expect(sample(text, 'tsunicorn_http_requests_in_flight')).toBe(0);
    expect(text).not.toMatch(/resident_memory_bytes\{pid=/);

    // A new worker starts from zero; its counts add on top.
    const c = new RequestStats();
    c.record(200, 0.001);
    m.workerBeat(3, 103, 0, 1000, c.snapshot());
    expect(sample(await m.text(), 'tsunicorn_http_requests_total{status="200"}')).toBe(4);
  });
});
