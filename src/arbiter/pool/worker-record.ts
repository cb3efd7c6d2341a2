/**
 * Worker bookkeeping: the arbiter's record of each worker process and how
 * one is forked. Decisions about workers are made in the arbiter loop; this
 * module only knows how to fork, message and signal them.
 */
import cluster, { type Worker } from 'node:cluster';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Settings } from '../../config/settings.js';
import { type ArbiterToWorker, type BeatLoad, STDOUT_FD_ENV, monotonicMs } from '../../protocol.js';
import type { TlsMaterial } from '../sockets/tls.js';
import type { Listener } from '../sockets/listeners.js';

export enum WorkerState {
  /** Forked; loading the app and listening. Not yet serving. */
  Booting = 'booting',
  /** Listening on every listener. */
  Ready = 'ready',
  /** Asked to stop gracefully because it is surplus (TTOU, reload, recycling). */
  Retiring = 'retiring',
  /** Asked to stop because the arbiter is stopping. */
  Stopping = 'stopping',
  /** Exited; kept only until the exit is handled. */
  Dead = 'dead',
}

export interface WorkerRecord {
  id: number;
  pid: number;
  handle: Worker;
  generation: number;
  state: WorkerState;
  /** Monotonic ms timestamps. */
  forkedAt: number;
  readyAt: number | null;
  /** When a stopping or retiring worker gets SIGKILL. */
  killAt: number | null;
  /** Exit code the worker announced with a boot-error message. */
  bootError?: number;
  /** The listeners this worker was booted with (a HUP may change the arbiter's). */
  listeners: readonly Listener[];
  /** Last heartbeat (monotonic ms); silence past --timeout means a blocked event loop. */
  lastBeat: number;
  requests: number;
  inFlight: number;
  /** Open connections at the last heartbeat (keep-alive balance, balance.ts). */
  connections: number;
  rss: number;
  /** Heap, event loop and latencies as of the last heartbeat, for `ctl top` (cumulative). */
  load: BeatLoad;
  /** Consecutive heartbeats above --max-worker-memory. */
  rssHigh: number;
  /** Set once the worker hit --timeout; its exit is then expected. */
  timedOut: boolean;
  /** Why it is being retired, for logs and metrics. */
  retireReason: RetireReason | null;

  /**
   * The worker said hello: its message handler is installed. Messages sent
   * before that are lost, so a stop decided earlier is sent on hello.
   */
  hello: boolean;
}

export type RetireReason = 'reload' | 'scale' | 'max-requests' | 'memory' | 'winch' | 'ctl-kill';

/** The arbiter's clock: the one workers stamp their beats with. */
export const now = monotonicMs;

const WORKER_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'worker', 'main.js');

/** Workers run the worker entry directly; argv carries the title so ps shows it before the worker sets it. */
export function setupCluster(title: string): void {
  // A loopback-only, not-yet-started inspector address: SIGUSR1 from the arbiter
  // starts it when a worker times out, to read the stack it is stuck in
  // (stack-probe.ts). Unless the operator runs under --inspect already, in which
  // case node:cluster assigns workers their own inspector ports.
  const inspecting = process.execArgv.some((a) => a.startsWith('--inspect'));
  cluster.setupPrimary({
    exec: WORKER_ENTRY,
    args: ['--tsunicorn-worker', title],
    execArgv: inspecting ? process.execArgv : [...process.execArgv, '--inspect-port=127.0.0.1:0'],
    // Without this, node:cluster rewrites --inspect-port to 9229+N for each worker: predictable ports.
    ...(inspecting ? {} : { inspectPort: 0 }),
    silent: false,
  });
}

export type OutputLine = (pid: number, line: string, stream: 'stdout' | 'stderr') => void;

/** Splits a worker's piped stdout or stderr into lines. */
function forwardLines(
  pid: number,
  stream: NodeJS.ReadableStream | null,
  name: 'stdout' | 'stderr',
  onLine: OutputLine,
): void {
  if (!stream) return;
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      onLine(pid, buf.slice(0, nl), name);
      buf = buf.slice(nl + 1);
      nl = buf.indexOf('\n');
    }
  });
  stream.on('end', () => {
    if (buf) onLine(pid, buf, name);
  });
}

/** Forks a worker. With --capture-output its stdout and stderr are piped to `onOutput`, else they are the arbiter's. */
export function forkWorker(
  settings: Settings,
  generation: number,
  listeners: readonly Listener[],
  onOutput?: OutputLine,
): WorkerRecord {
  const env: Record<string, string> = {};
  for (const pair of settings.env) {
    const eq = pair.indexOf('=');
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  // Captured: stdout and stderr are pipes to the arbiter, and fd 4 is the arbiter's own stdout, where
  // an access log on `-` still goes (it is not app output).
  cluster.setupPrimary(
    settings.captureOutput
      ? { stdio: ['ignore', 'pipe', 'pipe', 'ipc', 1] }
      : { stdio: ['inherit', 'inherit', 'inherit', 'ipc'] },
  );
  if (settings.captureOutput) env[STDOUT_FD_ENV] = '4';
  const handle = cluster.fork(env);
  if (settings.captureOutput && onOutput) {
    forwardLines(handle.process.pid ?? -1, handle.process.stdout, 'stdout', onOutput);
    forwardLines(handle.process.pid ?? -1, handle.process.stderr, 'stderr', onOutput);
  }
  const t = now();
  return {
    id: handle.id,
    pid: handle.process.pid ?? -1,
    handle,
    generation,
    state: WorkerState.Booting,
    forkedAt: t,
    readyAt: null,
    killAt: null,
    listeners,
    lastBeat: t,
    requests: 0,
    inFlight: 0,
    connections: 0,
    rss: 0,
    load: { heapUsed: 0, heapLimit: 0, loopIdleMs: 0, loopActiveMs: 0, latency: [] },
    rssHigh: 0,
    timedOut: false,
    retireReason: null,
    hello: false,
  };
}

/** Sends a message; a worker whose channel has closed is about to be reported dead, so errors are dropped. */
export function sendToWorker(w: WorkerRecord, msg: ArbiterToWorker, handle?: unknown): void {
  if (!w.handle.isConnected()) return;
  try {
    w.handle.send(msg, handle as never, () => {});
  } catch {
    // Channel closed between the check and the send.
  }
}

/** Heartbeat period: a quarter of --timeout, between 100 ms and 1 s. */
export function beatInterval(settings: Settings): number {
  return settings.timeout > 0 ? Math.min(1000, Math.max(100, (settings.timeout * 1000) / 4)) : 1000;
}

/** Sends settings and one listening handle per listener, twice: the second copy is the worker's spare. */
export function bootWorker(
  w: WorkerRecord,
  settings: Settings,
  workerHooks: boolean,
  tls: TlsMaterial | null = null,
): void {
  const listeners = w.listeners;
  sendToWorker(w, {
    t: 'boot',
    settings,
    generation: w.generation,
    listenerCount: listeners.length,
    beatMs: beatInterval(settings),
    workerHooks,
    tls,
  });
  for (const spare of [false, true]) {
    for (const l of listeners) sendToWorker(w, { t: 'listener', info: l.info, spare }, l.handle);
  }
}

/**
 * The request a sync worker is serving, from its process title
 * (`tsunicorn: worker [app] GET /path`, set per request: no IPC). Read when
 * the worker timed out, so even a worker whose event loop is blocked tells
 * what it was doing. Linux (/proc); null elsewhere or when idle.
 */
export function currentRequest(pid: number): string | null {
  try {
    const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
    const m = /^tsunicorn: worker \[.*?\] (\S+ \S+)/.exec(title);
    return m ? m[1]! : null;
  } catch {
    return null;
  }
}

export function signalWorker(w: WorkerRecord, signal: NodeJS.Signals): void {
  try {
    process.kill(w.pid, signal);
  } catch {
    // Already gone; its exit event is on its way.
  }
}
