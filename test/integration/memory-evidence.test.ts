/**
 * Evidence before a memory recycle: --max-worker-heap replaces a leaking
 * worker gracefully before V8 would abort it, and --diagnostics-dir keeps its
 * Node diagnostic report; a worker killed at --timeout leaves its stack.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, get, start, tmpDir, waitFor } from './harness.js';

afterEach(cleanup);

const files = (dir: string, re: RegExp) => fs.readdirSync(dir).filter((n) => re.test(n));

/** A V8 heap snapshot of `pid`, mode 0600, as Chrome DevTools reads it: JSON with its node and edge tables. */
function expectHeapSnapshot(dir: string, pid: number, file: string): void {
  expect(path.dirname(file)).toBe(dir);
  expect(path.basename(file)).toMatch(new RegExp(`^tsunicorn-heap-${pid}-\\d{8}T\\d{9}Z\\.heapsnapshot$`));
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  const snapshot = JSON.parse(fs.readFileSync(file, 'utf8'));
  expect(snapshot.snapshot.meta.node_fields).toContain('name');
  expect(snapshot.snapshot.node_count).toBeGreaterThan(1000);
  expect(snapshot.nodes.length).toBe(snapshot.snapshot.node_count * snapshot.snapshot.meta.node_fields.length);
}

/** One worker with -t 2 and --diagnostics-dir, sent into a busy loop: the pid that is now stuck. */
async function spinUntilTimeout(extra: string[]) {
  const dir = path.join(tmpDir(), 'diagnostics');
  const s = start([
    'busy-app.mjs',
    ...['-w', '1', '-b', '127.0.0.1:0', '-t', '2', '--log-level', 'debug', '--diagnostics-dir', dir],
    ...extra,
  ]);
  const port = await s.port();
  await s.readyWorkers(1);
  void get(`http://127.0.0.1:${port}/spin`).catch(() => {});
  const stuck = Number((await s.waitLog(/spinning in (\d+)/))[1]);
  return { dir, s, stuck };
}

describe('--max-worker-heap and --diagnostics-dir', () => {
  it('a leaking worker is recycled gracefully at 50 % of its heap limit; its diagnostic report and heap snapshot are kept', async () => {
    const dir = path.join(tmpDir(), 'diagnostics');
    const s = start(
      [
        'leaky-app.mjs',
        '-w',
        '1',
        '-b',
        '127.0.0.1:0',
        '-t',
        '2',
        '--log-level',
        'debug',
        '--max-worker-heap',
        '50',
        '--diagnostics-dir',
        dir,
        '--diagnostics-heap-snapshot',
      ],
      { nodeArgs: ['--max-old-space-size=512'] },
    );
    const base = `http://127.0.0.1:${await s.port()}`;
    await s.readyWorkers(1);
    type Heap = { used: number; limit: number; pid: number };
    const heap = async () => JSON.parse((await get(`${base}/heap`)).body) as Heap;
    const first = await heap();
    // Leak until the heap in use is past 55 % of the limit (heap_size_limit counts the young generation too;
    // V8 aborts when the old generation, 512 MB here, is full: 192 MB of young generation on Node 24+ put
    // 50 % of a 128 MB heap past its old space), a little at a time.
    for (let i = 0; i < 300; i++) {
      const h = await heap();
      if (h.pid !== first.pid || h.used > h.limit * 0.55) break;
      await get(`${base}/leak?mb=2`);
    }
    await s.waitLog(
      new RegExp(
        `Worker \\(pid:${first.pid}\\) uses \\d+ MB of V8 heap, \\d+ % of its \\d+ MB limit, ` +
          'above --max-worker-heap 50 % for 3 heartbeats; replacing it',
      ),
    );
    const wrote = await s.waitLog(/Wrote diagnostic report of worker \(pid:(\d+)\) to (\S+)$/);
    expect(Number(wrote[1])).toBe(first.pid);
    await s.waitLog(new RegExp(`Worker exiting \\(pid: ${first.pid}\\)`));
    await waitFor('a new worker serving', async () => (await heap()).pid !== first.pid);
    expect(s.log).not.toMatch(/heap out of memory|was sent SIG|exited with code/);

    const [name] = files(dir, /^tsunicorn-report-\d+-\d{8}T\d{9}Z\.json$/);
    expect(name).toBe(path.basename(wrote[2]!));
    expect(name).toMatch(new RegExp(`^tsunicorn-report-${first.pid}-`));
    expect(fs.statSync(path.join(dir, name!)).mode & 0o777).toBe(0o600);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    const report = JSON.parse(fs.readFileSync(path.join(dir, name!), 'utf8'));
    expect(report.header.processId).toBe(first.pid);
    expect(report.javascriptHeap.totalMemory).toBeGreaterThan(0);
    expectHeapSnapshot(dir, first.pid, (await s.waitLog(/Wrote heap snapshot of worker \(pid:(\d+)\) to (\S+)$/))[2]!);
  }, 30_000);

  it('a worker killed at --timeout leaves its JavaScript stack in the diagnostics directory', async () => {
    const { dir, s, stuck } = await spinUntilTimeout([]);
    await s.waitLog(new RegExp(`Wrote timeout stack of worker \\(pid:${stuck}\\)`), 10_000);
    const [name] = files(dir, new RegExp(`^tsunicorn-timeout-${stuck}-\\d{8}T\\d{9}Z\\.txt$`));
    const text = fs.readFileSync(path.join(dir, name!), 'utf8');
    expect(text).toMatch(new RegExp(`^WORKER TIMEOUT pid ${stuck} at `));
    expect(text).toMatch(/at spinForever \(file:\/\/.*busy-app\.mjs:\d+:\d+\)/);
  }, 20_000);

  it('with --diagnostics-heap-snapshot a worker killed at --timeout also leaves a heap snapshot, then its stack', async () => {
    const { dir, s, stuck } = await spinUntilTimeout(['--diagnostics-heap-snapshot']);
    const wrote = await s.waitLog(new RegExp(`Wrote heap snapshot of worker \\(pid:${stuck}\\) to (\\S+)$`), 15_000);
    expectHeapSnapshot(dir, stuck, wrote[1]!);
    // The snapshot closes the inspector behind it; the stack probe opens it again.
    await s.waitLog(new RegExp(`Wrote timeout stack of worker \\(pid:${stuck}\\)`), 10_000);
    await s.waitLog(/at spinForever \(file:\/\/.*busy-app\.mjs:\d+:\d+\)/);
    await waitFor('the stuck worker gone', () => !s.workers().includes(stuck));
  }, 30_000);

  it('a diagnostics directory others can write, or a symlink, is refused at start (exit 2)', async () => {
    const root = tmpDir();
    const open = path.join(root, 'open');
    fs.mkdirSync(open, { mode: 0o777 });
    fs.chmodSync(open, 0o777);
    fs.symlinkSync(open, path.join(root, 'link'));
    const cases = [
      [open, 'is writable by group or others'],
      [path.join(root, 'link'), 'is a symbolic link'],
    ];
    for (const [dir, why] of cases) {
      const s = start(['node-app.mjs', '-b', '127.0.0.1:0', '--diagnostics-dir', dir!]);
      expect((await s.waitExit()).code).toBe(2);
      expect(s.log).toContain(`--diagnostics-dir ${dir} ${why}`);
    }
  });
});
