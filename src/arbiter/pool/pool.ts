/**
 * The arbiter's workers as a set, and the decisions applied to it: which generation is current (each HUP
 * starts the next), the target to converge on, spawning, retiring, stopping, and what an exit means.
 * Nothing here runs on its own: the arbiter loop calls in, one event at a time. One worker's record and
 * process: worker-record.ts; its messages: worker-messages.ts; kill deadlines and hung workers: timeouts.ts.
 */
import process from 'node:process';
import { type HookName, type Hooks, type ServerInfo, callHookSync } from '../../config/hooks.js';
import type { Settings } from '../../config/settings.js';
import type { Logger } from '../../log/logger.js';
import { type ArbiterMetrics, restartReason } from '../../metrics/arbiter-metrics.js';
import type { RequestMetricsSnapshot, WorkerToArbiter } from '../../protocol.js';
import { planConvergence } from '../decisions/convergence.js';
import type { Identity } from '../platform/privileges.js';
import type { Listener } from '../sockets/listeners.js';
import type { TlsMaterial } from '../sockets/tls.js';
import { abortStuck, stopDeadline } from '../timeouts.js';
import { CanaryTrial } from './canary-trial.js';
import { forkWorker } from './fork.js';
import { StartHistory } from './start-history.js';
import { type Halt, judgeExit } from './worker-exit.js';
import { type MessageHandlers, workerMessages } from './worker-messages.js';
import {
  type RetireReason,
  type WorkerRecord,
  WorkerState,
  isLive,
  now,
  sendToWorker,
  signalWorker,
} from './worker-record.js';

/** What the pool works with, lent by the arbiter on each call: its running configuration (a HUP replaces it). */
/** --diagnostics-heap-snapshot takes effect with --diagnostics-dir, and opens no inspector under --no-stack-capture. */
export const takesHeapSnapshots = (settings: Settings): boolean =>
  settings.diagnosticsHeapSnapshot && settings.diagnosticsDir !== null && settings.stackCapture;

export interface PoolContext {
  settings: Settings;
  hooks: Hooks;
  /** --certfile & co., sent to each worker at boot. */
  tls: TlsMaterial | null;
  /** --user / --group: who workers are forked as. */
  identity: Identity | null;
  listeners: readonly Listener[];
  metrics: ArbiterMetrics | null;
}

export class WorkerPool {
  private readonly byId = new Map<number, WorkerRecord>();
  generation = 1;
  /** Live worker count the loop converges on; TTIN/TTOU move it. */
  target: number;
  /** WINCH: run no workers until the next HUP (the old master during an upgrade). */
  winched = false;
  /** Backoff, failed generations and the other boot/ready facts spawns and exits are decided from. */
  readonly history = new StartHistory();
  /** Workers that exited and were replaced or removed (not at stop), for `ctl top`. */
  restarts = 0;
  /** The last --reload-canary trial: on trial, or its outcome until the next HUP. */
  canary: CanaryTrial | null = null;
  /** Each worker's latest cumulative request snapshot (with --metrics-bind or --reload-canary). */
  readonly snapshots = new Map<number, RequestMetricsSnapshot>();
  private readonly messages: MessageHandlers = workerMessages(this);

  constructor(
    target: number,
    /** The workers' process title, `tsunicorn: worker [app]`. */
    private readonly title: string,
    readonly log: Logger,
    readonly reportHook: (name: HookName, err: unknown) => void,
  ) {
    this.target = target;
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: number): WorkerRecord | undefined {
    return this.byId.get(id);
  }

  values(): IterableIterator<WorkerRecord> {
    return this.byId.values();
  }

  /** Spawning waits until then (monotonic ms) while workers keep dying right after boot. */
  get nextSpawnAt(): number {
    return this.history.nextSpawnAt;
  }

  /** The target as the loop applies it, and as hooks and `ctl status` report it: 0 while WINCHed. */
  get effectiveTarget(): number {
    return this.winched ? 0 : this.target;
  }

  /** The arbiter, as hooks see it. */
  serverInfo(settings: Settings): ServerInfo {
    return { pid: process.pid, settings, generation: this.generation, workers: this.effectiveTarget };
  }

  countReady(): number {
    let n = 0;
    for (const w of this.byId.values()) if (w.state === WorkerState.Ready) n++;
    return n;
  }

  /** Workers counted against the target: booting or serving. */
  countLive(): number {
    let n = 0;
    for (const w of this.byId.values()) if (isLive(w)) n++;
    return n;
  }

  /** systemd READY=1: the worker count to report once the current generation serves at full strength, or null. */
  readiness(): number | null {
    // A generation that failed to boot leaves the old workers serving: that is ready too.
    if (this.history.failedGenerations.has(this.generation)) return this.countReady();
    let ready = 0;
    for (const w of this.byId.values()) if (w.generation === this.generation && w.state === WorkerState.Ready) ready++;
    return ready >= this.effectiveTarget ? ready : null;
  }

  /**
   * HUP, once the new config is in place: the next workers forked are a new generation, with no backoff.
   * With --reload-canary and workers serving, its first worker is a canary on trial (decisions/canary-verdict.ts).
   */
  startGeneration(settings: Settings): void {
    const serving = this.winched ? 0 : this.countReady();
    this.winched = false;
    this.generation++;
    if (this.canary?.onTrial) this.log.info(`Canary of generation ${this.canary.generation} superseded by a new HUP`);
    this.canary =
      settings.reloadCanary > 0 && serving > 0
        ? new CanaryTrial(this.generation, settings.reloadCanary, {
            max5xx: settings.reloadCanaryMax5xx,
            maxP99Ratio: settings.reloadCanaryMaxP99Ratio,
            minRequests: settings.reloadCanaryMinRequests,
          })
        : null;
    this.history.newGeneration();
  }

  /** Converges the workers on the target; the rule itself is planConvergence (convergence.ts). */
  converge(ctx: PoolContext): void {
    const trial = this.canary?.generation === this.generation && this.canary.onTrial ? this.canary : null;
    if (trial?.windowClosed) this.decideCanary(trial, null, ctx);
    const live = [...this.byId.values()].filter(isLive).map((w) => ({
      record: w,
      generation: w.generation,
      ready: w.state === WorkerState.Ready,
      forkedAt: w.forkedAt,
    }));
    const plan = planConvergence({
      live,
      generation: this.generation,
      target: this.target,
      winched: this.winched,
      failed: this.history.failedGenerations.has(this.generation),
      maySpawn: now() >= this.history.nextSpawnAt,
      canary: this.canary?.generation === this.generation && this.canary.onTrial,
    });
    for (let i = 0; i < plan.spawn; i++) this.spawn(ctx);
    for (const { worker, reason } of plan.retire) this.retire(worker.record, reason, ctx.settings);
  }

  private spawn(ctx: PoolContext): void {
    callHookSync(ctx.hooks, 'preFork', this.reportHook, this.serverInfo(ctx.settings), {
      pid: 0,
      generation: this.generation,
    });
    const w = forkWorker({
      settings: ctx.settings,
      identity: ctx.identity,
      generation: this.generation,
      listeners: ctx.listeners,
      title: this.title,
      onOutput: this.onWorkerOutput,
    });
    this.byId.set(w.id, w);
    if (this.canary?.generation === this.generation && this.canary.onTrial) {
      this.canary.workerId = w.id;
      this.canary.pid = w.pid;
      this.log.info(`Canary (pid:${w.pid}) of generation ${this.generation} starting; the old workers keep serving`);
    }
  }

  private readonly onWorkerOutput = (pid: number, line: string, stream: 'stdout' | 'stderr'): void => {
    this.log.captured(pid, line, stream);
  };

  /** `tsunicorn ctl kill PID`: retire one serving worker gracefully; the next converge replaces it. */
  retireOne(w: WorkerRecord, settings: Settings): void {
    if (isLive(w)) this.retire(w, 'ctl-kill', settings);
  }

  /** Stops a worker gracefully; the loop replaces it. */
  retire(w: WorkerRecord, reason: RetireReason, settings: Settings): void {
    w.state = WorkerState.Retiring;
    w.retireReason = reason;
    w.killAt = stopDeadline(settings, true);
    this.log.debug(`Retiring worker (pid:${w.pid}): ${reason}`);
    // Its heap is wanted as it is now: the stop waits for the snapshot (worker-events.ts), bounded by killAt.
    w.stopHeld = reason === 'memory' && takesHeapSnapshots(settings);
    if (!w.stopHeld) sendToWorker(w, { t: 'stop', graceful: true });
  }

  /** The heap snapshot of a worker retired for memory is written (or failed): now it may drain. */
  releaseStop(w: WorkerRecord): void {
    if (!w.stopHeld) return;
    w.stopHeld = false;
    sendToWorker(w, { t: 'stop', graceful: true });
  }

  onMessage(id: number, msg: WorkerToArbiter, ctx: PoolContext): void {
    const w = this.byId.get(id);
    if (w) (this.messages[msg.t] as (m: WorkerToArbiter, w: WorkerRecord, ctx: PoolContext) => void)(msg, w, ctx);
  }

  /** A timed-out worker's stack was read (or could not be): abort it (timeouts.ts). */
  onStack(id: number, stack: string | null, reason: string | null, ctx: PoolContext): void {
    const w = this.byId.get(id);
    if (!w) return;
    abortStuck(w, stack, reason, this.log, () =>
      callHookSync(ctx.hooks, 'workerAbort', this.reportHook, this.serverInfo(ctx.settings), {
        pid: w.pid,
        generation: w.generation,
        stack,
      }),
    );
  }

  /** The arbiter is stopping: every worker is asked to stop, and killed at `deadline` (timeouts.ts). */
  stopAll(graceful: boolean, deadline: number): void {
    for (const w of this.byId.values()) {
      w.state = WorkerState.Stopping;
      w.killAt = Math.min(w.killAt ?? Number.POSITIVE_INFINITY, deadline);
      if (graceful) sendToWorker(w, { t: 'stop', graceful: true });
      // Before hello it has no signal handlers yet (SIGQUIT would dump core) and nothing to lose.
      else signalWorker(w, w.hello ? 'SIGQUIT' : 'SIGKILL');
    }
  }

  /** A worker exited (`stopping`: the arbiter is). A Halt when the arbiter must stop because workers cannot boot. */
  onExit(id: number, code: number | null, signal: string | null, ctx: PoolContext, stopping: boolean): Halt | null {
    const w = this.byId.get(id);
    if (!w) return null;
    this.byId.delete(id);
    if (restartReason(w)) this.restarts++;
    ctx.metrics?.workerExit(w, restartReason(w));
    const expected = w.state === WorkerState.Retiring || w.state === WorkerState.Stopping;
    const trial = this.canary;
    if (trial?.onTrial && trial.generation === w.generation && !stopping && !expected) {
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      this.decideCanary(trial, w.readyAt === null ? `failed to boot (${how})` : how, ctx);
    }
    trial?.forget(id);
    this.snapshots.delete(id);
    callHookSync(ctx.hooks, 'childExit', this.reportHook, this.serverInfo(ctx.settings), {
      pid: w.pid,
      generation: w.generation,
      code,
      signal,
    });
    return judgeExit({ worker: w, code, signal, expected, stopping }, this.byId.values(), this.history, this.log);
  }

  /**
   * Applies the canary verdict: a pass lets the rollover go on; a failure retires the canary and marks its
   * generation failed, so the old workers keep serving until the next HUP, as when new workers cannot boot.
   */
  private decideCanary(trial: CanaryTrial, exited: string | null, ctx: PoolContext): void {
    const verdict = trial.judge((id) => this.snapshots.get(id) ?? null, exited);
    const who = `Canary (pid:${trial.pid}) of generation ${trial.generation}`;
    ctx.metrics?.canaryJudged(verdict.pass ? 'passed' : verdict.reason);
    if (verdict.pass) {
      this.log.info(`${who} passed (${verdict.detail}); rolling over`);
      return;
    }
    this.history.failedGenerations.add(trial.generation);
    // The canary's own failure is reported here; its exit is not a generation failing to boot.
    this.history.bootErrorReported.add(trial.generation);
    const serving = [...this.byId.values()].filter(
      (o) => o.generation !== trial.generation && o.state === WorkerState.Ready,
    );
    this.log.error(
      `${who} failed: ${verdict.detail}; reload rolled back, ` +
        `the ${serving.length} old workers keep serving until the next HUP`,
    );
    const canary = trial.workerId === null ? undefined : this.byId.get(trial.workerId);
    if (canary && isLive(canary)) {
      this.retire(canary, 'reload', ctx.settings);
    }
  }
}
