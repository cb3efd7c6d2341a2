/**
 * --reload: changed code is served without failing a request; changes under node_modules and
 * dot-directories do not reload.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, get, start, tmpDir, waitFor } from './harness.js';
import { describeFailures, failedCount, startLoad } from './load.js';

afterEach(cleanup);

describe('--reload', () => {
  it('serves changed code without failing a request; changes under node_modules and dot-directories do not reload', async () => {
    const dir = tmpDir();
    const app = (v: number) => `export default (req, res) => res.end(\`v${v} \${process.pid}\\n\`);\n`;
    fs.writeFileSync(path.join(dir, 'app.mjs'), app(1));
    // Exist before the start, so the recursive watch covers them.
    fs.mkdirSync(path.join(dir, 'node_modules', 'dep'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'node_modules', 'dep', 'index.js'), 'module.exports = 1;\n');
    fs.mkdirSync(path.join(dir, '.cache'));
    fs.writeFileSync(path.join(dir, '.cache', 'x'), '1\n');

    const s = start(['app.mjs', '-w', '2', '-b', '127.0.0.1:0', '--reload', '--log-level', 'debug'], { cwd: dir });
    const port = await s.port();
    await s.readyWorkers(2);
    await s.waitLog(/Watching .* for changes \(--reload\)/);
    const oldPids = s.workers();
    const load = startLoad({ url: `http://127.0.0.1:${port}/`, concurrency: 4, durationMs: 15_000, keepAlive: true });

    fs.writeFileSync(path.join(dir, 'app.mjs'), app(2));
    await s.waitLog(/Reloading: .*app\.mjs changed/, 5000);
    const newPids = await waitFor(
      'only v2 from 2 new workers',
      async () => {
        const w = s.workers();
        if (w.length !== 2 || w.some((p) => oldPids.includes(p))) return null;
        for (let i = 0; i < 4; i++) {
          const [v, pid] = (await get(`http://127.0.0.1:${port}/`)).body.trim().split(' ');
          if (v !== 'v2' || !w.includes(Number(pid))) return null;
        }
        return w;
      },
      10_000,
    );
    const result = await load.stop();
    expect(failedCount(result), describeFailures(result)).toBe(0);
    expect(result.bodies.size).toBeGreaterThan(0);
    expect(s.countLog(/Reloading:/)).toBe(1);

    // Ignored paths: no reload within an observation window well beyond the 150 ms debounce…
    fs.writeFileSync(path.join(dir, 'node_modules', 'dep', 'index.js'), 'module.exports = 2;\n');
    fs.writeFileSync(path.join(dir, 'node_modules', 'dep', 'new.js'), 'module.exports = 3;\n');
    fs.writeFileSync(path.join(dir, '.cache', 'x'), '2\n');
    const windowEnd = Date.now() + 1000;
    await waitFor(
      'the observation window to pass without a reload',
      () => {
        if (s.countLog(/Reloading:/) !== 1) throw new Error(`reloaded on an ignored path:\n${s.log}`);
        return Date.now() >= windowEnd;
      },
      3000,
    );
    expect(s.countLog(/Reloading:/)).toBe(1);
    expect(s.workers().sort()).toEqual([...newPids].sort());
    // …while the watcher is still alive: a change elsewhere does reload.
    fs.writeFileSync(path.join(dir, 'other.txt'), 'x\n');
    await s.waitLog(/Reloading: .*other\.txt changed/, 5000);
    expect(s.countLog(/Reloading:/)).toBe(2);
  });
});
