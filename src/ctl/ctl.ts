/**
 * `tsunicorn ctl COMMAND [ARG] [OPTIONS]`: talks to a running arbiter over
 * its control socket (src/arbiter/control/server.ts), as Gunicorn 26's
 * gunicornc and Puma's pumactl do.
 *
 *   status        a table of the workers (pid, generation, age, state, requests, in flight, memory)
 *   reload        what HUP does
 *   scale N       run N workers (as TTIN/TTOU would, N times)
 *   stop          what TERM does; waits until the arbiter has exited
 *   top           a live view of the workers (ctl/top.ts)
 *   stack [PID]   the JavaScript stack of a worker, or of each
 *   kill PID      replace one worker gracefully
 *   config        the running settings; listeners: each bound address and its workers
 *
 * The socket is found from `--control-socket PATH`, or from the same config
 * file and flags the server was started with (the default path is derived
 * from the working directory, the first --bind and --name). A socket, or a
 * directory holding it, that belongs to another user (not root) is refused:
 * whoever answers there would be trusted with the command. Every exchange
 * has a deadline (--ctl-timeout). Exit codes: 0 done, 1 no server, an
 * untrusted socket, no answer in time, or the server refused; 2 usage.
 */
import fs from 'node:fs';
import net from 'node:net';
import nodePath from 'node:path';
import process from 'node:process';
import { controlSocketPath, fileFacts, untrustedSocketProblem } from '../config/control-path.js';
import { resolveConfig } from '../config/resolve.js';
import {
  type ArbiterStatus,
  CONTROL_COMMANDS,
  type ControlRequest,
  type ControlResponse,
  type ListenerStatus,
  MAX_WORKERS,
  type WorkerStack,
  isPid,
} from '../arbiter/control/protocol.js';
import type { CanaryStatus } from '../arbiter/pool/canary-trial.js';
import { ExitCode, describeError } from '../errors.js';
import { type TopMemory, formatTop, topJson, topView } from './top.js';

/** How long connecting and getting the answer may take, unless --ctl-timeout says otherwise. */
const DEFAULT_TIMEOUT_S = 10;
/** `ctl stack` waits --ctl-timeout plus this per worker (the arbiter's probe deadline), for this many workers. */
const STACK_MS_PER_WORKER = 4000;
const MAX_STACKS_WAITED = 16;

const USAGE = `Usage: tsunicorn ctl COMMAND [ARG] [--json] [--ctl-timeout SECONDS] [--control-socket PATH | the server's options]

Commands:
  status     list the arbiter's workers: pid, generation, age, state, requests, in flight, memory
  reload     reload the configuration and code with new workers (as HUP)
  scale N    run N workers (as TTIN/TTOU)
  stop       stop gracefully (as TERM) and wait for the arbiter to exit; --quick stops at once (as INT)
  top        a live view: req/s, in flight, p50/p99 latency, memory and event-loop use per worker;
             q or Ctrl-C quits; --interval SECONDS (default 1), --count N (stop after N views);
             plain lines when stdout is not a terminal, one JSON object per view with --json
  stack [PID]  the JavaScript stack of worker PID (or of each), read through its inspector without
             stopping it (refused with --no-stack-capture)
  kill PID   replace worker PID gracefully: it finishes its requests and exits, a new one starts
  config     the running settings, as --print-config shows them
  listeners  each bound address: its fd, kind, and the workers serving it

The control socket is --control-socket PATH, or the one the server with the same working directory,
config file and options (-c, -b, -n, --chdir) listens on. A socket or directory owned by another user
(not root) is refused. --ctl-timeout (default ${DEFAULT_TIMEOUT_S}) bounds connecting and the answer; stop then
waits up to the server's --graceful-timeout plus that for the arbiter to exit.`;

class CtlError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

const usage = (message: string) => new CtlError(`${message} (see tsunicorn ctl --help)`, ExitCode.USAGE);

interface Parsed {
  /** `top` asks for `status` each interval. */
  request: ControlRequest;
  top: { intervalMs: number; count: number } | null;
  json: boolean;
  timeoutMs: number;
  serverArgs: string[];
}

/** Removes `--ctl-timeout N` (or `=N`) from args; the timeout in ms. */
function takeTimeout(args: string[]): number {
  let seconds = DEFAULT_TIMEOUT_S;
  for (let i = 0; i < args.length; i++) {
    const m = /^--ctl-timeout(?:=(.*))?$/.exec(args[i]!);
    if (!m) continue;
    const raw = m[1] ?? args[i + 1];
    args.splice(i, m[1] === undefined ? 2 : 1);
    if (raw === undefined || !/^\d+(\.\d+)?$/.test(raw) || !(Number(raw) > 0)) {
      throw usage(
        `--ctl-timeout needs a number of seconds above 0${raw === undefined ? '' : `, got ${JSON.stringify(raw)}`}`,
      );
    }
    seconds = Number(raw);
    i--;
  }
  return seconds * 1000;
}

/** Removes `NAME N` (or `NAME=N`) from args: a number of seconds above 0, or with `whole` a count from 1. */
function takeNumber(args: string[], name: string, fallback: number, whole: boolean): number {
  let value = fallback;
  for (let i = 0; i < args.length; i++) {
    const m = new RegExp(`^${name}(?:=(.*))?$`).exec(args[i]!);
    if (!m) continue;
    const raw = m[1] ?? args[i + 1];
    args.splice(i, m[1] === undefined ? 2 : 1);
    const shape = whole ? /^[1-9]\d{0,8}$/ : /^\d+(\.\d+)?$/;
    const ok = raw !== undefined && shape.test(raw) && Number(raw) >= (whole ? 1 : 0.1);
    if (!ok) {
      const what = whole ? 'a whole number from 1' : 'a number of seconds from 0.1';
      throw usage(`${name} needs ${what}${raw === undefined ? '' : `, got ${JSON.stringify(raw)}`}`);
    }
    value = Number(raw);
    i--;
  }
  return value;
}

const TOP_ONLY = ['top'];

function parse(argv: string[]): Parsed {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) throw usage('no command given');
  const known = [...CONTROL_COMMANDS, ...TOP_ONLY];
  if (!known.includes(cmd)) throw usage(`unknown command ${JSON.stringify(cmd)}; commands: ${known.join(', ')}`);
  const json = rest.includes('--json');
  const quick = rest.includes('--quick');
  let serverArgs = rest.filter((a) => a !== '--json' && a !== '--quick');
  const timeoutMs = takeTimeout(serverArgs);
  if (quick && cmd !== 'stop') throw usage('--quick only goes with stop');
  const intervalS = takeNumber(serverArgs, '--interval', 1, false);
  const count = takeNumber(serverArgs, '--count', 0, true);
  if (cmd !== 'top' && (intervalS !== 1 || count !== 0)) throw usage('--interval and --count only go with top');
  if (cmd === 'top') {
    return { request: { cmd: 'status' }, top: { intervalMs: intervalS * 1000, count }, json, timeoutMs, serverArgs };
  }
  let request: ControlRequest;
  if (cmd === 'scale') {
    const n = serverArgs[0];
    if (n === undefined || !/^\d+$/.test(n) || Number(n) < 1 || Number(n) > MAX_WORKERS) {
      throw usage(
        `scale needs a number of workers from 1 to ${MAX_WORKERS}${n === undefined ? '' : `, got ${JSON.stringify(n)}`}`,
      );
    }
    serverArgs = serverArgs.slice(1);
    request = { cmd, workers: Number(n) };
  } else if (cmd === 'stop') {
    request = { cmd, graceful: !quick };
  } else if (cmd === 'stack' || cmd === 'kill') {
    const p = serverArgs[0];
    if (p !== undefined && /^\d+$/.test(p)) serverArgs = serverArgs.slice(1);
    else if (cmd === 'kill') {
      throw usage(`kill needs a worker pid${p === undefined ? '' : `, got ${JSON.stringify(p)}`}`);
    }
    if (p !== undefined && /^\d+$/.test(p) && !isPid(Number(p))) throw usage(`${cmd}: ${p} is not a worker pid`);
    request = p !== undefined && /^\d+$/.test(p) ? { cmd, pid: Number(p) } : { cmd: 'stack' };
  } else {
    request = { cmd: cmd as 'status' | 'reload' | 'config' | 'listeners' };
  }
  return { request, top: null, json, timeoutMs, serverArgs };
}

/** Refuses a socket that another user (not root) could have put there: it would be trusted with the command. */
function checkOwner(path: string): void {
  let dir: fs.Stats;
  let sock: fs.Stats;
  try {
    dir = fs.statSync(nodePath.dirname(path));
    sock = fs.statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new CtlError(`no tsunicorn is listening on ${path}`, ExitCode.RUNTIME);
    throw new CtlError(`cannot check ${path}: ${describeError(err)}`, ExitCode.RUNTIME);
  }
  const problem = untrustedSocketProblem(path, fileFacts(dir), fileFacts(sock), process.geteuid?.() ?? 0);
  if (problem) throw new CtlError(`refusing the control socket ${path}: ${problem}`, ExitCode.RUNTIME);
}

/** Rejects with a one-line error when `promise` has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CtlError(what, ExitCode.RUNTIME)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Sends one request; resolves with the response and a promise of the connection's end. Destroys the socket on timeout. */
async function exchange(
  path: string,
  request: ControlRequest,
  timeoutMs: number,
): Promise<{ response: ControlResponse; closed: Promise<void> }> {
  const socket = net.connect(path);
  try {
    return await within(send(socket, path, request), timeoutMs, `no answer from ${path} within ${timeoutMs / 1000} s`);
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

function send(
  socket: net.Socket,
  path: string,
  request: ControlRequest,
): Promise<{ response: ControlResponse; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let answered = false;
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0 || answered) return;
      answered = true;
      try {
        resolve({ response: JSON.parse(buf.slice(0, nl)) as ControlResponse, closed });
      } catch {
        reject(
          new CtlError(`${path} answered with something that is not tsunicorn's control protocol`, ExitCode.RUNTIME),
        );
      }
      if (request.cmd !== 'stop') socket.end();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (answered) return;
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED')
        reject(new CtlError(`no tsunicorn is listening on ${path}`, ExitCode.RUNTIME));
      else if (err.code === 'EACCES')
        reject(
          new CtlError(`cannot connect to ${path}: permission denied (run ctl as the server's user)`, ExitCode.RUNTIME),
        );
      else reject(new CtlError(`cannot connect to ${path}: ${describeError(err)}`, ExitCode.RUNTIME));
    });
    socket.once('end', () => {
      if (!answered) reject(new CtlError(`${path} closed the connection without answering`, ExitCode.RUNTIME));
    });
  });
}

const pad = (s: string, n: number) => s.padEnd(n);

function formatAge(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor(s / 3600) % 24).padStart(2, '0')}h`;
}

const formatRss = (bytes: number) => (bytes > 0 ? `${(bytes / 1048576).toFixed(1)} MB` : '-');

/** The last canary reload, under the status table. */
function formatCanary(c: CanaryStatus): string {
  const who = `canary ${c.pid ?? '-'} (generation ${c.generation})`;
  if (c.state === 'serving') return `${who}: serving, judged in ${(c.remainingS ?? 0).toFixed(1)} s`;
  if (c.state === 'booting') return `${who}: booting`;
  return `${who}: ${c.state}${c.reason ? ` (${c.reason})` : ''}: ${c.detail ?? ''}`;
}

/** The status table: one header line for the arbiter, then one row per worker, oldest first. */
function formatStatus(s: ArbiterStatus): string {
  const rows = s.workers.map((w) => [
    String(w.pid),
    String(w.generation),
    formatAge(w.ageMs),
    w.state,
    String(w.requests),
    String(w.inFlight),
    formatRss(w.rss),
  ]);
  const header = ['PID', 'GEN', 'AGE', 'STATE', 'REQUESTS', 'IN-FLIGHT', 'RSS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : pad(c, widths[i]!))).join('  ');
  return [
    `master ${s.pid} [${s.name}] ${s.state}, generation ${s.generation}, ${s.workers.length} workers (target ${s.target})`,
    line(header),
    ...rows.map(line),
    ...(s.canary ? [formatCanary(s.canary)] : []),
  ].join('\n');
}

/** `ctl stack`: per worker a title line (pid, generation, what its loop was doing) and the frames or the failure. */
export function formatStacks(stacks: readonly WorkerStack[]): string {
  return stacks
    .map((s) => {
      const loop =
        s.loop === 'blocked'
          ? `event loop blocked (no heartbeat for ${(s.beatAgeMs / 1000).toFixed(1)} s): the JavaScript it is running`
          : 'event loop idle: the next JavaScript it ran';
      const title = `worker ${s.pid} (generation ${s.generation}), ${loop}:`;
      if (s.stack) return `${title}\n${s.stack}`;
      return `worker ${s.pid} (generation ${s.generation}): stack not read: ${s.error ?? 'unknown'}`;
    })
    .join('\n\n');
}

/** `ctl listeners`: one row per bound address. */
export function formatListeners(listeners: readonly ListenerStatus[]): string {
  const header = ['ADDRESS', 'FD', 'KIND', 'WORKERS'];
  const rows = listeners.map((l) => [
    l.address + (l.inherited ? ' (inherited)' : ''),
    String(l.fd),
    l.kind,
    l.workers.join(' ') || '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : pad(c, widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

/** What a successful answer prints: the JSON of its payload, or its text. */
function output(response: Extract<ControlResponse, { ok: true }>, json: boolean): string | null {
  if (json) {
    const payload = response.status ?? response.stacks ?? response.config ?? response.listeners ?? response;
    return JSON.stringify(payload);
  }
  if (response.status) return formatStatus(response.status);
  if (response.stacks) return formatStacks(response.stacks);
  if (response.configText !== undefined) return response.configText;
  if (response.listeners) return formatListeners(response.listeners);
  return response.message ?? null;
}

const ALT_SCREEN_ON = '\x1b[?1049h\x1b[?25l';
const ALT_SCREEN_OFF = '\x1b[?25h\x1b[?1049l';

/**
 * `ctl top`: a status answer each interval, drawn in place on a terminal (alternate screen, raw stdin: q or
 * Ctrl-C quits, and the screen is given back as it was), else printed as plain lines or JSON, one view each.
 */
async function runTop(
  path: string,
  opts: { intervalMs: number; count: number },
  json: boolean,
  timeoutMs: number,
): Promise<void> {
  const out = process.stdout;
  const screen = out.isTTY === true && !json;
  const stdin = process.stdin;
  const keys = screen && stdin.isTTY === true;
  let quit: () => void = () => {};
  const quitting = new Promise<void>((resolve) => (quit = resolve));
  const onKey = (data: Buffer) => {
    if (data.includes(0x71) || data.includes(0x51) || data.includes(0x03)) quit();
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const sig of signals) process.on(sig, quit);
  if (screen) out.write(ALT_SCREEN_ON);
  if (keys) {
    stdin.setRawMode(true);
    stdin.on('data', onKey);
    stdin.resume();
  }
  const memory: TopMemory = new Map();
  try {
    for (let n = 1; ; n++) {
      const { response } = await exchange(path, { cmd: 'status' }, timeoutMs);
      if (!response.ok) throw new CtlError(response.error, ExitCode.RUNTIME);
      if (!response.status) throw new CtlError(`${path} answered status without one`, ExitCode.RUNTIME);
      const view = topView({ status: response.status, at: performance.now() }, memory);
      const time = new Date();
      if (json) out.write(`${topJson(view, time.toISOString())}\n`);
      else {
        const lines = formatTop(view, time.toISOString().slice(11, 19));
        if (screen) {
          const cols = out.columns || 80;
          const rows = out.rows || 24;
          const help = 'q: quit';
          const frame = [...lines, '', help].slice(0, rows).map((l) => `${l.slice(0, cols)}\x1b[K`);
          out.write(`\x1b[H${frame.join('\r\n')}\x1b[J`);
        } else out.write(`${lines.join('\n')}\n\n`);
      }
      if (opts.count > 0 && n >= opts.count) return;
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), opts.intervalMs)));
      const stop = await Promise.race([tick, quitting.then(() => true)]);
      clearTimeout(timer);
      if (stop) return;
    }
  } finally {
    for (const sig of signals) process.off(sig, quit);
    if (keys) {
      stdin.off('data', onKey);
      stdin.setRawMode(false);
      stdin.pause();
    }
    if (screen) out.write(ALT_SCREEN_OFF);
  }
}

export async function ctlMain(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): Promise<number> {
  if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return ExitCode.OK;
  }
  try {
    const { request, top, json, timeoutMs, serverArgs } = parse(argv);
    let settings: Awaited<ReturnType<typeof resolveConfig>>['settings'];
    try {
      ({ settings } = await resolveConfig({ argv: serverArgs, env, cwd }));
    } catch (err) {
      throw new CtlError(describeError(err), ExitCode.USAGE);
    }
    const path = controlSocketPath(settings, cwd, env);
    if (!path)
      throw new CtlError('the control socket is disabled (--no-control-socket); nothing to talk to', ExitCode.USAGE);
    checkOwner(path);
    if (top) {
      await runTop(path, top, json, timeoutMs);
      return ExitCode.OK;
    }
    // Reading stacks pauses each worker in turn, each for up to a few seconds.
    const waitMs = request.cmd === 'stack' ? timeoutMs + STACK_MS_PER_WORKER * MAX_STACKS_WAITED : timeoutMs;
    const { response, closed } = await exchange(path, request, waitMs);
    if (!response.ok) throw new CtlError(response.error, ExitCode.RUNTIME);
    const text = output(response, json);
    if (text !== null) process.stdout.write(`${text}\n`);
    if (response.stacks?.some((s) => !s.stack)) return ExitCode.RUNTIME;
    if (request.cmd === 'stop') {
      // The arbiter closes the control socket as it exits.
      const waitMs = settings.gracefulTimeout * 1000 + timeoutMs;
      await within(closed, waitMs, `the arbiter on ${path} did not exit within ${waitMs / 1000} s of stop`);
      if (!json) process.stdout.write('stopped\n');
    }
    return ExitCode.OK;
  } catch (err) {
    const code = err instanceof CtlError ? err.exitCode : ExitCode.RUNTIME;
    process.stderr.write(`tsunicorn ctl: error: ${err instanceof Error ? err.message : String(err)}\n`);
    return code;
  }
}
