/**
 * Stopping and dying: TERM is graceful, INT/QUIT quick, a second INT makes a
 * graceful stop quick, kill -9 of the master leaves no worker, a killed
 * worker is replaced while its connections wait in the backlog, and the
 * pidfile's lifecycle.
 */
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, get, isAlive, runCli, start, tmpDir, waitFor, WORKER_CLASSES, useWorkerClass } from './harness.js';
import { sendRaw } from './raw.js';

afterEach(cleanup);

describe.each(WORKER_CLASSES)('%s workers', (workerClass) => {
  beforeAll(() => useWorkerClass(workerClass));
  afterAll(() => useWorkerClass(null));

  describe('stopping', () => {
    it('TERM during a 1 s request: the request completes with 200, the master exits 0, no worker remains', async () => {
      const s = start(['node-app.mjs', '-w', '2', '-b', '127.0.0.1:0', '--log-level', 'debug']);
      const port = await s.port();
      await s.readyWorkers(2);
      const workers = s.workers();
      const slow = get(`http://127.0.0.1:${port}/slow?ms=1000`);
      await s.waitLog(/slow request started/);
      s.signal('SIGTERM');
      const res = await slow;
      expect(res.status).toBe(200);
      expect(res.body).toMatch(/^slow \d+/);
      expect(await s.waitExit()).toEqual({ code: 0, signal: null });
      for (const pid of workers) expect(isAlive(pid)).toBe(false);
      expect(s.log).toMatch(/Shutting down: Master/);
    });

    it.each(['SIGINT', 'SIGQUIT'] as const)('%s is quick: exits 0 without waiting for a 10 s request', async (sig) => {
      const s = start(['node-app.mjs', '-w', '2', '-b', '127.0.0.1:0', '--log-level', 'debug']);
      const port = await s.port();
      await s.readyWorkers(2);
      const workers = s.workers();
      const slow = get(`http://127.0.0.1:${port}/slow?ms=10000`).catch((err: Error) => err);
      await s.waitLog(/slow request started/);
      s.signal(sig);
      expect(await s.waitExit(3000)).toEqual({ code: 0, signal: null });
      expect(await slow).toBeInstanceOf(Error);
      for (const pid of workers) expect(isAlive(pid)).toBe(false);
    });

    it('a second INT during a graceful stop makes it quick', async () => {
      const s = start([
        'node-app.mjs',
        '-w',
        '1',
        '-b',
        '127.0.0.1:0',
        '--graceful-timeout',
        '30',
        '--log-level',
        'debug',
      ]);
      const port = await s.port();
      await s.readyWorkers(1);
      const slow = get(`http://127.0.0.1:${port}/slow?ms=20000`).catch((err: Error) => err);
      await s.waitLog(/slow request started/);
      s.signal('SIGTERM');
      await s.waitLog(/Handling signal: term/);
      await s.waitLog(/Worker exiting/);
      s.signal('SIGINT');
      expect(await s.waitExit(3000)).toEqual({ code: 0, signal: null });
      expect(await slow).toBeInstanceOf(Error);
    });

    it('the graceful timeout bounds a graceful stop: a stuck request is cut off and the master still exits 0', async () => {
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
      const slow = get(`http://127.0.0.1:${port}/slow?ms=20000`).catch((err: Error) => err);
      await s.waitLog(/slow request started/);
      s.signal('SIGTERM');
      expect(await s.waitExit(5000)).toEqual({ code: 0, signal: null });
      expect(await slow).toBeInstanceOf(Error);
    });

    it('kill -9 of the master: no worker is alive 2 s later', async () => {
      const s = start(['node-app.mjs', '-w', '3', '-b', '127.0.0.1:0', '--log-level', 'debug']);
      await s.readyWorkers(3);
      const workers = s.workers();
      expect(workers).toHaveLength(3);
      s.signal('SIGKILL');
      await s.waitExit();
      await waitFor('workers to exit after the master died', () => workers.every((pid) => !isAlive(pid)), 2000);
    });
  });

  describe('worker replacement', () => {
    it('a connection opened while the only worker is being replaced is served, not refused', async () => {
      const s = start(['node-app.mjs', '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug']);
      const port = await s.port();
      await s.readyWorkers(1);
      const [old] = s.workers();
      process.kill(old!, 'SIGKILL');
      await waitFor('the worker to die', () => !isAlive(old!));
      // No worker is alive now: this connection waits in the listen backlog.
      const res = await get(`http://127.0.0.1:${port}/`);
      expect(res.status).toBe(200);
      const pid = Number(res.body.trim().split(' ')[1]);
      expect(pid).not.toBe(old);
      expect(s.workers()).toEqual([pid]);
      await s.waitLog(new RegExp(`Worker \\(pid:${old}\\) was sent SIGKILL`));
    });

    it('--worker-connections caps concurrent connections per worker; excess connections wait and are all served', async () => {
      const s = start([
        'node-app.mjs',
        '-w',
        '1',
        '-b',
        '127.0.0.1:0',
        '--worker-connections',
        '2',
        '--log-level',
        'debug',
      ]);
      const port = await s.port();
      await s.readyWorkers(1);
      const results = await Promise.all(Array.from({ length: 6 }, () => get(`http://127.0.0.1:${port}/slow?ms=200`)));
      expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
      const max = await get(`http://127.0.0.1:${port}/max-inflight`);
      // The app counts requests in flight: never more than the 2 allowed connections (a sync worker: 1).
      expect(Number(max.body)).toBe(workerClass === 'sync' ? 1 : 2);
    });
  });
});

describe('pidfile', () => {
  it('is written after bind, names the master, refuses a second server, and is removed at exit', async () => {
    const dir = tmpDir();
    const pidfile = path.join(dir, 'app.pid');
    const s = start(['node-app.mjs', '-b', '127.0.0.1:0', '-p', pidfile, '--log-level', 'debug']);
    await s.readyWorkers(1);
    expect(fs.readFileSync(pidfile, 'utf8').trim()).toBe(String(s.pid));

    const second = await runCli(['node-app.mjs', '-b', '127.0.0.1:0', '-p', pidfile]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`pidfile .*app\\.pid names a running process \\(pid ${s.pid}\\)`));
    expect(second.stderr).not.toMatch(/Booting worker/);
    expect(fs.readFileSync(pidfile, 'utf8').trim()).toBe(String(s.pid));

    s.signal('SIGTERM');
    expect((await s.waitExit()).code).toBe(0);
    expect(fs.existsSync(pidfile)).toBe(false);
  });

  it('a stale pidfile (dead pid) is replaced', async () => {
    const dir = tmpDir();
    const pidfile = path.join(dir, 'app.pid');
    // A pid that cannot be alive: above the kernel's pid_max.
    fs.writeFileSync(pidfile, '99999999\n');
    const s = start(['node-app.mjs', '-b', '127.0.0.1:0', '-p', pidfile, '--log-level', 'debug']);
    await s.readyWorkers(1);
    expect(fs.readFileSync(pidfile, 'utf8').trim()).toBe(String(s.pid));
  });
});

describe('listeners', () => {
  it('a stale unix socket file is replaced, a live one is refused', async () => {
    const dir = tmpDir();
    const sock = path.join(dir, 'app.sock');
    // A socket file with nothing behind it, as a crashed server leaves: a process that listens, then is SIGKILLed.
    spawnSync(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(sock)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    expect(fs.existsSync(sock)).toBe(true);
    const s = start(['node-app.mjs', '-b', `unix:${sock}`, '--log-level', 'debug']);
    await s.readyWorkers(1);
    expect((await get('http://localhost/', { socketPath: sock })).status).toBe(200);

    const second = await runCli(['node-app.mjs', '-b', `unix:${sock}`]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/cannot bind unix:.*app\.sock: address already in use/);
  });
});

describe('graceful stop of an async worker', () => {
  it('TERM with two requests pipelined on a connection: both are answered, the last with a close', async () => {
    const s = start(['node-app.mjs', '-w', '1', '-k', 'async', '-b', '127.0.0.1:0', '--log-level', 'debug']);
    const port = await s.port();
    await s.readyWorkers(1);
    const req = (ms: number) => `GET /slow?ms=${ms} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const raw = sendRaw(port, req(1000) + req(1500), { timeoutMs: 10_000 });
    // Node runs a pipelined request at once; its response waits for the one before it.
    await waitFor('both requests started', () => s.countLog(/slow request started/) >= 2);
    s.signal('SIGTERM');
    const r = await raw;
    expect(r.statuses).toEqual([200, 200]);
    expect(r.closed).toBe(true);
    const [first, second] = r.text.split(/(?=HTTP\/1\.1 )/);
    expect(first).toMatch(/\r\nConnection: keep-alive\r\n/i);
    expect(second).toMatch(/\r\nConnection: close\r\n/i);
    expect(await s.waitExit()).toEqual({ code: 0, signal: null });
  });
});
