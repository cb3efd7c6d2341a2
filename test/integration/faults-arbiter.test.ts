/**
 * Faults injected into a running arbiter, under load, counting failed requests:
 * the arbiter stopped (SIGSTOP) longer than --timeout, its stderr a full pipe
 * nobody reads, an access log on a full disk (ENOSPC), and apps whose import
 * fails intermittently or for good once some workers serve. docs/reliability.md
 * has the table; each test prints one `[fault] …` line with what it measured.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, FIXTURES, cleanup, get, isAlive, lineCollector, start, tmpDir, waitFor, workersOf } from './harness.js';
import { type LoadResult, describeFailures, failedCount, runLoad, startLoad } from './load.js';

/** Processes started here without the harness (their stderr is not a harness pipe): killed by pid. */
const spawned: number[] = [];

afterEach(async () => {
  for (const p of spawned.splice(0)) if (isAlive(p)) process.kill(p, 'SIGKILL');
  await cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const report = (fault: string, r: LoadResult, extra = ''): void => {
  console.log(`[fault] ${fault}: ${failedCount(r)} failed of ${r.total}${extra ? ` ${extra}` : ''}`);
};

describe('the arbiter stopped (SIGSTOP) longer than --timeout', () => {
  it('-w 2 -t 2, stopped 5 s under load: no worker is timed out or replaced, no request fails', async () => {
    const s = start(['node-app.mjs', '-w', '2', '-b', '127.0.0.1:0', '-t', '2', '--log-level', 'debug'], {
      ownSession: true,
    });
    const port = await s.port();
    await s.readyWorkers(2);
    const workers = s.workers().sort();
    const load = startLoad({ url: `http://127.0.0.1:${port}/`, concurrency: 4, durationMs: 20_000, keepAlive: true });
    s.signal('SIGSTOP');
    await sleep(5000); // the fault's length, not a synchronisation
    s.signal('SIGCONT');
    // Three timeouts after it resumed: long enough for any wrong verdict to be acted on.
    const t0 = Date.now();
    await waitFor(
      '6 s after SIGCONT',
      () => {
        if (s.countLog(/WORKER TIMEOUT/) > 0) throw new Error(`a worker was timed out:\n${s.log}`);
        return Date.now() - t0 > 6000;
      },
      10_000,
    );
    const result = await load.stop();
    const timeouts = s.countLog(/WORKER TIMEOUT/);
    report('arbiter stopped 5 s, -w 2 -t 2, 4 keep-alive clients', result, `(${timeouts} timeouts)`);
    expect(failedCount(result), describeFailures(result)).toBe(0);
    expect(s.countLog(/WORKER TIMEOUT/)).toBe(0);
    expect(s.workers().sort(), s.log).toEqual(workers);
  }, 40_000);

  it('a worker that hangs while the arbiter is stopped is killed about --timeout after it resumed', async () => {
    const s = start(['busy-app.mjs', '-w', '2', '-b', '127.0.0.1:0', '-t', '2', '--log-level', 'debug'], {
      ownSession: true,
    });
    const port = await s.port();
    await s.readyWorkers(2);
    s.signal('SIGSTOP');
    const spin = get(`http://127.0.0.1:${port}/spin`).catch((err: Error) => err);
    await sleep(3000);
    s.signal('SIGCONT');
    const t0 = Date.now();
    const m = await s.waitLog(/spinning in (\d+)/);
    const stuck = Number(m[1]);
    await waitFor(`the stuck worker ${stuck} killed`, () => !isAlive(stuck), 8000);
    // Killed within a timeout (2 s) plus the stack capture and abort grace after SIGCONT; its sibling lives on.
    expect(Date.now() - t0).toBeLessThan(6000);
    expect(await spin).toBeInstanceOf(Error);
    expect(s.countLog(/\[CRITICAL\] WORKER TIMEOUT/)).toBe(1);
  }, 30_000);
});

/** A FIFO opened for reading (kept open, read only on demand), which `fill()` fills until a write would block. */
function fifo(dir: string): { writeFd: number; fill(): void; drain(): string } {
  const file = path.join(dir, 'stderr.fifo');
  execFileSync('mkfifo', [file]);
  const readFd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  // The arbiter gets a blocking descriptor, as from a shell pipeline; the filling is done through another one.
  const writeFd = fs.openSync(file, fs.constants.O_WRONLY);
  const filler = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  const buf = Buffer.alloc(65536);
  return {
    writeFd,
    fill() {
      const chunk = Buffer.alloc(4096, '.');
      for (;;) {
        try {
          if (fs.writeSync(filler, chunk) < chunk.length) break;
        } catch {
          break; // EAGAIN: full.
        }
      }
    },
    drain() {
      let text = '';
      for (;;) {
        let n = 0;
        try {
          n = fs.readSync(readFd, buf);
        } catch {
          break;
        }
        if (n <= 0) break;
        text += buf.subarray(0, n).toString('latin1');
      }
      return text.replace(/\.+/g, '');
    },
  };
}

describe("the arbiter's stderr a full pipe nobody reads", () => {
  it('-w 2 -t 2, signals to log: the loop runs on (TTOU, TTIN), no timeout, no failed request', async () => {
    const dir = tmpDir();
    const pipe = fifo(dir);
    const sock = path.join(dir, 'app.sock');
    const args = ['node-app.mjs', '-w', '2', '-b', `unix:${sock}`, '-t', '2', '--log-level', 'debug'];
    const proc = spawn(process.execPath, [BIN, ...args], {
      cwd: FIXTURES,
      env: { ...process.env, TSUNICORN_CMD_ARGS: '', PORT: '', WEB_CONCURRENCY: '' },
      stdio: ['ignore', 'ignore', pipe.writeFd],
    });
    fs.closeSync(pipe.writeFd);
    const pid = proc.pid!;
    spawned.push(pid);
    const url = 'http://localhost/';
    const lines: string[] = [];
    const collect = lineCollector(lines);
    await waitFor(
      '2 workers serving',
      async () => {
        collect(Buffer.from(pipe.drain(), 'latin1'));
        for (const p of workersOf(pid)) spawned.push(p);
        return workersOf(pid).length === 2 && (await get(url, { socketPath: sock })).status === 200;
      },
      15_000,
    );
    await waitFor('2 ready workers', () => {
      collect(Buffer.from(pipe.drain(), 'latin1'));
      return lines.filter((l) => /is ready$/.test(l)).length >= 2;
    });
    pipe.fill();
    const load = startLoad({ url, socketPath: sock, concurrency: 4, durationMs: 30_000, keepAlive: true });
    const t0 = Date.now();
    let sent = 0;
    // Signals the arbiter logs (USR1 only reopens log files), every 100 ms for 8 s: four --timeouts.
    await waitFor(
      '8 s of signals',
      () => {
        if (Date.now() - t0 > sent * 100) {
          process.kill(pid, 'SIGUSR1');
          sent++;
        }
        return Date.now() - t0 > 8000;
      },
      12_000,
      20,
    );
    // The loop runs on: it retires a worker (TTOU) and starts one (TTIN) while stderr stays full.
    const before = workersOf(pid);
    process.kill(pid, 'SIGTTOU');
    await waitFor('one worker retired', () => workersOf(pid).length === 1, 8000);
    process.kill(pid, 'SIGTTIN');
    await waitFor('a new worker serving', () => workersOf(pid).length === 2, 8000);
    const result = await load.stop();
    report(`arbiter's stderr a full pipe, ${sent} USR1 + TTOU + TTIN, -w 2 -t 2, 4 keep-alive clients`, result);
    expect(failedCount(result), describeFailures(result)).toBe(0);
    // Once the pipe is read again, every line held back comes out, and no healthy worker was timed out.
    lines.length = 0;
    await waitFor(
      'the lines held back',
      () => {
        collect(Buffer.from(pipe.drain(), 'latin1'));
        return lines.some((l) => /Handling signal: ttin/.test(l));
      },
      10_000,
      100,
    );
    expect(lines.filter((l) => /Handling signal: usr1/.test(l)).length).toBeGreaterThan(10);
    expect(lines.join('\n')).not.toMatch(/WORKER TIMEOUT/);
    expect(workersOf(pid).filter((p) => before.includes(p))).toHaveLength(1);
  }, 60_000);
});

/** An app whose import fails, from its third boot on, while `broken` exists in `dir` (a per-worker resource gone). */
function writeFlakyApp(dir: string): void {
  fs.writeFileSync(
    path.join(dir, 'flaky.mjs'),
    `import fs from 'node:fs';
let n = 0;
for (;;) {
  try { fs.writeFileSync(${JSON.stringify(dir)} + '/boot.' + n, '', { flag: 'wx' }); break; } catch { n++; }
}
if (n >= 2 && fs.existsSync(${JSON.stringify(dir)} + '/broken')) {
  throw new Error('per-worker resource gone (boot ' + n + ')');
}
export default (req, res) => res.end('ok ' + process.pid + '\\n');
`,
  );
}

describe('import failures once workers serve', () => {
  it('-w 4, imports fail after two booted: slots back off (logged), two serve; then 4 again', async () => {
    const dir = tmpDir();
    writeFlakyApp(dir);
    fs.writeFileSync(path.join(dir, 'broken'), '');
    const s = start(['flaky.mjs', '-w', '4', '-b', '127.0.0.1:0', '--log-level', 'debug'], { cwd: dir });
    const port = await s.port();
    await s.readyWorkers(2);
    const load = startLoad({ url: `http://127.0.0.1:${port}/`, concurrency: 4, durationMs: 30_000, keepAlive: false });
    const boots = () => fs.readdirSync(dir).filter((f) => f.startsWith('boot.')).length;
    const t0 = Date.now();
    const b0 = boots();
    // Without a backoff the two failing slots boot ~15 times a second; with it, a handful in 6 s.
    const BOUND = 16;
    await waitFor(
      '6 s of failing boots',
      () => {
        if (boots() - b0 > BOUND) throw new Error(`${boots() - b0} boots in ${Date.now() - t0} ms:\n${s.log}`);
        return Date.now() - t0 > 6000;
      },
      10_000,
      100,
    );
    const failing = boots() - b0;
    expect(s.log).toMatch(/failed to import: per-worker resource gone/);
    await s.waitLog(
      /Worker \(pid:\d+\) failed to boot \(exit 3; [3-9]\d* in a row, 2 workers serving\); next attempt in \d+\.\d s/,
    );
    expect(isAlive(s.pid)).toBe(true);
    // The resource is back: the slots fill within one capped backoff.
    fs.unlinkSync(path.join(dir, 'broken'));
    await waitFor('4 workers ready', () => s.countLog(/is ready$/) >= 4, 20_000, 100);
    const result = await load.stop();
    report('imports fail after 2 of -w 4 booted, 4 close clients', result, `(${failing} boots in 6 s)`);
    expect(failedCount(result), describeFailures(result)).toBe(0);
    expect(result.total).toBeGreaterThan(100);
    expect(s.workers()).toHaveLength(4);
  }, 45_000);
});

/** A 64 KB tmpfs (needs root with CAP_SYS_ADMIN), or null when one cannot be mounted here. */
function tinyDisk(dir: string): string | null {
  const mnt = path.join(dir, 'disk');
  fs.mkdirSync(mnt);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt], { stdio: 'ignore' });
    mounts.push(mnt);
    return mnt;
  } catch {
    return null;
  }
}

/** Fills the filesystem at `dir` until writes fail with ENOSPC; returns the filler's path. */
function fillDisk(dir: string): string {
  const filler = path.join(dir, 'filler');
  const fd = fs.openSync(filler, 'w');
  const chunk = Buffer.alloc(4096, 'f');
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (err) {
    expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
  } finally {
    fs.closeSync(fd);
  }
  return filler;
}

const mounts: string[] = [];
afterEach(async () => {
  await cleanup();
  for (const m of mounts.splice(0)) execFileSync('umount', ['-l', m], { stdio: 'ignore' });
});

describe('an access log on a full disk (ENOSPC)', () => {
  // Mounting needs root with CAP_SYS_ADMIN; elsewhere this fault is skipped.
  const probe = process.getuid?.() === 0 ? tinyDisk(tmpDir()) : null;
  if (probe) execFileSync('umount', ['-l', mounts.pop()!], { stdio: 'ignore' });
  const canMount = probe !== null;
  it.skipIf(!canMount)(
    'serving goes on, lost lines are counted and reported; USR1 recovers',
    async () => {
      const dir = tmpDir();
      const disk = tinyDisk(dir)!;
      const access = path.join(disk, 'access.log');
      const s = start([
        'node-app.mjs',
        '-w',
        '1',
        '-b',
        '127.0.0.1:0',
        '--access-logfile',
        access,
        '--log-level',
        'debug',
      ]);
      const port = await s.port();
      await s.readyWorkers(1);
      await get(`http://127.0.0.1:${port}/`);
      await waitFor('the first line logged', () => fs.readFileSync(access, 'utf8').length > 0);
      const filler = fillDisk(disk);
      const url = `http://127.0.0.1:${port}/`;
      const during = await runLoad({ url, concurrency: 2, durationMs: 10_000, maxRequests: 300, keepAlive: true });
      expect(failedCount(during), describeFailures(during)).toBe(0);
      await s.waitLog(/\[ERROR\] Access log .*access\.log: cannot write \(ENOSPC\); lines are dropped until it can/);
      // The operator frees space and rotates the log; USR1 reopens it.
      fs.unlinkSync(filler);
      fs.renameSync(access, `${access}.1`);
      s.signal('SIGUSR1');
      await waitFor('the new access log', () => fs.existsSync(access));
      const after = await runLoad({ url, concurrency: 2, durationMs: 10_000, maxRequests: 20, keepAlive: true });
      expect(failedCount(after), describeFailures(after)).toBe(0);
      const m = await s.waitLog(/\[WARNING\] Access log .*access\.log: (\d+) lines lost \(ENOSPC\); writing again/);
      // Each request of the fault is either in the old file (the room left in its last page) or counted lost.
      const kept = (fs.readFileSync(`${access}.1`, 'utf8').match(/\n/g) ?? []).length - 1;
      report('access log on a full disk, 300 requests', during, `(${m[1]} lines reported lost, ${kept} kept)`);
      expect(Number(m[1])).toBeGreaterThan(100);
      expect(Number(m[1]) + kept).toBe(300);
      const logged = () => fs.readFileSync(access, 'utf8').split('\n').filter(Boolean).length;
      await waitFor('the later requests logged', () => logged() >= 20);
    },
    40_000,
  );
});

describe('intermittent import failures', () => {
  it('--max-requests recycles workers and every third boot fails: retried with backoff, no request fails', async () => {
    const dir = tmpDir();
    fs.writeFileSync(
      path.join(dir, 'sometimes.mjs'),
      `import fs from 'node:fs';
let n = 0;
for (;;) {
  try { fs.writeFileSync(${JSON.stringify(dir)} + '/boot.' + n, '', { flag: 'wx' }); break; } catch { n++; }
}
if (n >= 3 && n % 3 === 0) throw new Error('flaky dependency (boot ' + n + ')');
export default (req, res) => res.end('ok ' + process.pid + '\\n');
`,
    );
    const args = ['sometimes.mjs', '-w', '3', '-b', '127.0.0.1:0', '--max-requests', '100', '--log-level', 'debug'];
    const s = start(args, { cwd: dir });
    const port = await s.port();
    await s.readyWorkers(3);
    const url = `http://127.0.0.1:${port}/`;
    const result = await runLoad({ url, concurrency: 4, durationMs: 8000, keepAlive: true });
    report('every third boot fails, --max-requests 100, -w 3, 4 keep-alive clients', result);
    expect(failedCount(result), describeFailures(result)).toBe(0);
    expect(s.countLog(/failed to import: flaky dependency/)).toBeGreaterThanOrEqual(1);
    const retried = s.countLog(/failed to boot \(exit 3; \d+ in a row, \d workers serving\); next attempt in/);
    expect(retried).toBeGreaterThanOrEqual(2);
    expect(isAlive(s.pid)).toBe(true);
    await waitFor('3 workers again', () => s.workers().length === 3, 15_000);
  }, 40_000);
});
