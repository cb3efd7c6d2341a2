/**
 * The arbiter's self-pipe analogue (Gunicorn's master queues signals and writes to a pipe). Signal handlers,
 * worker exits and worker messages only push an event and wake the loop; the loop takes events one at a
 * time, so every decision is made in one place, in order.
 */
import cluster, { type Worker } from 'node:cluster';
import process from 'node:process';
import { WORKER_TO_ARBITER_TYPES, type WorkerToArbiter, isMessage } from '../protocol.js';
import type { ControlRequest, ControlResponse } from './control/protocol.js';
import type { Reloaded } from './reload.js';

export type ArbiterSignal =
  | 'SIGHUP'
  | 'SIGTERM'
  | 'SIGINT'
  | 'SIGQUIT'
  | 'SIGTTIN'
  | 'SIGTTOU'
  | 'SIGUSR1'
  | 'SIGUSR2'
  | 'SIGWINCH';

export type ArbiterEvent =
  | { kind: 'signal'; signal: ArbiterSignal }
  | { kind: 'message'; workerId: number; msg: WorkerToArbiter }
  | { kind: 'exit'; workerId: number; code: number | null; signal: string | null }
  /** The stack of a timed-out worker was read (or could not be: null). */
  | { kind: 'stack'; workerId: number; stack: string | null; reason: string | null }
  /** The heap snapshot of a worker retired for memory is written, or failed (--diagnostics-heap-snapshot). */
  | { kind: 'snapshot-taken'; workerId: number }
  /** The new master started by USR2 exited. */
  | { kind: 'successor-exit'; pid: number; code: number | null; signal: string | null }
  /** --reload saw a change. */
  | { kind: 'files-changed'; file: string }
  /** A HUP's re-read of the config finished: the result to apply, or null when it did not load. */
  | { kind: 'reloaded'; next: Reloaded | null }
  /** A `tsunicorn ctl` request on the control socket; answered from the loop. */
  | { kind: 'control'; request: ControlRequest; reply: (response: ControlResponse) => void };

const SIGNALS: readonly ArbiterSignal[] = [
  'SIGHUP',
  'SIGTERM',
  'SIGINT',
  'SIGQUIT',
  'SIGTTIN',
  'SIGTTOU',
  'SIGUSR1',
  'SIGUSR2',
  'SIGWINCH',
];

export class EventQueue {
  private readonly events: ArbiterEvent[] = [];
  private wakeup: (() => void) | null = null;

  /** Installs the handlers that feed the queue: the arbiter's signals, and node:cluster's worker messages and exits. */
  listen(): void {
    for (const sig of SIGNALS) process.on(sig, () => this.push({ kind: 'signal', signal: sig }));
    cluster.on('message', (worker: Worker, msg: unknown) => {
      if (isMessage<WorkerToArbiter>(msg, WORKER_TO_ARBITER_TYPES))
        this.push({ kind: 'message', workerId: worker.id, msg });
    });
    cluster.on('exit', (worker: Worker, code: number | null, signal: string | null) => {
      this.push({ kind: 'exit', workerId: worker.id, code, signal });
    });
  }

  push(event: ArbiterEvent): void {
    this.events.push(event);
    this.wake();
  }

  /** Puts events back at the head of the queue, in their order: they were taken, then held for later. */
  requeue(events: readonly ArbiterEvent[]): void {
    this.events.unshift(...events);
    if (events.length > 0) this.wake();
  }

  /** Wakes the loop without an event (a timer it set has fired). */
  wake(): void {
    const w = this.wakeup;
    this.wakeup = null;
    w?.();
  }

  /** The next event, or null after `timeoutMs` without one. */
  async next(timeoutMs: number): Promise<ArbiterEvent | null> {
    const ready = this.events.shift();
    if (ready) return ready;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.wakeup = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    return this.events.shift() ?? null;
  }
}
