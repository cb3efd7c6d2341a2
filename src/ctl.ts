/**
 * `tsunicorn ctl COMMAND [ARG] [OPTIONS]`: talks to a running arbiter over
 * its control socket (src/arbiter/control-socket.ts), as Gunicorn 26's
 * gunicornc and Puma's pumactl do.
 *
 *   status        a table of the workers (pid, generation, age, state, requests, in flight, memory)
 *   reload        what HUP does
 *   scale N       run N workers (as TTIN/TTOU would, N times)
 *   stop          what TERM does; waits until the arbiter has exited
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
import { controlSocketPath, fileFacts, untrustedSocketProblem } from './config/control-path.js';
import { resolveConfig } from './config/resolve.js';
import { type ArbiterStatus, CONTROL_COMMANDS, type ControlRequest, type ControlResponse, MAX_WORKERS } from './arbiter/control-protocol.js';
import { ExitCode, describeError } from './errors.js';

/** How long connecting and getting the answer may take, unless --ctl-timeout says otherwise. */
const DEFAULT_TIMEOUT_S = 10;

const USAGE = `Usage: tsunicorn ctl COMMAND [ARG] [--json] [--ctl-timeout SECONDS] [--control-socket PATH | the server's options]

Commands:
  status     list the arbiter's workers: pid, generation, age, state, requests, in flight, memory
  reload     reload the configuration and code with new workers (as HUP)
  scale N    run N workers (as TTIN/TTOU)
  stop       stop gracefully (as TERM) and wait for the arbiter to exit; --quick stops at once (as INT)

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
  request: ControlRequest;
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
      throw usage(`--ctl-timeout needs a number of seconds above 0${raw === undefined ? '' : `, got ${JSON.stringify(raw)}`}`);
    }
    seconds = Number(raw);
    i--;
  }
  return seconds * 1000;
}

function parse(argv: string[]): Parsed {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) throw usage('no command given');
  if (!(CONTROL_COMMANDS as readonly string[]).includes(cmd)) throw usage(`unknown command ${JSON.stringify(cmd)}; commands: ${CONTROL_COMMANDS.join(', ')}`);
  const json = rest.includes('--json');
  const quick = rest.includes('--quick');
  let serverArgs = rest.filter((a) => a !== '--json' && a !== '--quick');
  const timeoutMs = takeTimeout(serverArgs);
  if (quick && cmd !== 'stop') throw usage('--quick only goes with stop');
  let request: ControlRequest;
  if (cmd === 'scale') {
    const n = serverArgs[0];
    if (n === undefined || !/^\d+$/.test(n) || Number(n) < 1 || Number(n) > MAX_WORKERS) {
      throw usage(`scale needs a number of workers from 1 to ${MAX_WORKERS}${n === undefined ? '' : `, got ${JSON.stringify(n)}`}`);
    }
    serverArgs = serverArgs.slice(1);
    request = { cmd, workers: Number(n) };
  } else if (cmd === 'stop') {
    request = { cmd, graceful: !quick };
  } else {
    request = { cmd: cmd as 'status' | 'reload' };
  }
  return { request, json, timeoutMs, serverArgs };
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
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new CtlError(`no tsunicorn is listening on ${path}`, ExitCode.RUNTIME);
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
async function exchange(path: string, request: ControlRequest, timeoutMs: number): Promise<{ response: ControlResponse; closed: Promise<void> }> {
  const socket = net.connect(path);
  try {
    return await within(send(socket, path, request), timeoutMs, `no answer from ${path} within ${timeoutMs / 1000} s`);
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

function send(socket: net.Socket, path: string, request: ControlRequest): Promise<{ response: ControlResponse; closed: Promise<void> }> {
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
        reject(new CtlError(`${path} answered with something that is not tsunicorn's control protocol`, ExitCode.RUNTIME));
      }
      if (request.cmd !== 'stop') socket.end();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (answered) return;
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new CtlError(`no tsunicorn is listening on ${path}`, ExitCode.RUNTIME));
      else if (err.code === 'EACCES') reject(new CtlError(`cannot connect to ${path}: permission denied (run ctl as the server's user)`, ExitCode.RUNTIME));
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

/** The status table: one header line for the arbiter, then one row per worker, oldest first. */
export function formatStatus(s: ArbiterStatus): string {
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
  ].join('\n');
}

export async function ctlMain(argv: string[], env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): Promise<number> {
  if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return ExitCode.OK;
  }
  try {
    const { request, json, timeoutMs, serverArgs } = parse(argv);
    let settings;
    try {
      ({ settings } = await resolveConfig({ argv: serverArgs, env, cwd }));
    } catch (err) {
      throw new CtlError(describeError(err), ExitCode.USAGE);
    }
    const path = controlSocketPath(settings, cwd, env);
    if (!path) throw new CtlError('the control socket is disabled (--no-control-socket); nothing to talk to', ExitCode.USAGE);
    checkOwner(path);
    const { response, closed } = await exchange(path, request, timeoutMs);
    if (!response.ok) throw new CtlError(response.error, ExitCode.RUNTIME);
    if (json) process.stdout.write(`${JSON.stringify(response.status ?? response)}\n`);
    else if (response.status) process.stdout.write(`${formatStatus(response.status)}\n`);
    else if (response.message) process.stdout.write(`${response.message}\n`);
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
