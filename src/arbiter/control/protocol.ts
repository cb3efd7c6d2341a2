/**
 * The control-socket protocol between `tsunicorn ctl` and the arbiter: one
 * JSON object per line each way, a request and then its response. Like the
 * worker IPC (src/protocol.ts), every message is a member of these unions.
 *
 *   → {"cmd":"status"}                 ← {"ok":true,"status":{pid, workers: [...], ...}}
 *   → {"cmd":"scale","workers":3}      ← {"ok":true,"message":"scaling from 2 to 3 workers"}
 *   → {"cmd":"reload"} | {"cmd":"stop"}  ← {"ok":false,"error":"..."} on failure
 *   → {"cmd":"stack","pid":1234}       ← {"ok":true,"stacks":[{pid, loop, stack | error}]}  (no pid: every worker)
 *   → {"cmd":"kill","pid":1234}        ← {"ok":true,"message":"replacing worker 1234"}
 *   → {"cmd":"config"}                 ← {"ok":true,"config":{key: value}}
 *   → {"cmd":"listeners"}              ← {"ok":true,"listeners":[{address, fd, kind, workers}]}
 */
import { MAX_WORKERS } from '../../config/settings.js';
import type { BeatLoad } from '../../protocol.js';
import type { CanaryStatus } from '../pool/canary-trial.js';
import type { WorkerRecord } from '../pool/worker-record.js';

export type ControlRequest =
  /** The arbiter and each of its workers. */
  | { cmd: 'status' }
  /** What HUP does. */
  | { cmd: 'reload' }
  /** Set the worker count, as that many TTIN/TTOU would. */
  | { cmd: 'scale'; workers: number }
  /** What TERM does (graceful), or INT (quick). The arbiter closes the connection when it exits. */
  | { cmd: 'stop'; graceful?: boolean }
  /** The JavaScript stack of one worker, or of each. */
  | { cmd: 'stack'; pid?: number }
  /** Replace one worker gracefully. */
  | { cmd: 'kill'; pid: number }
  /** The running settings, as --print-config shows them. */
  | { cmd: 'config' }
  /** Each bound address and the workers holding it. */
  | { cmd: 'listeners' };

export const CONTROL_COMMANDS = [
  'status',
  'reload',
  'scale',
  'stop',
  'stack',
  'kill',
  'config',
  'listeners',
] as const satisfies readonly ControlRequest['cmd'][];

export interface WorkerStatus {
  pid: number;
  generation: number;
  state: string;
  /** Since fork. */
  ageMs: number;
  requests: number;
  inFlight: number;
  /** Resident memory, bytes, as of the last heartbeat. */
  rss: number;
  /** How long ago the last heartbeat came (a blocked event loop sends none). */
  beatAgeMs: number;
  /** Heap, event-loop time and latency buckets as of that heartbeat (cumulative; `ctl top` takes differences). */
  load: BeatLoad;
}

export interface ArbiterStatus {
  pid: number;
  name: string;
  state: string;
  generation: number;
  /** The worker count the arbiter converges on. */
  target: number;
  /** Workers that exited and were replaced or removed since the arbiter started. */
  restarts: number;
  workers: WorkerStatus[];
  /** The last --reload-canary trial, until the next HUP. */
  canary?: CanaryStatus;
}

/** `ctl stack`: one worker's stack, or why it could not be read. */
export interface WorkerStack {
  pid: number;
  generation: number;
  /** `idle`: the loop was turning (the frames are the next JavaScript it ran); `blocked`: no beat for a while. */
  loop: 'idle' | 'blocked';
  beatAgeMs: number;
  stack?: string;
  error?: string;
}

/** `ctl listeners`: one bound address. */
export interface ListenerStatus {
  address: string;
  fd: number;
  kind: 'tcp' | 'unix' | 'fd';
  /** Received from the previous master on USR2. */
  inherited: boolean;
  /** Pids of the live workers booted with it. */
  workers: number[];
}

export type ControlResponse =
  | {
      ok: true;
      message?: string;
      status?: ArbiterStatus;
      stacks?: WorkerStack[];
      config?: Record<string, unknown>;
      /** The --print-config text of `config`. */
      configText?: string;
      listeners?: ListenerStatus[];
    }
  | { ok: false; error: string };

/** Most workers `scale` accepts: the --workers limit. */
export { MAX_WORKERS };

/** A request line, or a one-line reason it is not one. */
export function parseControlRequest(line: string): ControlRequest | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'not a JSON object';
  }
  if (typeof value !== 'object' || value === null) return 'not a JSON object';
  const msg = value as { cmd?: unknown; workers?: unknown; graceful?: unknown; pid?: unknown };
  const pid = msg.pid;
  switch (msg.cmd) {
    case 'status':
    case 'reload':
      return { cmd: msg.cmd };
    case 'scale':
      if (
        typeof msg.workers !== 'number' ||
        !Number.isInteger(msg.workers) ||
        msg.workers < 1 ||
        msg.workers > MAX_WORKERS
      ) {
        return `scale needs a number of workers from 1 to ${MAX_WORKERS}`;
      }
      return { cmd: 'scale', workers: msg.workers };
    case 'stop':
      return { cmd: 'stop', graceful: msg.graceful !== false };
    case 'config':
    case 'listeners':
      return { cmd: msg.cmd };
    case 'stack':
      if (pid === undefined) return { cmd: 'stack' };
      return isPid(pid) ? { cmd: 'stack', pid } : 'stack takes a worker pid (a whole number above 1) or none';
    case 'kill':
      return isPid(pid) ? { cmd: 'kill', pid } : 'kill needs a worker pid (a whole number above 1)';
    default:
      return `unknown command ${JSON.stringify(msg.cmd)} (known: ${CONTROL_COMMANDS.join(', ')})`;
  }
}

/** A pid the arbiter may look up: never 0, 1 or negative (kill() would signal groups). */
export function isPid(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 1;
}

export function workerStatus(w: WorkerRecord, nowMs: number): WorkerStatus {
  return {
    pid: w.pid,
    generation: w.generation,
    state: w.state,
    ageMs: Math.max(0, Math.round(nowMs - w.forkedAt)),
    requests: w.requests,
    inFlight: w.inFlight,
    rss: w.rss,
    beatAgeMs: Math.max(0, Math.round(nowMs - w.lastBeat)),
    load: w.load,
  };
}
