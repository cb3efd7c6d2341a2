/**
 * Sync workers (-k sync): one request at a time per worker whatever the app
 * does, `Connection: close`, no request queued behind a busy worker while
 * another is idle, and --timeout as a request deadline.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, get, start } from './harness.js';
import { describeFailures, failedCount, runLoad } from './load.js';

afterEach(cleanup);

async function syncServer(extra: string[] = []) {
  const s = start(['sync-app.mjs', '-w', '2', '-k', 'sync', '-b', '127.0.0.1:0', '--log-level', 'debug', ...extra]);
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

describe('-k sync', () => {
  it('4 concurrent 300 ms requests on 2 workers: all 200 in two waves, never more than 1 in flight per worker', async () => {
    const srv = await syncServer();
    const t0 = Date.now();
    const results = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const r = await get(srv.url('/wait?ms=300'));
        return { ...r, at: Date.now() - t0 };
      }),
    );
    const total = Date.now() - t0;
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    for (const r of results) expect(r.headers.connection).toBe('close');
    expect(total).toBeLessThan(900);
    // Two waves: two finish after ~300 ms, two after ~600 ms.
    const times = results.map((r) => r.at).sort((a, b) => a - b);
    expect(times[1]!).toBeLessThan(550);
    expect(times[2]!).toBeGreaterThanOrEqual(550);
    expect(await maxInFlightPerWorker(srv, srv.s.workers())).toBe(1);
  });

  it('one worker busy on a 2 s request: 20 sequential requests each complete within 100 ms', async () => {
    const srv = await syncServer();
    const long = get(srv.url('/wait?ms=2000'));
    const m = await srv.s.waitLog(/long request started in (\d+)/);
    const busy = m[1];
    for (let i = 0; i < 20; i++) {
      const t0 = Date.now();
      const r = await get(srv.url('/wait?ms=0'));
      expect(r.status).toBe(200);
      expect(r.body).not.toContain(busy);
      expect(Date.now() - t0, `request ${i}`).toBeLessThan(100);
    }
    expect((await long).status).toBe(200);
  });

  it('one worker blocked on the CPU for 1 s: other requests go to the idle worker', async () => {
    const srv = await syncServer();
    const cpu = get(srv.url('/cpu?ms=1000'));
    const busy = (await srv.s.waitLog(/long request started in (\d+)/))[1];
    for (let i = 0; i < 10; i++) {
      const t0 = Date.now();
      const r = await get(srv.url('/wait?ms=0'));
      expect(r.status).toBe(200);
      expect(r.body).not.toContain(busy);
      expect(Date.now() - t0, `request ${i}`).toBeLessThan(100);
    }
    expect((await cpu).status).toBe(200);
  });

  it('50 concurrent requests to a 20 ms endpoint: all 200, at most 1 in flight per worker', async () => {
    const srv = await syncServer();
    const results = await Promise.all(Array.from({ length: 50 }, () => get(srv.url('/wait?ms=20'))));
    expect(results.filter((r) => r.status === 200)).toHaveLength(50);
    expect(await maxInFlightPerWorker(srv, srv.s.workers())).toBe(1);
  });

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
    const m = await srv.s.waitLog(/\[CRITICAL\] WORKER TIMEOUT \(pid:(\d+)\) serving GET \/wait: over --timeout 1 s; answered 504/);
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
    expect(r.stderr.trim()).toMatch(/^tsunicorn: error: invalid value for --threads: "4" \(expected 1; tsunicorn workers run one JavaScript thread each: use -k async/);
  });
});
