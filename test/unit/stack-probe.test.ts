/**
 * The stack probe against real processes: a node child stuck in a tight
 * loop (test/fixtures/busy-loop.mjs), a process that is not node, a dead
 * pid, and a node process whose inspector cannot start. Linux only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { listeningSockets } from '../../src/arbiter/diagnostics/process-listeners.js';
import { formatFrames, probeStack } from '../../src/arbiter/diagnostics/stack-probe.js';

/** The stack alone, or null on any failure. */
async function stackOrNull(pid: number, opts: Parameters<typeof probeStack>[1]): Promise<string | null> {
  const result = await probeStack(pid, opts);
  return result.ok ? result.stack : null;
}

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'busy-loop.mjs');
// A deadline with room for a loaded box (the production probe has 1.5 s; its tuning is not under test here).
const TIMEOUT_MS = 4000;

const children: ChildProcess[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      continue; // already gone
    }
    await exited;
  }
});

function start(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return child;
}

/** Resolves with the first stdout line matching `re`; rejects on exit or after `ms`. */
function waitForLine(child: ChildProcess, re: RegExp, ms = 10_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const done = (fn: () => void): void => {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.off('exit', onExit);
      fn();
    };
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString('utf8');
      for (const line of seen.split('\n')) {
        const m = re.exec(line);
        if (m) return done(() => resolve(m));
      }
    };
    const onExit = (code: number | null): void =>
      done(() => reject(new Error(`child exited (${code}) before printing ${re}; stdout: ${seen}`)));
    const timer = setTimeout(
      () => done(() => reject(new Error(`no line matching ${re} within ${ms} ms; stdout: ${seen}`))),
      ms,
    );
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
}

/**
 * Starts the busy-loop fixture with the workers' inspector option and waits
 * until it is spinning. The "port" and "spinning" lines can arrive in one
 * chunk, so both waits are registered before either can be missed.
 */
async function spinningChild(): Promise<{ pid: number; appPort: number }> {
  const child = start(process.execPath, ['--inspect-port=127.0.0.1:0', FIXTURE]);
  const [port, , spinning] = [
    waitForLine(child, /^port (\d+)$/),
    waitForLine(child, /^ready$/),
    waitForLine(child, /^spinning$/),
  ];
  const appPort = Number((await port)[1]);
  await spinning;
  return { pid: child.pid!, appPort };
}

/** LISTEN rows of `pid`'s own sockets, read here independently of the module under test. */
function listenRowsOf(pid: number): Array<{ family: string; local: string; port: number }> {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const rows: Array<{ family: string; local: string; port: number }> = [];
  for (const family of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${family}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A' || !inodes.has(cols[9]!)) continue;
      const [local = '', port = ''] = cols[1]!.split(':');
      rows.push({ family, local, port: Number.parseInt(port, 16) });
    }
  }
  return rows;
}

/** Resolves with the error code of connecting to host:port (or 'connected'). */
function connectOutcome(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('timeout');
    }, 2000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? 'error');
    });
  });
}

describe.runIf(process.platform === 'linux')('probeStack', () => {
  it('reads the stack of a node process spinning in a tight loop, from a loopback-only inspector', async () => {
    const { pid, appPort } = await spinningChild();
    const listenersBefore = listenRowsOf(pid);
    expect(listenersBefore.map((r) => r.port)).toEqual([appPort]); // the inspector is not open yet

    const t0 = performance.now();
    const stack = await stackOrNull(pid, { timeoutMs: TIMEOUT_MS, excludePorts: [appPort] });
    const elapsed = performance.now() - t0;
    console.log(`probeStack took ${Math.round(elapsed)} ms:\n${stack}`);

    expect(stack).not.toBeNull();
    const lines = stack!.split('\n');
    expect(lines[0]).toMatch(/^ {4}at spinForever \(file:\/\/\/.*\/busy-loop\.mjs:9:\d+\)$/);
    expect(lines[1]).toMatch(/^ {4}at handleBusyRequest \(file:\/\/\/.*\/busy-loop\.mjs:14:\d+\)$/);
    expect(elapsed).toBeLessThan(TIMEOUT_MS);

    // Once the stack is read, the inspector is closed: nobody else can attach while the worker awaits its kill.
    const first = await probeStack(pid, { timeoutMs: TIMEOUT_MS, excludePorts: [appPort] });
    expect(first).toMatchObject({ ok: true, inspectorClosed: true });
    expect(listenRowsOf(pid).map((r) => r.port)).toEqual([appPort]);
    if (first.ok) expect(await connectOutcome('127.0.0.1', first.port)).toBe('ECONNREFUSED');

    // SIGUSR1 opens it again. Security: the only new listener is the
    // inspector, bound to 127.0.0.1 (0100007F in /proc) and to nothing else:
    // no IPv6 or wildcard twin.
    process.kill(pid, 'SIGUSR1');
    const until = performance.now() + TIMEOUT_MS;
    while (listenRowsOf(pid).length < 2 && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
    const inspectorRows = listenRowsOf(pid).filter((r) => r.port !== appPort);
    expect(inspectorRows).toEqual([{ family: 'tcp', local: '0100007F', port: expect.any(Number) }]);
    const inspectorPort = inspectorRows[0]!.port;
    // And it is really unreachable through a non-loopback address of this host.
    const external = Object.values(os.networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal);
    if (external) expect(await connectOutcome(external.address, inspectorPort)).toBe('ECONNREFUSED');
    expect(await connectOutcome('127.0.0.1', inspectorPort)).toBe('connected');

    // A probe finds the inspector already open (it is not new, but it is not
    // an excluded port either), names the same port, and closes it.
    const again = await probeStack(pid, { timeoutMs: TIMEOUT_MS, excludePorts: [appPort] });
    expect(again).toMatchObject({ ok: true, port: inspectorPort, inspectorClosed: true });
    if (again.ok) expect(again.stack).toContain('at spinForever (');
    expect(await connectOutcome('127.0.0.1', inspectorPort)).toBe('ECONNREFUSED');
  });

  it('without excludePorts, takes only the listener that appeared after SIGUSR1', async () => {
    const { pid, appPort } = await spinningChild();
    const result = await probeStack(pid, { timeoutMs: TIMEOUT_MS });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.port).not.toBe(appPort);
    expect(result.stack).toContain('spinForever');
    expect(result.stack).toContain('handleBusyRequest');
    expect(result.stack).toMatch(/busy-loop\.mjs:\d+:\d+\)/);
  });

  it('returns null at once for a process that is not node, and does not signal it', async () => {
    const child = start('sleep', ['30']);
    await new Promise((resolve) => child.once('spawn', resolve));
    const t0 = performance.now();
    const result = await probeStack(child.pid!, { timeoutMs: TIMEOUT_MS });
    expect(performance.now() - t0).toBeLessThan(TIMEOUT_MS);
    expect(result).toMatchObject({ ok: false, reason: expect.stringContaining('is not running') });
    expect(await stackOrNull(child.pid!, { timeoutMs: TIMEOUT_MS })).toBeNull();
    // SIGUSR1 would have killed sleep.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(child.exitCode).toBeNull();
    expect(child.signalCode).toBeNull();
  });

  it('returns null for a dead pid', async () => {
    const child = start(process.execPath, ['-e', '']);
    const pid = child.pid!;
    await new Promise((resolve) => child.once('exit', resolve));
    const t0 = performance.now();
    expect(await stackOrNull(pid, { timeoutMs: TIMEOUT_MS })).toBeNull();
    expect(performance.now() - t0).toBeLessThan(TIMEOUT_MS);
  });

  it('returns null within the deadline when the inspector never starts (the process handles SIGUSR1 itself)', async () => {
    const script = "process.on('SIGUSR1', () => {}); console.log('spinning'); for (;;) {}";
    const child = start(process.execPath, ['--inspect-port=127.0.0.1:0', '-e', script]);
    await waitForLine(child, /^spinning$/);
    const t0 = performance.now();
    const result = await probeStack(child.pid!, { timeoutMs: 400 });
    const elapsed = performance.now() - t0;
    expect(result).toMatchObject({ ok: false, reason: expect.stringContaining('no inspector started') });
    expect(elapsed).toBeGreaterThanOrEqual(350);
    // Gives up at its deadline rather than waiting for the test's: well short of TIMEOUT_MS.
    expect(elapsed).toBeLessThan(400 + 1000);
  });

  it('refuses bad pids and timeouts without signalling anything', async () => {
    for (const pid of [0, -1, 1, 1.5, Number.NaN, process.pid]) {
      const result = await probeStack(pid, { timeoutMs: TIMEOUT_MS });
      expect(result.ok).toBe(false);
    }
    const child = start('sleep', ['30']);
    for (const timeoutMs of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(await probeStack(child.pid!, { timeoutMs })).toMatchObject({
        ok: false,
        reason: expect.stringContaining('invalid timeoutMs'),
      });
    }
  });
});

describe.runIf(process.platform === 'linux')('listeningSockets', () => {
  it('reports the bound address and flags only 127.0.0.1 as loopback', async () => {
    const servers: net.Server[] = [];
    const listen = (host: string): Promise<number | null> =>
      new Promise((resolve) => {
        const server = net.createServer((s) => s.destroy());
        server.once('error', () => resolve(null)); // e.g. no IPv6 on this host
        server.listen(0, host, () => {
          servers.push(server);
          resolve((server.address() as net.AddressInfo).port);
        });
      });
    try {
      const ports = {
        v4: await listen('127.0.0.1'),
        other127: await listen('127.0.0.2'),
        v6loop: await listen('::1'),
        mapped: await listen('::ffff:127.0.0.1'),
      };
      const mine = await listeningSockets(process.pid);
      const find = (port: number | null) => mine.find((s) => s.port === port);
      expect(find(ports.v4)).toMatchObject({ address: '127.0.0.1', loopback: true });
      expect(find(ports.other127)).toMatchObject({ address: '127.0.0.2', loopback: false });
      if (ports.v6loop !== null) expect(find(ports.v6loop)).toMatchObject({ address: '::1', loopback: false });
      if (ports.mapped !== null) {
        // Node may bind this as a plain IPv4 socket or as an IPv4-mapped IPv6 one.
        expect(['127.0.0.1', '::ffff:127.0.0.1']).toContain(find(ports.mapped)?.address);
        expect(find(ports.mapped)?.loopback).toBe(true);
      }
    } finally {
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    }
  });
});

describe('formatFrames', () => {
  it('prints 1-based positions, <anonymous> for missing names and urls, and caps the frame count', () => {
    const frames = [
      { functionName: 'f', url: 'file:///a.mjs', location: { scriptId: '1', lineNumber: 0, columnNumber: 4 } },
      { functionName: '', url: '', location: { scriptId: '2', lineNumber: 9, columnNumber: 0 } },
      { functionName: '', url: '', location: { scriptId: '3', lineNumber: 1, columnNumber: 1 } },
      { functionName: 'h', url: 'node:internal/x', location: { scriptId: '4', lineNumber: 2, columnNumber: 2 } },
    ];
    expect(formatFrames(frames, new Map([['2', 'file:///b.mjs']]), 3)).toBe(
      [
        '    at f (file:///a.mjs:1:5)',
        '    at <anonymous> (file:///b.mjs:10:1)',
        '    at <anonymous> (<anonymous>:2:2)',
        '    ... 1 more frames',
      ].join('\n'),
    );
  });
});
