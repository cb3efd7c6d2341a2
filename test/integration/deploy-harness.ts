/**
 * Helpers for the deployment tests, which run tsunicorn under real programs
 * (unshare, tini, supervisord, systemd-socket-activate, nginx): spawn any
 * command with its output captured line by line, find the tools, and kill
 * whole process trees by pid. Everything a test starts is killed in
 * `killAll()`, by pid, children first seen included.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { childPids, isAlive, lineCollector, waitFor } from './harness.js';

/** `command -v NAME`, or null; the sbin directories count too (nginx is in /usr/sbin, not always on a user's PATH). */
export function tool(name: string): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/local/sbin', '/usr/sbin', '/sbin']) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // Not here.
    }
  }
  return null;
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

/** Every descendant of pid, from /proc. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  for (const c of childPids(pid)) out.push(c, ...descendants(c));
  return out;
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
        for (const l of this.lines) {
          const m = l.match(re);
          if (m) return m;
        }
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

export async function killAll(): Promise<void> {
  await Promise.all([...started].map((p) => p.killTree()));
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
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.set(Number(m[1]), Number(fd));
    } catch {
      // Closed meanwhile.
    }
  }
  const out: { fd: number; port: number }[] = [];
  for (const file of [`/proc/${pid}/net/tcp`, `/proc/${pid}/net/tcp6`]) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // st 0A = LISTEN
      if (f.length < 10 || f[3] !== '0A') continue;
      const fd = inodes.get(Number(f[9]));
      if (fd !== undefined) out.push({ fd, port: Number.parseInt(f[1]!.split(':')[1]!, 16) });
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
