/**
 * Integration-test harness: spawns the real bin/tsunicorn.js (`start`), or any other program with its output
 * captured line by line (`Proc`: unshare, tini, supervisord, systemd-socket-activate, nginx), and offers
 * deadline-bounded polling helpers. Every process a test starts is recorded and killed by pid in `cleanup()`,
 * descendants first seen included.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { findExecutable } from '../../src/arbiter/platform/find-executable.js';
import { parseTcpRow, socketInode } from '../../src/arbiter/platform/proc-net.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'tsunicorn.js');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');

/** Polls `check` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(
  what: string | (() => string),
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
  intervalMs = 25,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}${lastError ? ` (last error: ${String(lastError)})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function tmpDir(prefix = 'tsu-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Child pids of `pid`, from /proc. */
export function childPids(pid: number): number[] {
  try {
    const text = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text ? text.split(/\s+/).map(Number) : [];
  } catch {
    return [];
  }
}

/** Every descendant of pid, from /proc. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  for (const c of childPids(pid)) out.push(c, ...descendants(c));
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers kill(0); it has exited for our purposes.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** Worker children of a master pid, by process title. */
export function workersOf(pid: number): number[] {
  return childPids(pid).filter((p) => cmdline(p).startsWith('tsunicorn: worker'));
}

export function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The first of `lines` that matches `re`, as its match, or null. */
function firstMatch(lines: readonly string[], re: RegExp): RegExpMatchArray | null {
  for (const l of lines) {
    const m = l.match(re);
    if (m) return m;
  }
  return null;
}

/** A 'data' listener that splits a child's output into lines (a trailing CR dropped) and pushes them to `into`. */
export function lineCollector(into: string[]): (chunk: Buffer) => void {
  let buf = '';
  return (chunk) => {
    buf += chunk.toString('utf8');
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      into.push(buf.slice(0, nl).replace(/\r$/, ''));
      buf = buf.slice(nl + 1);
      nl = buf.indexOf('\n');
    }
  };
}

const running = new Set<Server>();

/** `node`: the executable to start instead of this Node (a copy, a shell that execs it). */
export interface StartOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  nodeArgs?: string[];
  node?: string;
  /** A command that execs the rest of the command line: `['taskset', '-c', '0']`. */
  wrap?: string[];
  /**
   * Start the master in a session of its own, as a service manager does. A test that stops processes needs it:
   * when a process group with a stopped member becomes orphaned, the kernel sends the group SIGHUP and SIGCONT
   * (POSIX job control), which a master takes for a reload.
   */
  ownSession?: boolean;
}

/** Worker classes the lifecycle suites run under. */
export const WORKER_CLASSES = ['async', 'sync'] as const;
let workerClassArgs = '';

/**
 * Runs every server started from now on with `-k CLASS`, through TSUNICORN_CMD_ARGS so that each
 * test's own command line stays as it is. `null` goes back to the default.
 */
export function useWorkerClass(cls: (typeof WORKER_CLASSES)[number] | null): void {
  workerClassArgs = cls ? `-k ${cls}` : '';
}

export class Server {
  readonly proc: ChildProcess;
  readonly lines: string[] = [];
  readonly stdout: string[] = [];
  readonly exited: Promise<Exit>;
  private exit: Exit | null = null;
  /** Every pid seen as a child, so cleanup can kill stragglers. */
  private readonly seen = new Set<number>();

  constructor(args: string[], opts: StartOptions = {}) {
    // nodeArgs (V8 and Node flags) reach the workers too: node:cluster forks them with the master's execArgv.
    const argv = [opts.node ?? process.execPath, ...(opts.nodeArgs ?? []), BIN, ...args];
    // A wrapper must exec node (taskset, `sh -c '…; exec "$0" "$@"'`), so that the pid is the master's.
    const [cmd, ...rest] = [...(opts.wrap ?? []), ...argv];
    this.proc = spawn(cmd!, rest, {
      cwd: opts.cwd ?? FIXTURES,
      env: { ...process.env, TSUNICORN_CMD_ARGS: workerClassArgs, PORT: '', WEB_CONCURRENCY: '', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: opts.ownSession ?? false,
    });
    running.add(this);
    this.proc.stderr!.on('data', lineCollector(this.lines));
    this.proc.stdout!.on('data', lineCollector(this.stdout));
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get log(): string {
    return this.lines.join('\n');
  }

  /** Live worker pids: the master's children titled as workers (a USR2 successor master is not one). */
  workers(): number[] {
    const pids = workersOf(this.pid);
    for (const p of pids) this.seen.add(p);
    return pids;
  }

  /** Also kill this pid (and its workers) at cleanup: a master started by USR2, a daemon. */
  adopt(pid: number): void {
    this.seen.add(pid);
    for (const p of workersOf(pid)) this.seen.add(p);
  }

  async waitLog(re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    return waitFor(
      () => `log line ${re} (log so far:\n${this.log})`,
      () => {
        const m = firstMatch(this.lines, re);
        if (m) return m;
        if (this.exit) throw new Error(`server exited ${JSON.stringify(this.exit)}; log:\n${this.log}`);
        return null;
      },
      timeoutMs,
    );
  }

  countLog(re: RegExp): number {
    return this.lines.filter((l) => re.test(l)).length;
  }

  /** The port of the n-th TCP listener, from `Listening at: http://HOST:PORT`. */
  async port(n = 0): Promise<number> {
    await this.waitLog(/Listening at: http/);
    const ports = this.lines
      .map((l) => l.match(/Listening at: https?:\/\/.*:(\d+) \(/))
      .filter(Boolean) as RegExpMatchArray[];
    return Number(ports[n]![1]);
  }

  /** Waits until `n` workers have reported ready (needs --log-level debug). */
  async readyWorkers(n: number, timeoutMs = 15_000): Promise<void> {
    await waitFor(
      `${n} ready workers (log:\n${this.log})`,
      () => {
        if (this.exit) throw new Error(`server exited ${JSON.stringify(this.exit)}`);
        return this.countLog(/is ready$/) >= n;
      },
      timeoutMs,
    );
  }

  signal(sig: NodeJS.Signals): void {
    process.kill(this.pid, sig);
  }

  async waitExit(timeoutMs = 15_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`server did not exit within ${timeoutMs} ms; log:\n${this.log}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills the master and every worker it ever had, by pid. */
  async kill(): Promise<void> {
    this.workers();
    for (const p of [...this.seen]) for (const w of workersOf(p)) this.seen.add(w);
    for (const p of this.seen) if (isAlive(p)) process.kill(p, 'SIGKILL');
    if (!this.exit) {
      this.proc.kill('SIGKILL');
      await this.exited;
    }
    running.delete(this);
  }
}

export function start(args: string[], opts?: StartOptions): Server {
  return new Server(args, opts);
}

/** Kills every server and every other program a test started, with their descendants, by pid. */
export async function cleanup(): Promise<void> {
  await Promise.all([...[...running].map((s) => s.kill()), ...[...started].map((p) => p.killTree())]);
}

/** `command -v NAME`, or null; the sbin directories count too (nginx is in /usr/sbin, not always on a user's PATH). */
export function tool(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  return findExecutable(name, { PATH: dirs.join(':') });
}

/** Logs why a suite is skipped (vitest prints only "skipped"), and returns whether it is. */
export function missing(what: string, ...names: string[]): boolean {
  const absent = names.filter((n) => !tool(n));
  if (absent.length)
    console.warn(
      `SKIP ${what}: ${absent.join(', ')} not installed (.ci/run installs it with apt-get; that failed on this machine)`,
    );
  return absent.length > 0;
}

const started = new Set<Proc>();

export class Proc {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly seen = new Set<number>();

  constructor(
    readonly command: string,
    args: readonly string[],
    opts: { cwd?: string; env?: NodeJS.ProcessEnv; stdin?: 'pipe' | 'ignore' } = {},
  ) {
    this.child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
    });
    started.add(this);
    this.child.stdout!.on('data', lineCollector(this.lines));
    this.child.stderr!.on('data', lineCollector(this.lines));
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get log(): string {
    return this.lines.join('\n');
  }

  /** Records the current process tree, so that killTree() can reach processes reparented later. */
  track(): number[] {
    const all = descendants(this.pid);
    for (const p of all) this.seen.add(p);
    return all;
  }

  async waitLog(re: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    return waitFor(
      `${re} in the output of ${this.command} (so far:\n${this.log})`,
      () => {
        this.track();
        const m = firstMatch(this.lines, re);
        if (m) return m;
        if (this.exit) throw new Error(`${this.command} exited ${JSON.stringify(this.exit)}:\n${this.log}`);
        return null;
      },
      timeoutMs,
    );
  }

  countLog(re: RegExp): number {
    return this.lines.filter((l) => re.test(l)).length;
  }

  async waitExit(timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    await waitFor(`${this.command} to exit (output:\n${this.log})`, () => this.exit !== null, timeoutMs);
    return this.exit!;
  }

  /** SIGKILLs the process and every descendant ever seen, by pid. */
  async killTree(): Promise<void> {
    this.track();
    for (const p of [...this.seen].reverse()) if (isAlive(p)) process.kill(p, 'SIGKILL');
    if (!this.exit) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    started.delete(this);
  }
}

/** A port free right now on 127.0.0.1 (for programs that cannot be told to use port 0). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** The fds of `pid` that are listening TCP sockets, with their local ports: [{fd, port}]. */
export function listeningTcp(pid: number): { fd: number; port: number }[] {
  const inodes = new Map<number, number>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const inode = socketInode(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (inode !== null) inodes.set(inode, Number(fd));
    } catch {
      // Closed meanwhile.
    }
  }
  const out: { fd: number; port: number }[] = [];
  for (const family of [4, 6] as const) {
    for (const line of fs.readFileSync(`/proc/${pid}/net/${family === 4 ? 'tcp' : 'tcp6'}`, 'utf8').split('\n')) {
      const row = parseTcpRow(line, family);
      const fd = row?.listening ? inodes.get(row.inode) : undefined;
      if (fd !== undefined) out.push({ fd, port: row!.port });
    }
  }
  return out;
}

/** The environment of a process, from /proc (as it was at exec). */
export function environOf(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const eq = kv.indexOf('=');
    if (eq > 0) out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/** A server with `workers` ready workers and its control socket at a path of the test's own. */
export async function serveWithControlSocket(
  args: string[],
  workers: number,
): Promise<{ s: Server; sock: string; port: number }> {
  const sock = path.join(tmpDir(), 'ctl.sock');
  const s = start([
    ...args,
    '-w',
    String(workers),
    '-b',
    '127.0.0.1:0',
    '--log-level',
    'debug',
    '--control-socket',
    sock,
  ]);
  const port = await s.port();
  await s.readyWorkers(workers);
  return { s, sock, port };
}

/** Runs the CLI to completion (one-shot modes and startup failures). */
export async function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) {
  const s = new Server(args, opts);
  try {
    const exit = await s.waitExit(opts.timeoutMs ?? 15_000);
    return { ...exit, stderr: s.log, stdout: s.stdout.join('\n'), server: s };
  } finally {
    await s.kill();
  }
}

/** One GET on a fresh connection (Connection: close). */
export async function get(url: string, opts: { socketPath?: string; headers?: Record<string, string> } = {}) {
  const dispatcher = new Agent(opts.socketPath ? { connect: { socketPath: opts.socketPath } } : {});
  try {
    const res = await request(url, { dispatcher, reset: true, headers: opts.headers });
    const body = await res.body.text();
    return { status: res.statusCode, headers: res.headers, body };
  } finally {
    await dispatcher.close();
  }
}

/** Times `fn` `samples` times in sequence and returns the median in ms: a baseline measured on this box, now. */
export async function medianMs(samples: number, fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

export function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

/**
 * The most a request may take to count as "not delayed by X" when X, if it did delay it, would add about
 * `delayMs`: a multiple of the baseline (a slow box slows both) or a fraction of that delay, whichever is larger.
 */
export function notDelayedBound(baselineMs: number, delayMs: number): number {
  return Math.max(5 * baselineMs, baselineMs + delayMs / 4);
}

export function copyFixture(dir: string, name = 'node-app.mjs'): void {
  fs.copyFileSync(path.join(FIXTURES, name), path.join(dir, name));
}

export function readLines(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** Waits until a line of `file` matches `re`; returns the match. */
export async function waitFileLine(file: string, re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
  return waitFor(
    `a line ${re} in ${file} (so far:\n${readLines(file).join('\n')})`,
    () => firstMatch(readLines(file), re),
    timeoutMs,
  );
}

/** The pid in a Gunicorn-style log line: `[time] [PID] [LEVEL] message`. */
export function linePid(line: string): number {
  const m = line.match(/^\[[^\]]+\] \[(\d+)\] \[/);
  if (!m) throw new Error(`not a log line: ${line}`);
  return Number(m[1]);
}
