/**
 * --reload-canary with real processes under load: a deploy that answers 500 to everything, or whose worker
 * crashes at boot or shortly after, is rolled back after one canary worker (the old workers keep serving, same
 * pids, same count); a good deploy rolls over with no failed request.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Server, cleanup, get, runCli, start, tmpDir, waitFor } from './harness.js';
import { type LoadResult, describeFailures, failedCount, runLoad, startLoad } from './load.js';

afterEach(cleanup);

/** Replaces app.mjs atomically: the next generation loads `code`. */
function writeApp(dir: string, code: string): void {
  const file = path.join(dir, 'app.mjs');
  fs.writeFileSync(`${file}.tmp`, code);
  fs.renameSync(`${file}.tmp`, file);
}
const good = (v: number) => `export default (req, res) => res.end(\`v${v} \${process.pid}\\n\`);\n`;
const answers500 = 'export default (req, res) => { res.statusCode = 500; res.end(`bad ${process.pid}\\n`); };\n';

async function serve(
  dir: string,
  extra: string[] = [],
): Promise<{ s: Server; port: number; sock: string; pids: number[] }> {
  writeApp(dir, good(1));
  const sock = path.join(dir, 'ctl.sock');
  const s = start(
    [
      'app.mjs',
      '-w',
      '3',
      '-b',
      '127.0.0.1:0',
      '--reload-canary',
      '3',
      '--control-socket',
      sock,
      '--log-level',
      'debug',
      ...extra,
    ],
    { cwd: dir },
  );
  const port = await s.port();
  await s.readyWorkers(3);
  return { s, port, sock, pids: s.workers().sort() };
}

/** Requests that got no answer at all. */
const unanswered = (r: LoadResult) => Object.values(r.errors).reduce((n, c) => n + c, 0);

// Retried: in two earlier full-suite runs (Node 20, 26) a verdict took over 15 s. Their failure output showed
// the log as of the wait's start, since fixed in waitLog, so the cause is unknown; not reproduced in 39 runs
// under load since (issue 19).
describe('--reload-canary', { retry: 2 }, () => {
  it('a deploy that answers 500 is rolled back: only the canary failed requests, none after; old pids kept', async () => {
    const dir = tmpDir();
    const { s, port, sock, pids } = await serve(dir, ['--metrics-bind', '127.0.0.1:0']);
    const url = `http://127.0.0.1:${port}/`;
    const during = startLoad({ url, concurrency: 20, durationMs: 20_000, keepAlive: true });
    writeApp(dir, answers500);
    s.signal('SIGHUP');
    const [, canaryPid] = await s.waitLog(/Canary \(pid:(\d+)\) of generation 2 starting/);
    const failed = await s.waitLog(/Canary \(pid:\d+\) of generation 2 failed: (.*)/, 15_000);
    expect(failed[1]).toMatch(/^5xx: canary 100\.0%, old generation 0\.0%/);
    expect(failed[1]).toMatch(/reload rolled back, the 3 old workers keep serving until the next HUP/);
    await waitFor('canary gone', () => !s.workers().includes(Number(canaryPid)));
    const window = await during.stop();
    // Every 500 came from the canary: its share of one worker in four, never the old workers'.
    const bad = [...window.bodies.keys()].filter((b) => b.startsWith('bad '));
    expect(bad.every((b) => b === `bad ${canaryPid}`)).toBe(true);
    expect(unanswered(window), describeFailures(window)).toBe(0);
    expect(failedCount(window)).toBe(window.statuses[500]);
    const served500 = window.statuses[500] ?? 0;
    expect(served500).toBeGreaterThan(0);
    expect(served500).toBeLessThan(window.total / 2);

    const rest = await runLoad({ url, concurrency: 20, durationMs: 3000, keepAlive: true });
    expect(failedCount(rest), describeFailures(rest)).toBe(0);
    expect(rest.total).toBeGreaterThan(100);
    expect(s.workers().sort()).toEqual(pids);
    console.log(
      `[canary] bad deploy: during the window ${served500} of ${window.total} requests answered 500 (all by the canary), ` +
        `${unanswered(window)} unanswered; after the rollback ${failedCount(rest)} failed of ${rest.total}`,
    );

    const status = await runCli(['ctl', 'status', '--control-socket', sock]);
    expect(status.stdout).toMatch(
      new RegExp(`canary ${canaryPid} \\(generation 2\\): rolled-back \\(5xx\\): 5xx: canary`),
    );
    const json = JSON.parse((await runCli(['ctl', 'status', '--json', '--control-socket', sock])).stdout);
    expect(json.canary).toMatchObject({ generation: 2, pid: Number(canaryPid), state: 'rolled-back', reason: '5xx' });
    const metricsAt = (await s.waitLog(/Serving metrics at: (http:\S+)/))[1]!;
    const metrics = (await get(metricsAt)).body;
    expect(metrics).toMatch(/tsunicorn_reload_canary_total\{result="5xx"\} 1/);
    expect(metrics).toMatch(/tsunicorn_reload_canary_total\{result="passed"\} 0/);

    // The next HUP with good code rolls over.
    writeApp(dir, good(3));
    s.signal('SIGHUP');
    await s.waitLog(/Canary \(pid:\d+\) of generation 3 passed/, 15_000);
    await waitFor(
      '3 workers of generation 3',
      async () => {
        const now = s.workers();
        return now.length === 3 && now.every((p) => !pids.includes(p)) ? now : null;
      },
      15_000,
    );
  }, 60_000);

  it('a good deploy passes the canary and rolls over with no failed request', async () => {
    const dir = tmpDir();
    const { s, port, pids } = await serve(dir);
    const load = startLoad({ url: `http://127.0.0.1:${port}/`, concurrency: 20, durationMs: 20_000, keepAlive: true });
    writeApp(dir, good(2));
    s.signal('SIGHUP');
    const passed = await s.waitLog(/Canary \(pid:\d+\) of generation 2 passed \((.*)\); rolling over/, 15_000);
    expect(passed[1]).toMatch(/5xx: canary 0\.0%, old generation 0\.0%/);
    const fresh = await waitFor(
      '3 workers of generation 2',
      () => {
        const now = s.workers();
        return now.length === 3 && now.every((p) => !pids.includes(p)) ? now : null;
      },
      15_000,
    );
    const result = await load.stop();
    expect(failedCount(result), describeFailures(result)).toBe(0);
    for (let i = 0; i < 6; i++) {
      const [v, pid] = (await get(`http://127.0.0.1:${port}/`)).body.trim().split(' ');
      expect(v).toBe('v2');
      expect(fresh).toContain(Number(pid));
    }
    console.log(`[canary] good deploy: ${failedCount(result)} failed of ${result.total} requests; ${passed[1]}`);
  }, 60_000);

  it('a deploy whose p99 is many times the old one is rolled back for latency', async () => {
    const dir = tmpDir();
    const { s, port, pids } = await serve(dir);
    // One connection per request: a slow canary holds few keep-alive connections, and so few requests.
    const load = startLoad({ url: `http://127.0.0.1:${port}/`, concurrency: 20, durationMs: 20_000, keepAlive: false });
    writeApp(dir, `export default (req, res) => setTimeout(() => res.end('slow'), 200);\n`);
    s.signal('SIGHUP');
    const failed = await s.waitLog(/Canary \(pid:\d+\) of generation 2 failed: (.*)/, 15_000);
    expect(failed[1]).toMatch(/^p99: canary \d+\.\d ms, old generation \d+\.\d ms \(max ratio 2;/);
    await waitFor('the canary gone', () => (s.workers().length === 3 ? true : null));
    const result = await load.stop();
    expect(failedCount(result), describeFailures(result)).toBe(0);
    expect(s.workers().sort()).toEqual(pids);
    console.log(`[canary] slow deploy: ${failed[1]}`);
  }, 60_000);

  it.each([
    ['at boot', 'throw new Error("no database");\nexport default () => {};\n', /failed to boot/],
    ['shortly after', `setTimeout(() => process.exit(3), 500);\n${good(2)}`, /exited with code 3/],
  ])(
    'a canary that crashes %s is rolled back; the old workers keep serving',
    async (_when, code, why) => {
      const dir = tmpDir();
      const { s, port, pids } = await serve(dir);
      const load = startLoad({
        url: `http://127.0.0.1:${port}/`,
        concurrency: 10,
        durationMs: 20_000,
        keepAlive: true,
      });
      writeApp(dir, code);
      s.signal('SIGHUP');
      const failed = await s.waitLog(/Canary \(pid:\d+\) of generation 2 failed: (.*)/, 15_000);
      expect(failed[1]).toMatch(why);
      await waitFor('the canary gone', () => (s.workers().length === 3 ? true : null));
      const result = await load.stop();
      expect(s.workers().sort()).toEqual(pids);
      // No new worker of the failed generation is started after the rollback.
      expect(s.countLog(/Canary \(pid:\d+\) of generation 2 starting/)).toBe(1);
      console.log(
        `[canary] crash ${_when}: ${failedCount(result)} failed of ${result.total} requests (${describeFailures(result)})`,
      );
      const rest = await runLoad({
        url: `http://127.0.0.1:${port}/`,
        concurrency: 10,
        durationMs: 2000,
        keepAlive: true,
      });
      expect(failedCount(rest), describeFailures(rest)).toBe(0);
      expect(rest.total).toBeGreaterThan(100);
    },
    60_000,
  );
});
