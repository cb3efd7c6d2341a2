/**
 * Sync workers (-k sync): one request at a time per worker whatever the app
 * does, `Connection: close`, no request queued behind a busy worker while
 * another is idle, and --timeout as a request deadline.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, get, medianMs, notDelayedBound, start } from './harness.js';
import { describeFailures, failedCount, runLoad } from './load.js';

afterEach(cleanup);

async function syncServer(extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const s = start(['sync-app.mjs', '-w', '2', '-k', 'sync', '-b', '127.0.0.1:0', '--log-level', 'debug', ...extra], {
    env,
  });
  const port = await s.port();
  await s.readyWorkers(2);
  return { s, url: (p: string) => `http://127.0.0.1:${port}${p}` };
}

async function maxInFlightPerWorker(s: Awaited<ReturnType<typeof syncServer>>, workers: number[]): Promise<number> {
  // Ask until each worker answered /max once (new connections spread over idle workers).
  const seen = new Map<number, number>();
  for (let i = 0; i < 50 && seen.size < workers.length; i++) {
    const r = await get(s.url('/wait?ms=0'));
    const pid = Number(r.body.trim().split(' ')[1]);
    if (!seen.has(pid)) seen.set(pid, Number((await get(s.url('/max'))).body));
  }
  return Math.max(...seen.values());
}

// A busy sync worker stops accepting: by taking its listener out of the poll set, or where that is not
// available (forced here) by closing it and listening again on a fresh copy from the arbiter.
describe.each([
  ['holding its listener', {}],
  ['closing its listener', { TSUNICORN_NODE_FALLBACK: 'accept-pause' }],
])('-k sync, a busy worker %s', (_how, env: NodeJS.ProcessEnv) => {
  it('4 concurrent 300 ms requests on 2 workers: all 200 in two waves, never more than 1 in flight per worker', async () => {
    const srv = await syncServer([], env);
    const t0 = Date.now();
    const results = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const r = await get(srv.url('/wait?ms=300'));
        return { ...r, at: Date.now() - t0, pid: Number(r.body.trim().split(' ')[1]) };
      }),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    for (const r of results) expect(r.headers.connection).toBe('close');
    // Two waves: each worker served two, one after the other (three waves would leave one worker with three).
    const perWorker = new Map<number, number>();
    for (const r of results) perWorker.set(r.pid, (perWorker.get(r.pid) ?? 0) + 1);
    expect([...perWorker.values()], `responses per worker pid`).toEqual([2, 2]);
    // The second wave waited for the first: it cannot end before two 300 ms waits have passed.
    const times = results.map((r) => r.at).sort((a, b) => a - b);
    expect(times[2]!).toBeGreaterThanOrEqual(550);
    expect(await maxInFlightPerWorker(srv, srv.s.workers())).toBe(1);
  });

  // A request queued behind the busy worker would wait for it; the idle worker answers it instead, while the
  // busy request is still in flight, about as fast as with no busy worker (median of requests before it).
  async function servedBesideBusyWorker(busyPath: string, busyMs: number, requests: number) {
    const srv = await syncServer([], env);
    const baseline = await medianMs(7, () => get(srv.url('/wait?ms=0')));
    const bound = notDelayedBound(baseline, busyMs);
    let busyDone = false;
    const busyReq = get(srv.url(busyPath)).finally(() => (busyDone = true));
    const busy = (await srv.s.waitLog(/long request started in (\d+)/))[1]!;
    for (let i = 0; i < requests; i++) {
      const t0 = performance.now();
      const r = await get(srv.url('/wait?ms=0'));
      const ms = performance.now() - t0;
      expect(r.status).toBe(200);
      expect(r.body).not.toContain(busy);
      expect(busyDone, `request ${i} answered after the busy request ended`).toBe(false);
      expect(ms, `request ${i}: ${ms.toFixed(1)} ms, baseline ${baseline.toFixed(1)} ms`).toBeLessThanOrEqual(bound);
    }
    expect((await busyReq).status).toBe(200);
  }

  it('one worker busy on a 2 s request: 20 requests go to the idle worker, as fast as with none busy', async () => {
    await servedBesideBusyWorker('/wait?ms=2000', 2000, 20);
  });

  it('one worker blocked on the CPU for 1 s: other requests go to the idle worker', async () => {
    await servedBesideBusyWorker('/cpu?ms=1000', 1000, 10);
  });

  it('50 concurrent requests to a 20 ms endpoint: all 200, at most 1 in flight per worker', async () => {
    const srv = await syncServer([], env);
    const results = await Promise.all(Array.from({ length: 50 }, () => get(srv.url('/wait?ms=20'))));
    expect(results.filter((r) => r.status === 200)).toHaveLength(50);
    expect(await maxInFlightPerWorker(srv, srv.s.workers())).toBe(1);
  });
});

describe('-k sync', () => {
  it('sustained load from 50 clients: 0 failures, every response Connection: close', async () => {
    const srv = await syncServer();
    const result = await runLoad({ url: srv.url('/wait?ms=1'), concurrency: 50, durationMs: 2000, keepAlive: true });
    expect(failedCount(result), describeFailures(result)).toBe(0);
    // Keep-alive was asked for; the sync worker closed every connection: one connection per request.
    expect(result.connections).toBe(result.total);
  });

  it('-t 1 with a 3 s request: 504, the worker is replaced, and the log names the request', async () => {
    const srv = await syncServer(['-t', '1']);
    const t0 = Date.now();
    const r = await get(srv.url('/wait?ms=3000'));
    expect(r.status).toBe(504);
    expect(Date.now() - t0).toBeLessThan(2000);
    const m = await srv.s.waitLog(
      /\[CRITICAL\] WORKER TIMEOUT \(pid:(\d+)\) serving GET \/wait: over --timeout 1 s; answered 504/,
    );
    const pid = Number(m[1]);
    await srv.s.waitLog(new RegExp(`Worker \\(pid:${pid}\\) exited after WORKER TIMEOUT`));
    await srv.s.readyWorkers(3);
    expect(srv.s.workers()).not.toContain(pid);
    expect((await get(srv.url('/wait?ms=0'))).status).toBe(200);
  });

  it('-t 1 with a CPU-bound 3 s request: the arbiter kills the blocked worker and names the request', async () => {
    const srv = await syncServer(['-t', '1']);
    const r = await get(srv.url('/cpu?ms=3000')).catch((err: Error) => err);
    expect(r).toBeInstanceOf(Error);
    const m = await srv.s.waitLog(/\[CRITICAL\] WORKER TIMEOUT \(pid:(\d+)\) serving GET \/cpu/);
    await srv.s.waitLog(new RegExp(`Worker \\(pid:${m[1]}\\) was stuck in:`));
    await srv.s.readyWorkers(3);
  });

  it('--threads other than 1 is refused with a clear line', async () => {
    const { runCli } = await import('./harness.js');
    const r = await runCli(['sync-app.mjs', '--threads', '4']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(
      /^tsunicorn: error: invalid value for --threads: "4" \(expected 1; tsunicorn workers run one JavaScript thread each: use -k async/,
    );
  });
});
