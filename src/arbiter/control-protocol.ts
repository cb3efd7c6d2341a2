/**
 * The control-socket protocol between `tsunicorn ctl` and the arbiter: one
 * JSON object per line each way, a request and then its response. Like the
 * worker IPC (src/protocol.ts), every message is a member of these unions.
 *
 *   → {"cmd":"status"}                 ← {"ok":true,"status":{pid, workers: [...], ...}}
 *   → {"cmd":"scale","workers":3}      ← {"ok":true,"message":"scaling from 2 to 3 workers"}
 *   → {"cmd":"reload"} | {"cmd":"stop"}  ← {"ok":false,"error":"..."} on failure
 */
import type { CanaryStatus } from './canary-trial.js';
import type { WorkerRecord } from './workers.js';

export type ControlRequest =
  /** The arbiter and each of its workers. */
  | { cmd: 'status' }
  /** What HUP does. */
  | { cmd: 'reload' }
  /** Set the worker count, as that many TTIN/TTOU would. */
  | { cmd: 'scale'; workers: number }
  /** What TERM does (graceful), or INT (quick). The arbiter closes the connection when it exits. */
  | { cmd: 'stop'; graceful?: boolean };

export const CONTROL_COMMANDS = ['status', 'reload', 'scale', 'stop'] as const satisfies readonly ControlRequest['cmd'][];

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
}

export interface ArbiterStatus {
  pid: number;
  name: string;
  state: string;
  generation: number;
  /** The worker count the arbiter converges on. */
  target: number;
  workers: WorkerStatus[];
  /** The last --reload-canary trial, until the next HUP. */
  canary?: CanaryStatus;
}

export type ControlResponse = { ok: true; message?: string; status?: ArbiterStatus } | { ok: false; error: string };

/** Most workers `scale` accepts: the --workers limit. */
export const MAX_WORKERS = 1024;

/** A request line, or a one-line reason it is not one. */
export function parseControlRequest(line: string): ControlRequest | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'not a JSON object';
  }
  if (typeof value !== 'object' || value === null) return 'not a JSON object';
  const msg = value as { cmd?: unknown; workers?: unknown; graceful?: unknown };
  switch (msg.cmd) {
    case 'status':
    case 'reload':
      return { cmd: msg.cmd };
    case 'scale':
      if (typeof msg.workers !== 'number' || !Number.isInteger(msg.workers) || msg.workers < 1 || msg.workers > MAX_WORKERS) {
        return `scale needs a number of workers from 1 to ${MAX_WORKERS}`;
      }
      return { cmd: 'scale', workers: msg.workers };
    case 'stop':
      return { cmd: 'stop', graceful: msg.graceful !== false };
    default:
      return `unknown command ${JSON.stringify(msg.cmd)} (known: ${CONTROL_COMMANDS.join(', ')})`;
  }
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
  };
}
