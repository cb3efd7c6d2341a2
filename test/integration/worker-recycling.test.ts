/**
 * Workers replaced by the arbiter: --max-worker-memory, the crash backoff, and --graceful-timeout
 * bounding a retiring worker.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, get, isAlive, start, tmpDir, waitFor } from './harness.js';
import { describeFailures, failedCount, startLoad } from './load.js';

afterEach(cleanup);

describe('--max-worker-memory', () => {
  it('a worker that retains ~120 MB is replaced under load, with no failed request', async () => {
    const dir = tmpDir();
    fs.writeFileSync(
      path.join(dir, 'hog.mjs'),
      `const hoard = [];
export default (req, res) => {
  if (req.url === '/hog') {
    // 12 × 10 MB, filled so the pages are really resident.
    for (let i = 0; i < 12; i++) hoard.push(Buffer.alloc(10 * 1024 * 1024, i + 1));
    res.end(\`hogged \${process.pid}\\n\`);
    return;
  }
  res.end(\`ok \${process.pid}\\n\`);
};
`,
    );
    // -t 3: a heartbeat every 750 ms, so the 3 strikes take about 2 s.
    const s = start(
      ['hog.mjs', '-w', '1', '-t', '3', '--max-worker-memory', '80', '-b', '127.0.0.1:0', '--log-level', 'debug'],
      { cwd: dir },
    );
    const port = await s.port();
    await s.readyWorkers(1);
    const load = startLoad({ url: `http://127.0.0.1:${port}/`, concurrency: 4, durationMs: 15_000, keepAlive: true });
    const hog = await get(`http://127.0.0.1:${port}/hog`);
    expect(hog.status).toBe(200);
    const hogPid = Number(hog.body.trim().split(' ')[1]);
    const m = await s.waitLog(
      /Worker \(pid:(\d+)\) uses (\d+) MB, above --max-worker-memory 80 MB; replacing it/,
      10_000,
    );
    expect(Number(m[1])).toBe(hogPid);
    expect(Number(m[2])).toBeGreaterThan(80);
    await waitFor(
      'the hog to exit and a new worker to serve',
      async () => {
        if (isAlive(hogPid)) return false;
        const r = await get(`http://127.0.0.1:${port}/`);
        return r.status === 200 && r.body.startsWith('ok ') && !r.body.includes(String(hogPid));
      },
      10_000,
    );
    const result = await load.stop();
    expect(failedCount(result), describeFailures(result)).toBe(0);
    expect(s.countLog(/above --max-worker-memory/)).toBe(1);
    expect(s.workers()).toHaveLength(1);
  });
});

describe('crash backoff', () => {
  it('workers that die right after boot are restarted with a backoff, not in a loop; TERM still exits 0', async () => {
    const dir = tmpDir();
    fs.writeFileSync(
      path.join(dir, 'crashy.mjs'),
      'setTimeout(() => process.exit(1), 50);\nexport default (req, res) => res.end("short-lived\\n");\n',
    );
    const s = start(['crashy.mjs', '-w', '1', '-b', '127.0.0.1:0'], { cwd: dir });
    await s.waitLog(/Workers keep dying right after boot \(\d+ in a row\); next start in/);
    const t0 = Date.now();
    // Without a backoff a worker boots every ~150 ms (about 20 in 3 s); with it, far fewer.
    const BOUND = 8;
    await waitFor(
      `3 s to pass with at most ${BOUND} boots`,
      () => {
        const boots = s.countLog(/Booting worker with pid/);
        if (boots > BOUND) throw new Error(`${boots} boots within ${Date.now() - t0} ms:\n${s.log}`);
        return Date.now() - t0 >= 3000;
      },
      5000,
    );
    expect(s.countLog(/Booting worker with pid/)).toBeLessThanOrEqual(BOUND);
    expect(s.countLog(/Booting worker with pid/)).toBeGreaterThanOrEqual(3);
    expect(isAlive(s.pid)).toBe(true);
    s.signal('SIGTERM');
    expect(await s.waitExit()).toEqual({ code: 0, signal: null });
  });
});

describe('retiring worker', () => {
  it('with --graceful-timeout 1 and a 20 s request in flight, TTIN+TTOU: the old worker is gone ~1 s later; serving continues', async () => {
    const s = start([
      'node-app.mjs',
      '-w',
      '1',
      '-b',
      '127.0.0.1:0',
      '--graceful-timeout',
      '1',
      '--log-level',
      'debug',
    ]);
    const port = await s.port();
    await s.readyWorkers(1);
    const [old] = s.workers();
    const slow = get(`http://127.0.0.1:${port}/slow?ms=20000`).catch((err: Error) => err);
    await s.waitLog(new RegExp(`slow request started in ${old}`));
    s.signal('SIGTTIN');
    await s.readyWorkers(2);
    const [fresh] = s.workers().filter((p) => p !== old);
    s.signal('SIGTTOU');
    await s.waitLog(new RegExp(`Retiring worker \\(pid:${old}\\): scale`));
    const retiredAt = Date.now();
    await waitFor(`old worker ${old} to be gone`, () => !isAlive(old!), 5000);
    const took = Date.now() - retiredAt;
    expect(took).toBeGreaterThanOrEqual(700);
    expect(took).toBeLessThan(3000);
    expect(s.log).toMatch(
      new RegExp(
        `Worker \\(pid:${old}\\) did not exit in time; sending SIGKILL|Worker \\(pid: ${old}\\) did not finish within the graceful timeout`,
      ),
    );
    const cut = await slow;
    expect(cut instanceof Error || cut.status !== 200, 'the 20 s request cannot have completed').toBe(true);
    for (let i = 0; i < 3; i++) {
      const r = await get(`http://127.0.0.1:${port}/`);
      expect(r.status).toBe(200);
      expect(r.body.trim()).toBe(`node ${fresh}`);
    }
    expect(s.workers()).toEqual([fresh]);
  });
});
