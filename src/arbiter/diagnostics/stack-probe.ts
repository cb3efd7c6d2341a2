/**
 * Reads the JavaScript stack of a worker whose event loop is blocked, so the arbiter can log where it was stuck
 * (timeouts.ts, before the kill) and `tsunicorn ctl stack` can show it (control/stack.ts).
 *
 * Workers are forked with `--inspect-port=127.0.0.1:0`, which picks where the inspector would listen without starting
 * it. SIGUSR1 starts it, and V8 serves that interrupt even inside a tight loop. Its port is found from /proc (the
 * worker's new loopback listener, process-listeners.ts); then /json/list, the WebSocket, Debugger.pause, and the call
 * frames of Debugger.paused. Only a listener the worker owns on 127.0.0.1 is contacted, and once the frames are read
 * the paused worker calls `inspector.close()`, so no local user can attach afterwards (docs/security.md).
 *
 * `probeStack` never throws: a failure carries a one-line reason. Linux only: elsewhere it fails at once.
 */ import fs from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { InspectorClient, fetchJson, loadWebSocket } from './inspector-client.js';
import { listeningSockets, socketInodes } from './process-listeners.js';

export interface StackProbeOptions {
  /** Total time allowed, from the call to the returned result. */
  timeoutMs: number;
  /**
   * Listening ports the worker holds that are not its inspector (the app's
   * listeners). When given, loopback listeners that existed before SIGUSR1
   * and are not in this list are tried too, which finds an inspector that
   * was already open (a worker started with --inspect, or probed before).
   * Without it, only a listener that appears after SIGUSR1 is used.
   */
  excludePorts?: number[];
  /** Most frames to print; the rest are summarised in one line. Default 64. */
  maxFrames?: number;
}

export type StackProbeResult =
  | {
      ok: true;
      stack: string;
      /** The inspector's port on 127.0.0.1. */
      port: number;
      /** The inspector no longer listens (inspector.close() in the worker took effect). */
      inspectorClosed: boolean;
      elapsedMs: number;
    }
  | { ok: false /** One short line, for the log. */; reason: string; elapsedMs: number };

const POLL_MS = 10;
/** Evaluated in the paused worker: stops its inspector, closing the listener and every session, ours included. */
export const CLOSE_INSPECTOR = "globalThis.process?.getBuiltinModule?.('node:inspector')?.close()";
/** Longest wait for the inspector to go once asked to close. */
const CLOSE_MS = 300;
/** Longest wait on one candidate port that turns out not to answer /json/list. */
const CANDIDATE_MS = 300;

/** Captures the stack `pid` is running now. Never throws; failures carry a reason. */
export async function probeStack(pid: number, opts: StackProbeOptions): Promise<StackProbeResult> {
  const started = performance.now();
  const deadline = started + opts.timeoutMs;
  const elapsed = (): number => Math.round(performance.now() - started);
  try {
    const stack = await probe(pid, opts, deadline);
    const inspectorClosed = !(await listeningSockets(pid).catch(() => [])).some((l) => l.port === stack.port);
    return { ok: true, stack: stack.text, port: stack.port, inspectorClosed, elapsedMs: elapsed() };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err), elapsedMs: elapsed() };
  }
}

class ProbeError extends Error {}

async function probe(pid: number, opts: StackProbeOptions, deadline: number): Promise<{ text: string; port: number }> {
  const { port, path } = await openInspector(pid, opts, deadline);
  return { text: await pausedStack(port, path, deadline, opts.maxFrames ?? 64), port };
}

/**
 * Starts the inspector of `pid` with SIGUSR1 and finds it: its port on 127.0.0.1 and its WebSocket path.
 * Throws with a one-line reason. Shared by the stack probe and the heap snapshot (heap-snapshot.ts).
 */
export async function openInspector(
  pid: number,
  opts: Pick<StackProbeOptions, 'timeoutMs' | 'excludePorts'>,
  deadline: number,
): Promise<{ port: number; path: string }> {
  if (process.platform !== 'linux') throw new ProbeError('stack probe needs Linux /proc');
  // kill(0) and kill(-1) signal whole groups; never let a bad pid get that far.
  if (!Number.isInteger(pid) || pid <= 1) throw new ProbeError(`invalid pid ${pid}`);
  if (pid === process.pid) throw new ProbeError('refusing to probe this process');
  if (!(opts.timeoutMs > 0) || !Number.isFinite(opts.timeoutMs))
    throw new ProbeError(`invalid timeoutMs ${opts.timeoutMs}`);

  // SIGUSR1 terminates a process that does not handle it: only signal a
  // process running the same node binary as this one (workers are forked
  // with process.execPath). Its command line cannot be checked for
  // --inspect-port: setting process.title overwrites /proc/PID/cmdline.
  void loadWebSocket().catch(() => {}); // overlaps the inspector's start-up; connect() reports a failure
  const exe = await readExe(pid);
  if (exe !== nodeBinary()) throw new ProbeError(`pid ${pid} is not running ${nodeBinary()} (it runs ${exe})`);

  const exclude = new Set(opts.excludePorts ?? []);
  const before = await socketInodes(pid);
  // With excludePorts, an inspector that is already open can be recognised.
  const old = opts.excludePorts
    ? (await listeningSockets(pid, before)).filter((s) => s.loopback && !exclude.has(s.port))
    : [];

  try {
    process.kill(pid, 'SIGUSR1');
  } catch (err) {
    throw new ProbeError(`cannot signal pid ${pid}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }

  const tried = new Set<number>();
  for (;;) {
    const now = await socketInodes(pid);
    const fresh = [...now].filter((inode) => !before.has(inode));
    const found =
      fresh.length > 0 ? (await listeningSockets(pid, new Set(fresh))).filter((s) => !exclude.has(s.port)) : [];
    const exposed = found.find((s) => !s.loopback);
    if (exposed) {
      // Most likely the worker was started with an --inspect-port that is not
      // loopback. The harm is done (the caller is about to kill it); say so
      // loudly rather than talk to it.
      throw new ProbeError(
        `a listener on ${exposed.address}:${exposed.port} appeared after SIGUSR1, not on 127.0.0.1; ` +
          "not using it (check the workers' --inspect-port)",
      );
    }
    for (const candidate of [...found, ...old]) {
      if (tried.has(candidate.inode)) continue;
      tried.add(candidate.inode);
      const target = await debuggerPath(candidate.port, Math.min(deadline, performance.now() + CANDIDATE_MS));
      if (target !== null) return { port: candidate.port, path: target };
    }
    if (performance.now() + POLL_MS >= deadline) {
      throw new ProbeError(
        tried.size > 0
          ? 'no inspector answered on the new loopback listeners'
          : 'no inspector started after SIGUSR1 (was the worker forked with --inspect-port=127.0.0.1:0?)',
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** The WebSocket path of the first debugger target at 127.0.0.1:port, or null when it is not an inspector. */
async function debuggerPath(port: number, deadline: number): Promise<string | null> {
  let list: unknown;
  try {
    list = await fetchJson(port, '/json/list', deadline);
  } catch {
    return null;
  }
  if (!Array.isArray(list)) return null;
  for (const target of list as Array<{ webSocketDebuggerUrl?: unknown }>) {
    if (typeof target?.webSocketDebuggerUrl !== 'string') continue;
    try {
      // Only the path is used: the connection always goes to 127.0.0.1:port.
      const url = new URL(target.webSocketDebuggerUrl);
      if (url.protocol === 'ws:') return url.pathname;
    } catch {
      // not a URL; try the next target
    }
  }
  return null;
}

interface CallFrame {
  functionName?: string;
  url?: string;
  location?: { scriptId?: string; lineNumber?: number; columnNumber?: number };
}

/** Connects, pauses the worker's JavaScript and formats the frames it stopped in. */
async function pausedStack(port: number, path: string, deadline: number, maxFrames: number): Promise<string> {
  const client = await InspectorClient.connect(port, path, deadline);
  try {
    // Debugger.enable announces every script (Debugger.scriptParsed); keep
    // their URLs in case a frame carries only a scriptId.
    const urls = new Map<string, string>();
    client.onEvent((e) => {
      if (
        e.method === 'Debugger.scriptParsed' &&
        typeof e.params.scriptId === 'string' &&
        typeof e.params.url === 'string'
      ) {
        urls.set(e.params.scriptId, e.params.url);
      }
    });
    const paused = client.waitForEvent('Debugger.paused', deadline);
    // Sent together: the worker handles them in order at its next interrupt check. Each carries the deadline.
    const enabled = client.send('Debugger.enable', {}, deadline);
    const pause = client.send('Debugger.pause', {}, deadline);
    const [event] = await Promise.all([paused, enabled, pause]);
    const frames = Array.isArray(event.callFrames) ? (event.callFrames as CallFrame[]) : [];
    if (frames.length === 0) throw new ProbeError('the worker paused with no JavaScript frames');
    const text = formatFrames(frames, urls, maxFrames);
    // Runtime.evaluate runs while paused; the reply never comes, as the session closes with the inspector.
    await client
      .send('Runtime.evaluate', { expression: CLOSE_INSPECTOR }, Math.min(deadline, performance.now() + CLOSE_MS))
      .catch(() => {});
    return text;
  } finally {
    // No resume: the caller kills the worker. Closing the last session makes
    // Node resume it anyway.
    client.close();
  }
}

/** One line per frame, as in an Error stack: `    at name (url:line:column)`, 1-based. */
export function formatFrames(frames: CallFrame[], urls: Map<string, string> = new Map(), maxFrames = 64): string {
  const lines = frames.slice(0, maxFrames).map((f) => {
    const loc = f.location ?? {};
    const url = f.url || (loc.scriptId !== undefined ? urls.get(loc.scriptId) : undefined) || '<anonymous>';
    const position = `${(loc.lineNumber ?? 0) + 1}:${(loc.columnNumber ?? 0) + 1}`;
    return `    at ${f.functionName || '<anonymous>'} (${url}:${position})`;
  });
  if (frames.length > maxFrames) lines.push(`    ... ${frames.length - maxFrames} more frames`);
  return lines.join('\n');
}

let nodeBinaryPath: string | null = null;
function nodeBinary(): string {
  nodeBinaryPath ??= realpathSync(process.execPath);
  return nodeBinaryPath;
}

async function readExe(pid: number): Promise<string> {
  try {
    // A binary replaced on disk since the process started reads "... (deleted)".
    return (await fs.readlink(`/proc/${pid}/exe`)).replace(/ \(deleted\)$/, '');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ProbeError(
      code === 'ENOENT' ? `pid ${pid} is not running` : `cannot read /proc/${pid}/exe: ${code ?? String(err)}`,
    );
  }
}
