/**
 * `tsunicorn ctl stack [PID]`: reads the JavaScript stack of live workers with
 * the probe the --timeout path uses (stack-probe.ts), without killing them: the
 * probe closes the inspector once the frames are read and the worker resumes.
 * Workers are probed one after another, so at most one is paused at a time,
 * and outside the arbiter loop: the reply is sent when the last one is done.
 */
import type { Settings } from '../../config/settings.js';
import type { ControlResponse, WorkerStack } from './protocol.js';
import { listeningSockets } from '../diagnostics/process-listeners.js';
import { probeStack } from '../diagnostics/stack-probe.js';
import { type WorkerRecord, appPorts, beatInterval, now } from '../pool/worker-record.js';

/** A healthy but idle worker pauses at the next JavaScript it runs, at the latest its next beat (≤ 1 s). */
const PROBE_MS = 4000;

/** Pids whose stack is being read by `ctl stack` now: a second probe would find the first one's inspector. */
const probing = new Set<number>();

/** A worker whose last beat is older than two beat intervals has a blocked event loop. */
export function loopState(beatAgeMs: number, beatMs: number): WorkerStack['loop'] {
  return beatAgeMs > 2 * beatMs ? 'blocked' : 'idle';
}

/** Which workers `ctl stack` reads: the one with `pid`, or every booted one; or why it refuses. */
export function stackTargets(
  workers: Iterable<WorkerRecord>,
  pid: number | undefined,
  settings: Settings,
): WorkerRecord[] | string {
  if (!settings.stackCapture) return 'stack capture is off (--no-stack-capture): the inspector is never opened';
  const all = [...workers];
  if (pid === undefined) {
    const ready = all.filter((w) => w.hello && !w.timedOut).sort((a, b) => a.forkedAt - b.forkedAt);
    return ready.length > 0 ? ready : 'no worker is running';
  }
  const w = all.find((x) => x.pid === pid);
  if (!w) return `pid ${pid} is not one of this arbiter's workers (see ctl status)`;
  if (w.timedOut) return `worker ${pid} passed --timeout and is being aborted; its stack goes to the error log`;
  if (!w.hello) return `worker ${pid} is still starting`;
  return [w];
}

/** The loopback TCP ports `pid` listens on; none when it cannot be read (gone). */
async function loopbackPorts(pid: number): Promise<Set<number>> {
  try {
    return new Set((await listeningSockets(pid)).filter((l) => l.loopback).map((l) => l.port));
  } catch {
    return new Set();
  }
}

/**
 * Reads each target's stack in turn. `leftOpen(pid)` is called for a worker whose inspector may still be
 * listening afterwards (a probe that failed midway, or whose close did not take): only a timed-out worker
 * is killed after a probe, so a live one would otherwise keep a listener any local user could attach to.
 */
export async function readStacks(
  targets: WorkerRecord[],
  settings: Settings,
  leftOpen: (pid: number) => void,
): Promise<ControlResponse> {
  const stacks: WorkerStack[] = [];
  const beatMs = beatInterval(settings);
  for (const w of targets) {
    const beatAgeMs = Math.max(0, Math.round(now() - w.lastBeat));
    const entry: WorkerStack = { pid: w.pid, generation: w.generation, loop: loopState(beatAgeMs, beatMs), beatAgeMs };
    if (probing.has(w.pid)) {
      stacks.push({ ...entry, error: 'another ctl stack is reading it now' });
      continue;
    }
    probing.add(w.pid);
    try {
      const before = await loopbackPorts(w.pid);
      const r = await probeStack(w.pid, { timeoutMs: PROBE_MS, excludePorts: appPorts(w) });
      stacks.push(r.ok ? { ...entry, stack: r.stack } : { ...entry, error: r.reason });
      const after = await loopbackPorts(w.pid);
      if (r.ok ? !r.inspectorClosed : [...after].some((p) => !before.has(p))) leftOpen(w.pid);
    } finally {
      probing.delete(w.pid);
    }
  }
  return { ok: true, stacks };
}
