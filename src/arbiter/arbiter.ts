/**
 * The arbiter (master): binds the listeners, forks and watches workers, and turns signals into actions.
 * Every state change happens in `run()`, one event at a time: handlers only push events onto the queue
 * (event-queue.ts). A HUP re-reads the config off the loop and its result comes back as an event; signals
 * and commands taken meanwhile are held until it is applied, so they keep their order. What the loop runs with:
 * context.ts; what each event does: signals.ts, hup.ts, usr2.ts, stop.ts, worker-events.ts, control/.
 */
import { ArbiterContext, type ArbiterInput, ArbiterState } from './context.js';
import { type ControlActions, answerControl } from './control/commands.js';
import { controlActions } from './control/actions.js';
import { remember, stallOf } from './decisions/liveness.js';
import type { ArbiterEvent } from './event-queue.js';
import { applyReload, beginReload, waitsForReload } from './hup.js';
import { now } from './pool/worker-record.js';
import { onSignal } from './signals.js';
import { start } from './start.js';
import { drain, finish } from './stop.js';
import { murderStale, nextWakeMs } from './timeouts.js';
import { maybePromote } from './usr2.js';
import { onSnapshotTaken, onWorkerExit, onWorkerMessage, onWorkerStack } from './worker-events.js';

export type { ArbiterInput } from './context.js';

export class Arbiter {
  private readonly a: ArbiterContext;
  private readonly control: ControlActions;

  constructor(input: ArbiterInput) {
    this.a = new ArbiterContext(input);
    this.control = controlActions(this.a);
  }

  /** Binds, forks and runs until stopped; resolves with the process exit code. */
  async run(): Promise<number> {
    const { a } = this;
    await start(a);
    a.state = ArbiterState.Running;
    // When the loop went to sleep, for how long, and when it woke: its own lateness (liveness.ts).
    let asleepAt = now();
    let sleepMs = 0;
    let wokeAt = asleepAt;
    for (;;) {
      this.guard(() => this.turn({ asleepAt, sleepMs, wokeAt, turnAt: now() }));
      if (a.stopping && a.pool.size === 0) return finish(a);
      asleepAt = now();
      const wait = nextWakeMs(a.pool.values(), a.settings, a.pool.nextSpawnAt, a.stalls);
      sleepMs = a.shutdownDelay.wakeMs(wait);
      const event = await a.queue.next(sleepMs);
      wokeAt = now();
      if (event) {
        try {
          await this.handle(event);
        } catch (err) {
          a.logBug(err);
        }
      }
    }
  }

  /** What the loop does on every turn, event or not: deadlines, the stop's drain, and converging the workers. */
  private turn(lateness: Parameters<typeof stallOf>[0]): void {
    const { a } = this;
    a.stalls = remember(a.stalls, stallOf(lateness));
    maybePromote(a);
    this.reportReadiness();
    murderStale(a.pool.values(), a.settings, a.log, a.queue, a.stalls, a.heapSnapshotTaker());
    if (a.shutdownDelay.due()) drain(a);
    if (!a.stopping || a.shutdownDelay.pending) a.pool.converge(a.poolContext());
    a.metrics?.tick(a.pool.countLive(), now());
  }

  /** The arbiter must outlive its own bugs: log, and keep converging. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.a.logBug(err);
    }
  }

  private async handle(event: ArbiterEvent): Promise<void> {
    const { a } = this;
    if (a.state === ArbiterState.Reloading && waitsForReload(event)) {
      a.held.push(event);
      return;
    }
    switch (event.kind) {
      case 'signal':
        return onSignal(a, event.signal);
      case 'message':
        return onWorkerMessage(a, event.workerId, event.msg);
      case 'exit':
        return onWorkerExit(a, event.workerId, event.code, event.signal);
      case 'stack':
        return onWorkerStack(a, event.workerId, event.stack, event.reason);
      case 'snapshot-taken':
        return onSnapshotTaken(a, event.workerId);
      case 'successor-exit':
        a.succession.successorExited(event.pid, event.code, event.signal, a.log);
        if (!a.stopping) a.systemd.mainPidAgain();
        return;
      case 'files-changed':
        if (a.state === ArbiterState.Running) {
          a.log.info(`Reloading: ${event.file} changed`);
          beginReload(a);
        }
        return;
      case 'reloaded':
        return applyReload(a, event.next);
      case 'control':
        return answerControl(event.request, event.reply, this.control, a.log);
    }
  }

  /** systemd (Type=notify): READY=1 once the current generation serves at full strength, after start and each HUP. */
  private reportReadiness(): void {
    const { a } = this;
    if (!a.systemd.readyPending || a.state !== ArbiterState.Running) return;
    const ready = a.pool.readiness();
    if (ready !== null) a.systemd.ready(ready);
  }
}
