/**
 * `tsunicorn ctl stack | kill | config | listeners` against a real arbiter:
 * the stack of a busy worker (its loop blocked) and of an idle one, read
 * without killing either and with the inspector closed after each read;
 * --no-stack-capture refuses; kill replaces one worker under load with no
 * failed request and refuses a pid that is not a worker; config is what
 * --print-config prints; listeners name each address, its fd and workers.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listeningSockets } from '../../src/arbiter/diagnostics/process-listeners.js';
import { cleanup, get, isAlive, runCli, serveWithControlSocket, start, tmpDir, waitFor } from './harness.js';
import { describeFailures, failedCount, startLoad } from './load.js';

afterEach(cleanup);

const serve = (args: string[], workers = 2) => serveWithControlSocket(args, workers);

const ctl = (sock: string, ...args: string[]) =>
  runCli(['ctl', ...args, '--control-socket', sock], { timeoutMs: 30_000 });

interface Stack {
  pid: number;
  loop: 'idle' | 'blocked';
  stack?: string;
  error?: string;
}

/** The worker's loopback listeners other than the app's port: an inspector left open would be one. */
async function otherLoopbackListeners(pid: number, appPort: number): Promise<number[]> {
  return (await listeningSockets(pid)).filter((l) => l.port !== appPort).map((l) => l.port);
}

describe('ctl stack', () => {
  it('a worker spinning in the app: its frames, loop blocked; an idle one: loop idle; both keep running', async () => {
    // --timeout 0: the arbiter never aborts the spinning worker itself.
    const { s, sock, port } = await serve(['busy-app.mjs', '--timeout', '0']);
    void get(`http://127.0.0.1:${port}/spin`).catch(() => {});
    const busy = Number((await s.waitLog(/spinning in (\d+)/))[1]);
    const idle = s.workers().find((p) => p !== busy)!;

    // The loop counts as blocked once two beats (1 s apart) are missing.
    const read = await waitFor(
      'a stack of the spinning worker with its loop blocked',
      async () => {
        const r = await ctl(sock, 'stack', String(busy), '--json');
        expect(r.code, r.stderr).toBe(0);
        const [st] = JSON.parse(r.stdout) as Stack[];
        return st!.loop === 'blocked' ? st : null;
      },
      20_000,
      500,
    );
    expect(read.pid).toBe(busy);
    expect(read.stack).toMatch(/at spinForever \(file:\/\/.*busy-app\.mjs:\d+:\d+\)/);
    expect(read.stack).toMatch(/at handleBusyRequest /);

    const text = await ctl(sock, 'stack', String(busy));
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(
      new RegExp(`^worker ${busy} \\(generation 1\\), event loop blocked \\(no heartbeat for [\\d.]+ s\\)`),
    );
    expect(text.stdout).toContain('at spinForever');

    const idleRead = await ctl(sock, 'stack', String(idle), '--json');
    expect(idleRead.code, idleRead.stderr).toBe(0);
    const [st] = JSON.parse(idleRead.stdout) as Stack[];
    expect(st).toMatchObject({ pid: idle, loop: 'idle' });
    expect(st!.stack).toMatch(/^ {4}at /);

    // Neither was killed nor left with an open inspector; the idle one still answers; no timeout was logged.
    expect(isAlive(busy)).toBe(true);
    expect(isAlive(idle)).toBe(true);
    expect(await otherLoopbackListeners(busy, port)).toEqual([]);
    expect(await otherLoopbackListeners(idle, port)).toEqual([]);
    expect((await get(`http://127.0.0.1:${port}/`)).body).toBe(`busy-app ${idle}\n`);
    expect(s.workers().sort()).toEqual([busy, idle].sort());
    expect(s.log).not.toMatch(/WORKER TIMEOUT/);
    expect(s.countLog(/Handling control command: stack \d+$/)).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it('with no pid: every worker, oldest first; a pid that is not a worker is refused', async () => {
    const { s, sock } = await serve(['node-app.mjs']);
    const r = await ctl(sock, 'stack', '--json');
    expect(r.code, r.stderr).toBe(0);
    const stacks = JSON.parse(r.stdout) as Stack[];
    expect(stacks.map((x) => x.pid).sort()).toEqual(s.workers().sort());
    expect(stacks.every((x) => x.loop === 'idle' && /^ {4}at /.test(x.stack ?? ''))).toBe(true);
    // The master is not one of its workers.
    const bad = await ctl(sock, 'stack', String(s.pid));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(new RegExp(`error: pid ${s.pid} is not one of this arbiter's workers`));
  }, 45_000);

  it('--no-stack-capture: refused with the reason, nothing signalled', async () => {
    const { s, sock } = await serve(['node-app.mjs', '--no-stack-capture'], 1);
    const r = await ctl(sock, 'stack');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: stack capture is off \(--no-stack-capture\)/);
    expect(s.log).not.toMatch(/Debugger listening/);
  }, 30_000);
});

describe('ctl kill', () => {
  it('replaces one worker gracefully under load (no failed request); refuses pids that are not workers', async () => {
    const { s, sock, port } = await serve(['node-app.mjs']);
    const [victim, other] = s.workers();
    const load = startLoad({ url: `http://127.0.0.1:${port}/`, concurrency: 4, durationMs: 20_000, keepAlive: true });
    await waitFor(
      'some load served',
      async () => {
        const r = await ctl(sock, 'status', '--json');
        return (JSON.parse(r.stdout) as { workers: { requests: number }[] }).workers.some((w) => w.requests > 20);
      },
      15_000,
      200,
    );

    const r = await ctl(sock, 'kill', String(victim));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^replacing worker ${victim}`));
    await waitFor(
      `worker ${victim} gone and a new one ready`,
      () => {
        const now = s.workers();
        return !isAlive(victim!) && now.length === 2 && now.includes(other!) && s.countLog(/is ready$/) >= 3;
      },
      20_000,
      100,
    );
    const result = await load.stop();
    expect(failedCount(result), describeFailures(result)).toBe(0);
    expect(s.log).toMatch(new RegExp(`Retiring worker \\(pid:${victim}\\): ctl-kill`));

    // The master, this test's own process, pid 1: none is one of its workers, and none is signalled.
    for (const pid of [s.pid, process.pid]) {
      const bad = await ctl(sock, 'kill', String(pid));
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(new RegExp(`error: pid ${pid} is not one of this arbiter's workers`));
    }
    expect(isAlive(s.pid)).toBe(true);
    for (const args of [['kill'], ['kill', '1'], ['kill', 'abc']]) {
      const usage = await ctl(sock, ...args);
      expect(usage.code, args.join(' ')).toBe(2);
    }
  }, 60_000);
});

describe('ctl config and ctl listeners', () => {
  it('config prints what --print-config prints for the same options; --json gives the values', async () => {
    const dir = tmpDir();
    const sock = path.join(dir, 'ctl.sock');
    const args = [
      'node-app.mjs',
      '-w',
      '2',
      '-b',
      '127.0.0.1:0',
      '--log-level',
      'debug',
      '--control-socket',
      sock,
      '--timeout',
      '17',
    ];
    const printed = await runCli([...args, '--print-config']);
    expect(printed.code).toBe(0);
    const s = start(args);
    await s.readyWorkers(2);
    const r = await ctl(sock, 'config');
    expect(r.code, r.stderr).toBe(0);
    // Only the mode itself differs.
    const strip = (text: string) => text.split('\n').filter((l) => !/^printConfig\s/.test(l));
    expect(strip(r.stdout)).toEqual(strip(printed.stdout));
    expect(r.stdout).toMatch(/^timeout\s+= 17$/m);
    const json = JSON.parse((await ctl(sock, 'config', '--json')).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ workers: 2, timeout: 17, controlSocket: sock });
  }, 45_000);

  it('listeners: each bound address with its fd in the arbiter, its kind and the workers holding it', async () => {
    const dir = tmpDir();
    const unix = path.join(dir, 'app.sock');
    const { s, sock, port } = await serve(['node-app.mjs', '-b', `unix:${unix}`]);
    const r = await ctl(sock, 'listeners', '--json');
    expect(r.code, r.stderr).toBe(0);
    const listeners = JSON.parse(r.stdout) as { address: string; fd: number; kind: string; workers: number[] }[];
    const workers = s.workers().sort();
    // In the order of the --bind options.
    expect(listeners.map((l) => [l.address, l.kind])).toEqual([
      [`unix:${unix}`, 'unix'],
      [`http://127.0.0.1:${port}`, 'tcp'],
    ]);
    for (const l of listeners) {
      expect([...l.workers].sort()).toEqual(workers);
      expect(fs.readlinkSync(`/proc/${s.pid}/fd/${l.fd}`)).toMatch(/^socket:\[\d+\]$/);
    }
    const text = await ctl(sock, 'listeners');
    expect(text.stdout.split('\n')[0]).toMatch(/^ADDRESS\s+FD\s+KIND\s+WORKERS$/);
    expect(text.stdout).toMatch(
      new RegExp(`^http://127\\.0\\.0\\.1:${port}\\s+${listeners[1]!.fd}\\s+tcp\\s+\\d+ \\d+$`, 'm'),
    );
  }, 45_000);
});
