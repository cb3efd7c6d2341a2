/**
 * Fault injection, worker side and USR2 (issue 16): each fault is injected into the real processes,
 * under load where it matters, and the failed requests are counted. docs/reliability.md has the table.
 * Each test prints one `[fault] …` line with what it measured.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Client } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, cleanup, get, isAlive, start, tmpDir, waitFor, workersOf } from './harness.js';
import { type LoadResult, describeFailures, failedCount, startLoad } from './load.js';

afterEach(cleanup);

const report = (fault: string, r: LoadResult | null, extra = ''): void => {
  console.log(`[fault] ${fault}: ${r ? `${failedCount(r)} failed of ${r.total}` : ''}${extra ? ` ${extra}` : ''}`);
};

/** CPU time (user + system) a process has used, in seconds. */
function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Runs node under `ulimit -n LIMIT` (the shell execs node: same pid). */
const underUlimit = (limit: number) => ({
  node: '/bin/sh',
  nodeArgs: ['-c', `ulimit -n ${limit} && exec "$0" "$@"`, process.execPath],
});

describe('a worker out of file descriptors', () => {
  it('ulimit -n 80, 150 idle connections: the worker stays up, drops none, does not spin, then serves', async () => {
    const s = start(['node-app.mjs', '-w', '1', '-b', '127.0.0.1:0', '-t', '2', '--log-level', 'debug'], {
      ...underUlimit(80),
    });
    const port = await s.port();
    await s.readyWorkers(1);
    const [worker] = s.workers();
    const sockets = Array.from({ length: 150 }, () => {
      const sock = net.connect(port, '127.0.0.1');
      const state = { sock, connected: false, closedByServer: false };
      sock.on('connect', () => (state.connected = true));
      sock.on('error', () => {});
      sock.on('end', () => (state.closedByServer = true));
      sock.on('close', () => (state.closedByServer = true));
      return state;
    });
    try {
      await waitFor('150 connections established (accepted or in the backlog)', () =>
        sockets.every((x) => x.connected),
      );
      // A window of several beats (-t 2: one every 500 ms) with the worker holding every descriptor it may.
      const cpu0 = cpuSeconds(worker!);
      const t0 = Date.now();
      await waitFor('a 3 s window', () => Date.now() - t0 >= 3000, 5000, 100);
      const cpu = cpuSeconds(worker!) - cpu0;
      const wall = (Date.now() - t0) / 1000;
      expect(s.workers(), s.log).toEqual([worker]);
      expect(s.log).not.toMatch(/Uncaught exception|exited with code|WORKER TIMEOUT/);
      expect(sockets.filter((x) => x.closedByServer)).toHaveLength(0);
      // A worker spinning on accept errors would use the whole window.
      expect(cpu, `worker CPU ${cpu} s in ${wall} s`).toBeLessThan(wall / 4);
      await s.waitLog(
        /Open files limit \(ulimit -n\) 80 is below --worker-connections 1000: this worker holds at most \d+/,
      );
      const measured = `0 dropped, worker CPU ${cpu.toFixed(2)} s in ${wall.toFixed(1)} s`;
      report('worker out of fds (ulimit -n 80, 150 idle connections)', null, measured);
    } finally {
      for (const x of sockets) x.sock.destroy();
    }
    const served = await waitFor('a request served after the connections closed', async () => {
      const r = await get(`http://127.0.0.1:${port}/`);
      return r.status === 200 ? r.body.trim() : null;
    });
    expect(served).toBe(`node ${worker}`);
  }, 30_000);

  it('an app that uses up its descriptors: the worker keeps beating and serving its connections, stops accepting, \
the other worker serves, and it recovers', async () => {
    // --keep-alive 30: the test's own connection to the hogging worker outlives the load.
    const args = ['fd-hog-app.mjs', '-w', '2', '-b', '127.0.0.1:0', '-t', '2', '--keep-alive', '30'];
    args.push('--log-level', 'debug');
    const s = start(args, underUlimit(256));
    const port = await s.port();
    await s.readyWorkers(2);
    const url = `http://127.0.0.1:${port}/`;
    const client = new Client(url, { pipelining: 1 });
    try {
      const hogged = await (await client.request({ path: '/hog', method: 'GET' })).body.text();
      expect(hogged).toMatch(/^hogged \d+/);
      const whoAmI = async () => (await (await client.request({ path: '/', method: 'GET' })).body.text()).trim();
      const hog = Number((await whoAmI()).split(' ')[1]);
      const other = s.workers().find((p) => p !== hog)!;
      // Until its next beat finds it out of descriptors, libuv accepts and closes the connections it wins.
      const early = startLoad({ url, concurrency: 8, durationMs: 10_000, keepAlive: false });
      await s.waitLog(new RegExp(`Worker \\(pid: ${hog}\\) is out of file descriptors: not accepting connections`));
      const before = await early.stop();
      // From then on it accepts nothing, and the other worker takes every connection.
      const cpu0 = cpuSeconds(hog);
      const r = await startLoad({ url, concurrency: 8, durationMs: 3000, keepAlive: false }).result;
      const cpu = cpuSeconds(hog) - cpu0;
      // Several beats went by at EMFILE: the worker is the same, and still answers on its connection.
      expect(s.workers().sort()).toEqual([hog, other].sort());
      expect(await whoAmI()).toBe(`fd ${hog}`);
      expect(s.log).not.toMatch(/Uncaught exception|exited with code|WORKER TIMEOUT/);
      expect(cpu, `worker CPU ${cpu} s in ${r.durationMs} ms`).toBeLessThan(r.durationMs / 1000 / 4);
      expect(failedCount(r), describeFailures(r)).toBe(0);
      expect(r.bodies.get(`fd ${other}`)).toBe(r.total);
      report('app uses up its fds (ulimit -n 256, -w 2, close), until its next beat', before, describeFailures(before));
      report('app uses up its fds (ulimit -n 256, -w 2, close), 3 s after', r, `worker CPU ${cpu.toFixed(2)} s`);
      expect(await (await client.request({ path: '/release', method: 'GET' })).body.text()).toBe('released\n');
      // Recovered: the worker accepts new connections again.
      await s.waitLog(new RegExp(`Worker \\(pid: ${hog}\\) has file descriptors again: accepting connections`));
      await waitFor('a new connection to the recovered worker', async () => (await get(url)).body === `fd ${hog}\n`);
    } finally {
      await client.close();
    }
  }, 30_000);
});

/**
 * A server whose workers load the listen-faults.mjs preload, armed by a marker file in a fresh directory
 * (`variable` names which fault; see the fixture). `extra` goes to the command line, `env` to the environment.
 */
function faultyServer(workers: number, variable: string, name: string, extra: string[] = [], env = {}) {
  const marker = path.join(tmpDir(), name);
  const args = ['node-app.mjs', '-w', String(workers), '-b', '127.0.0.1:0', ...extra, '--log-level', 'debug'];
  const s = start(args, {
    nodeArgs: ['--import', path.join(FIXTURES, 'listen-faults.mjs')],
    env: { [variable]: marker, ...env },
  });
  return { s, marker };
}

/** --worker-connections 1: every connection fills the worker, which pauses accepting until it closes. */
const ONE_CONNECTION = ['--worker-connections', '1'];
const CLOSE_TO_PAUSE = { TSUNICORN_NODE_FALLBACK: 'accept-pause' };

// Only a worker that closes its listener to pause listens again (TSUNICORN_NODE_FALLBACK=accept-pause); one that
// takes it out of the poll set never does.
describe('a listener that cannot listen again after start', () => {
  it('is logged, and the worker stops and is replaced (it does not stay deaf or crash)', async () => {
    const { s, marker } = faultyServer(1, 'TSU_FAIL_LISTEN', 'fail-listen', ONE_CONNECTION, CLOSE_TO_PAUSE);
    const port = await s.port();
    await s.readyWorkers(1);
    const [worker] = s.workers();
    // One connection fills the worker (--worker-connections 1): it stops accepting. When it closes, the worker
    // listens again on its spare handle, and that listen fails.
    const client = new Client(`http://127.0.0.1:${port}`, { pipelining: 1 });
    expect((await (await client.request({ path: '/', method: 'GET' })).body.text()).trim()).toBe(`node ${worker}`);
    fs.writeFileSync(marker, '');
    await client.close();
    await waitFor('the injected listen error', () => fs.existsSync(`${marker}.fired`));
    const address = `http://127\\.0\\.0\\.1:${port}`;
    const failed = `Worker \\(pid: ${worker}\\) cannot listen on ${address}: EADDRINUSE; stopping to be replaced$`;
    await s.waitLog(new RegExp(failed));
    await waitFor('the worker replaced', () => !isAlive(worker!) && s.workers().length === 1);
    const served = await waitFor('a request served by the new worker', async () => {
      const r = await get(`http://127.0.0.1:${port}/`);
      return r.status === 200 ? r.body.trim() : null;
    });
    expect(served).toMatch(/^node \d+$/);
    expect(served).not.toBe(`node ${worker}`);
    expect(s.log).not.toMatch(/Uncaught exception/);
  }, 30_000);

  it('under load (-w 2): the worker finishes what it has, and no request fails', async () => {
    const { s, marker } = faultyServer(2, 'TSU_FAIL_LISTEN', 'fail-listen', ONE_CONNECTION, CLOSE_TO_PAUSE);
    const port = await s.port();
    await s.readyWorkers(2);
    const before = s.workers();
    const load = startLoad({ url: `http://127.0.0.1:${port}/`, concurrency: 8, durationMs: 4000, keepAlive: false });
    await waitFor('load flowing', async () => (await get(`http://127.0.0.1:${port}/`)).status === 200);
    // The next worker to listen again after a pause gets the error.
    fs.writeFileSync(marker, '');
    const m = await s.waitLog(/Worker \(pid: (\d+)\) cannot listen on .*: EADDRINUSE; stopping to be replaced$/);
    const failing = Number(m[1]);
    expect(before).toContain(failing);
    await waitFor('the worker replaced', () => !isAlive(failing) && s.workers().length === 2, 10_000);
    await waitFor('the new worker ready', () => s.countLog(/is ready$/) >= 3, 10_000);
    // The load runs on past the replacement.
    const r = await load.result;
    expect(failedCount(r), describeFailures(r)).toBe(0);
    report('listen error after start (-w 2, --worker-connections 1, 8 close clients)', r, describeFailures(r));
  }, 40_000);
});

describe('a listener libuv will not take out of the poll set or put back', () => {
  it('is closed instead, the worker listens on its spare copy and serves on; no error, no replacement', async () => {
    const { s, marker } = faultyServer(1, 'TSU_FAIL_WATCH', 'fail-watch', ONE_CONNECTION);
    const port = await s.port();
    await s.readyWorkers(1);
    const [worker] = s.workers();
    const served = async () => {
      for (let i = 0; i < 5; i++) {
        const r = await get(`http://127.0.0.1:${port}/`);
        expect(r.status).toBe(200);
        expect(r.body.trim()).toBe(`node ${worker}`);
      }
      expect(fs.existsSync(`${marker}.fired`), 'the injected readStart error').toBe(true);
      fs.rmSync(`${marker}.fired`);
    };
    // Each connection fills the worker (--worker-connections 1): it pauses when it accepts one, resumes when it
    // closes. The pause fails:
    fs.writeFileSync(marker, '');
    await served();
    // The resume fails: the marker appears while a keep-alive connection holds the worker paused.
    const client = new Client(`http://127.0.0.1:${port}`, { pipelining: 1 });
    expect((await (await client.request({ path: '/', method: 'GET' })).body.text()).trim()).toBe(`node ${worker}`);
    fs.writeFileSync(marker, '');
    await client.close();
    await served();
    expect(s.workers()).toEqual([worker]);
    expect(s.log).not.toMatch(/cannot listen|Uncaught exception/);
  }, 30_000);
});

describe('accept errors that reach the server (EMFILE without a reserve descriptor)', () => {
  it('pause accepting in that worker for a moment, logged once; the other serves; no crash at the 2nd', async () => {
    const { s, marker } = faultyServer(2, 'TSU_FAIL_ACCEPT', 'fail-accept');
    const port = await s.port();
    await s.readyWorkers(2);
    const [failing, other] = s.workers();
    fs.writeFileSync(marker, String(failing));
    const url = `http://127.0.0.1:${port}/`;
    const r = await startLoad({ url, concurrency: 8, durationMs: 3000, keepAlive: false }).result;
    expect(s.workers().sort()).toEqual([failing, other].sort());
    expect(s.log).not.toMatch(/Uncaught exception|exited with code/);
    const pausing = new RegExp(`Worker \\(pid: ${failing}\\) cannot accept connections on .*: EMFILE; pausing accept`);
    expect(s.countLog(pausing)).toBe(1);
    expect(r.bodies.get(`node ${other}`) ?? 0).toBeGreaterThan(100);
    expect(r.bodies.get(`node ${failing}`) ?? 0).toBe(0);
    report('accept errors in one worker (-w 2, 8 clients, close, 3 s)', r, describeFailures(r));
    fs.rmSync(marker);
    await waitFor('the worker accepting again', async () => (await get(url)).body.trim() === `node ${failing}`, 10_000);
  }, 30_000);
});

describe('a worker stopped (SIGSTOP) for longer than --timeout, under load', () => {
  it('is killed after the timeout and replaced; only its own requests fail, the other worker serves', async () => {
    const s = start(['node-app.mjs', '-w', '2', '-b', '127.0.0.1:0', '-t', '2', '--log-level', 'debug'], {
      ownSession: true,
    });
    const port = await s.port();
    await s.readyWorkers(2);
    const [stopped, other] = s.workers();
    const concurrency = 10;
    const load = startLoad({ url: `http://127.0.0.1:${port}/`, concurrency, durationMs: 8000, keepAlive: false });
    await waitFor('load flowing', async () => (await get(`http://127.0.0.1:${port}/`)).status === 200);
    process.kill(stopped!, 'SIGSTOP');
    await s.waitLog(new RegExp(`WORKER TIMEOUT \\(pid:${stopped}\\)`), 10_000);
    await waitFor('the stopped worker gone and replaced', () => !isAlive(stopped!) && s.workers().length === 2, 10_000);
    const r = await load.result;
    expect(s.workers()).toContain(other);
    // Each client has one request in flight: those waiting on the stopped worker fail, no other.
    expect(failedCount(r), describeFailures(r)).toBeLessThanOrEqual(concurrency);
    expect(r.bodies.get(`node ${other}`) ?? 0).toBeGreaterThan(100);
    report('worker SIGSTOP > --timeout (-w 2 -t 2, 10 clients, close)', r, describeFailures(r));
  }, 40_000);
});

describe('a worker past V8 heap limit', () => {
  it('aborts, is replaced, and the log says why', async () => {
    // No core file from the abort: run from a scratch directory with core dumps off.
    const dir = tmpDir();
    fs.copyFileSync(path.join(FIXTURES, 'heap-leak-app.mjs'), path.join(dir, 'heap-leak-app.mjs'));
    const s = start(['heap-leak-app.mjs', '-w', '2', '-b', '127.0.0.1:0', '--log-level', 'debug'], {
      cwd: dir,
      node: '/bin/sh',
      nodeArgs: ['-c', 'ulimit -c 0 && exec "$0" "$@"', process.execPath, '--max-old-space-size=48'],
    });
    const port = await s.port();
    await s.readyWorkers(2);
    const url = `http://127.0.0.1:${port}/`;
    const load = startLoad({ url, concurrency: 8, durationMs: 15_000, keepAlive: false });
    const client = new Client(url, { pipelining: 1 });
    const who = (await (await client.request({ path: '/', method: 'GET' })).body.text()).trim();
    const leaking = Number(who.split(' ')[1]);
    await (await client.request({ path: '/leak', method: 'GET' })).body.text();
    await client.close().catch(() => {});
    await s.waitLog(new RegExp(`Worker \\(pid:${leaking}\\) .*out of memory`), 30_000);
    await waitFor('the worker replaced', () => !isAlive(leaking) && s.workers().length === 2, 10_000);
    const r = await load.stop();
    expect(s.log).toMatch(/JavaScript heap out of memory/);
    report('worker past the V8 heap limit (-w 2, 8 clients, close)', r, describeFailures(r));
    expect(r.ok).toBeGreaterThan(0);
  }, 60_000);
});

describe('USR2 whose new master cannot be started', () => {
  it('is logged once, forgets the successor, and a later USR2 works; socket files go at the final exit', async () => {
    const dir = tmpDir();
    // The arbiter execs process.execPath for the new master: run it from a copy we can take away. Not a hard
    // link: the chmod below would change the real binary's inode, and other tests would fail to spawn it.
    const node = path.join(dir, 'node');
    fs.copyFileSync(process.execPath, node);
    fs.chmodSync(node, 0o755);
    const sock = path.join(dir, 'app.sock');
    const s = start(['node-app.mjs', '-w', '1', '-b', `unix:${sock}`, '--log-level', 'debug'], { node });
    await s.readyWorkers(1);
    const load = startLoad({
      url: 'http://localhost/',
      socketPath: sock,
      concurrency: 4,
      durationMs: 20_000,
      keepAlive: true,
    });

    fs.renameSync(node, `${node}.gone`);
    s.signal('SIGUSR2');
    await s.waitLog(/Upgrade failed: cannot start a new master: spawn .*node ENOENT.*; this master carries on/);
    // Not executable: EACCES, the same recovery.
    fs.renameSync(`${node}.gone`, node);
    fs.chmodSync(node, 0o644);
    s.signal('SIGUSR2');
    await s.waitLog(/Upgrade failed: cannot start a new master: spawn .*node EACCES/);
    expect(s.countLog(/Upgrade failed/)).toBe(2);
    expect(s.log).not.toMatch(/USR2 ignored/);

    fs.chmodSync(node, 0o755);
    s.signal('SIGUSR2');
    const m = await s.waitLog(/Upgrading: started new master \(pid: (\d+)\)/);
    const successor = Number(m[1]);
    s.adopt(successor);
    await waitFor("the new master's worker", () => workersOf(successor).length === 1, 15_000);
    s.adopt(successor);
    // Hand over: the old master stops, the new one serves on the same socket.
    s.signal('SIGTERM');
    expect((await s.waitExit()).code).toBe(0);
    expect(fs.existsSync(sock)).toBe(true);
    const r = await load.stop();
    expect(failedCount(r), describeFailures(r)).toBe(0);
    const served = await get('http://localhost/', { socketPath: sock });
    expect(workersOf(successor)).toContain(Number(served.body.trim().split(' ')[1]));
    process.kill(successor, 'SIGTERM');
    await waitFor('the new master to exit', () => !isAlive(successor), 10_000);
    expect(fs.existsSync(sock)).toBe(false);
    report('USR2 cannot spawn (ENOENT, EACCES), then USR2 + TERM old, unix socket keep-alive', r, describeFailures(r));
  }, 60_000);
});

describe('kill -9 of the arbiter', () => {
  it('leaves no orphan: every worker exits within a deadline', async () => {
    const s = start(['node-app.mjs', '-w', '3', '-b', '127.0.0.1:0', '--log-level', 'debug'], {});
    const port = await s.port();
    await s.readyWorkers(3);
    const workers = s.workers();
    expect(workers).toHaveLength(3);
    const url = `http://127.0.0.1:${port}/`;
    const load = startLoad({ url, concurrency: 8, durationMs: 10_000, keepAlive: true, errorBackoffMs: 20 });
    await waitFor('load flowing', async () => (await get(`http://127.0.0.1:${port}/`)).status === 200);
    const t0 = Date.now();
    s.signal('SIGKILL');
    await waitFor('every worker gone', () => workers.every((p) => !isAlive(p)), 5000);
    const gone = Date.now() - t0;
    const r = await load.stop();
    report(
      'kill -9 of the arbiter (-w 3, 8 keep-alive clients)',
      r,
      `workers gone in ${gone} ms; ${describeFailures(r)}`,
    );
  }, 30_000);
});
