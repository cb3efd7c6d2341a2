/**
 * A Kubernetes-ready shutdown: --health-path answered by the workers before
 * the app, and --shutdown-delay keeping the server serving after TERM while
 * the health path answers 503. Measured under load as a load balancer sees
 * it: the load stops sending once the health path fails, and no request may
 * fail; the same procedure without the delay is the baseline.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { type Server, cleanup, get, start, waitFor } from './harness.js';
import { describeFailures, failedCount, runLoad, startLoad } from './load.js';

afterEach(cleanup);

const BASE = ['node-app.mjs', '-w', '2', '-b', '127.0.0.1:0', '--log-level', 'debug', '--health-path', '/healthz'];

/** One GET on a fresh connection, as a kubelet probe: its status, or 'error' (refused, reset, no answer in time). */
async function probe(url: string, timeoutMs = 1000): Promise<number | 'error'> {
  const dispatcher = new Agent({ headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connectTimeout: timeoutMs });
  try {
    const res = await request(url, { dispatcher, reset: true });
    await res.body.text();
    return res.statusCode;
  } catch {
    return 'error';
  } finally {
    await dispatcher.destroy();
  }
}

/**
 * TERM under load (connection-per-request and keep-alive clients), as a load balancer that health-checks
 * the server sees it: it keeps sending until a probe fails, then stops. Returns the load's result and the
 * result of a second load run once the probe has failed (requests that arrive during the delay).
 */
async function termUnderLoad(s: Server, port: number) {
  const url = `http://127.0.0.1:${port}/`;
  const loads = [true, false].map((keepAlive) =>
    startLoad({ url, concurrency: 4, keepAlive, durationMs: 30_000, maxRequests: 200_000 }),
  );
  // The load is running: a request of our own got through beside it.
  expect((await get(url)).status).toBe(200);
  s.signal('SIGTERM');
  const seen = await waitFor('the health path to fail after TERM', async () => {
    const status = await probe(`${url}healthz`);
    return status === 200 ? null : { status };
  });
  const workersAtProbe = s.workers().length;
  const during = await runLoad({ url, concurrency: 4, keepAlive: false, durationMs: 10_000, maxRequests: 200 });
  const results = await Promise.all(loads.map((l) => l.stop()));
  return { seen, workersAtProbe, results, during };
}

describe('--health-path and --shutdown-delay', () => {
  it('the health path is answered by the workers (200, HEAD, a query) and anything else goes to the app', async () => {
    const s = start(BASE);
    await s.readyWorkers(2);
    const base = `http://127.0.0.1:${await s.port()}`;
    const ok = await get(`${base}/healthz`);
    expect(ok.status).toBe(200);
    expect(ok.body).toBe('ok\n');
    expect(ok.headers['cache-control']).toBe('no-store');
    expect((await get(`${base}/healthz?from=kubelet`)).status).toBe(200);
    const head = await request(`${base}/healthz`, { method: 'HEAD', reset: true });
    expect(head.statusCode).toBe(200);
    expect(await head.body.text()).toBe('');
    expect((await get(`${base}/healthzz`)).body).toMatch(/^node \d+/);
    expect((await get(`${base}/`)).body).toMatch(/^node \d+/);
    // A reload replaces every worker; the server still serves, so the health path stays 200.
    s.signal('SIGHUP');
    await s.readyWorkers(4);
    expect((await get(`${base}/healthz`)).status).toBe(200);
  });

  it('TERM under load: the health path 503 during the delay, requests 200, then a drain; none fails', async () => {
    const s = start([...BASE, '--shutdown-delay', '3', '--graceful-timeout', '5']);
    await s.readyWorkers(2);
    const port = await s.port();
    const { seen, workersAtProbe, results, during } = await termUnderLoad(s, port);

    expect(seen.status).toBe(503);
    // The delay keeps every worker serving: requests arriving after the health path failed still get 200.
    expect(workersAtProbe).toBe(2);
    expect(during.ok, describeFailures(during)).toBe(200);
    expect(failedCount(during), describeFailures(during)).toBe(0);
    for (const r of results) {
      expect(r.total).toBeGreaterThan(0);
      expect(failedCount(r), describeFailures(r)).toBe(0);
    }
    expect((await s.waitExit(20_000)).code).toBe(0);
    const delayed = /Serving on for --shutdown-delay 3 s before stopping gracefully; \/healthz answers 503/;
    const delayLine = s.lines.findIndex((l) => delayed.test(l));
    const firstExit = s.lines.findIndex((l) => /Worker exiting/.test(l));
    expect(delayLine).toBeGreaterThanOrEqual(0);
    expect(firstExit).toBeGreaterThan(delayLine);
  });

  it('baseline without --shutdown-delay: the same TERM under load fails requests', async () => {
    const s = start([...BASE, '--graceful-timeout', '5']);
    await s.readyWorkers(2);
    const port = await s.port();
    const { results, during } = await termUnderLoad(s, port);
    // The workers stopped accepting at TERM: requests sent before the balancer noticed wait in the backlog
    // and are reset when the server exits, and later ones are refused.
    const failed = results.reduce((n, r) => n + failedCount(r), 0);
    expect(failed, results.map(describeFailures).join('\n')).toBeGreaterThan(0);
    expect(failedCount(during), describeFailures(during)).toBeGreaterThan(0);
  });

  it('INT during the delay stops at once; a second TERM changes nothing', async () => {
    const s = start([...BASE, '--shutdown-delay', '30']);
    await s.readyWorkers(2);
    const base = `http://127.0.0.1:${await s.port()}`;
    s.signal('SIGTERM');
    await s.waitLog(/Serving on for --shutdown-delay 30 s/);
    await waitFor('503 on the health path', async () => (await probe(`${base}/healthz`)) === 503);
    s.signal('SIGTERM');
    await waitFor('the second TERM handled', () => s.countLog(/Handling signal: term/) === 2);
    expect((await get(`${base}/`)).status).toBe(200);
    expect(s.workers()).toHaveLength(2);
    s.signal('SIGINT');
    expect((await s.waitExit(10_000)).code).toBe(0);
  });
});
