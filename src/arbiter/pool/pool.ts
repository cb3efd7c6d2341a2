/**
 * The arbiter's workers: forks them, boots them, answers their messages,
 * retires them and handles their exits, with the bookkeeping those decisions
 * are made from: which generation is current (each HUP starts the next), how
 * many workers to converge on, which generations failed to boot, and the
 * restart backoff (how an exit is classified and backed off: exits.ts).
 * Nothing here runs on its own: the arbiter loop calls in, one
 * event at a time (DESIGN §3). Kill deadlines and hung workers: timeouts.ts.
 */
import process from 'node:process';
import { type HookName, type Hooks, type ServerInfo, callHookSync, hasWorkerHooks } from '../../config/hooks.js';
import type { Settings } from '../../config/settings.js';
import type { Logger } from '../../log/logger.js';
import { type ArbiterMetrics, restartReason } from '../../metrics/arbiter-metrics.js';
import type { Dispatch, RequestMetricsSnapshot, WorkerToArbiter } from '../../protocol.js';
import type { TlsMaterial } from '../sockets/tls.js';
import { connectionsToShed } from '../decisions/balance.js';
import { CanaryTrial } from './canary-trial.js';
import { planConvergence } from '../decisions/convergence.js';
import { classifyExit, streakAfterReady } from '../decisions/exits.js';
import { beatTime } from '../decisions/liveness.js';
import type { Listener } from '../sockets/listeners.js';
import { abortStuck, requestTimedOut, stopDeadline } from '../timeouts.js';
import {
  type RetireReason,
  type WorkerRecord,
  WorkerState,
  bootWorker,
  forkWorker,
  now,
  sendToWorker,
  signalWorker,
} from './worker-record.js';

/** Most spare handles sent for one ask. */
const MAX_SPARES_PER_ASK = 8;
/** Heartbeats in a row above --max-worker-memory before the worker is recycled. */
const RSS_STRIKES = 3;

/** What the pool works with, lent by the arbiter on each call: its running configuration (a HUP replaces it) and metrics. */
export interface PoolContext {
  settings: Settings;
  hooks: Hooks;
  /** --certfile & co., sent to each worker at boot. */
  tls: TlsMaterial | null;
  listeners: readonly Listener[];
  metrics: ArbiterMetrics | null;
}

/** Workers cannot boot and none serve: the arbiter stops with this code (Gunicorn's HaltServer). */
export interface Halt {
  code: number;
  reason: string;
}

/** What a worker's death by these signals usually means: the kernel's OOM killer, V8's heap limit (it aborts). */
const OUT_OF_MEMORY: Record<string, string> = {
  SIGKILL: ' Perhaps out of memory?',
  SIGABRT: ' Perhaps out of memory (V8 heap limit: see "FATAL ERROR" on stderr)?',
};

export class WorkerPool {
  private readonly byId = new Map<number, WorkerRecord>();
  generation = 1;
  /** Live worker count the loop converges on; TTIN/TTOU move it. */
  target: number;
  /** WINCH: run no workers until the next HUP (the old master during an upgrade). */
  winched = false;
  /** Spawning waits until then (monotonic ms) while workers keep dying right after boot. */
  nextSpawnAt = 0;
  /** Failed starts in a row (exits.ts), and when the last one was. */
  private failureStreak = 0;
  private lastFailureAt: number | null = null;
  private lastFailure: 'boot-failure' | 'crash' | null = null;
  /** A worker has reported ready since the arbiter started: boot failures no longer halt it (exits.ts). */
  private everServed = false;
  /** Workers that exited and were replaced or removed (not at stop), for `ctl top`. */
  restarts = 0;
  /** Generations whose workers failed to boot while an older one kept serving. */
  private readonly failedGenerations = new Set<number>();
  private readonly bootErrorReported = new Set<number>();
  private whenReadyCalled = false;
  /** The last --reload-canary trial: on trial, or its outcome until the next HUP. */
  canary: CanaryTrial | null = null;
  /** Each worker's latest cumulative request snapshot (with --metrics-bind or --reload-canary). */
  private readonly snapshots = new Map<number, RequestMetricsSnapshot>();

  constructor(
    target: number,
    private readonly log: Logger,
    private readonly reportHook: (name: HookName, err: unknown) => void,
  ) {
    this.target = target;
  }

  get size(): number {
    return this.byId.size;
  }

  /** Keep-alive balance (balance.ts): a ready async worker well over its share sheds the excess. */
  private balance(w: WorkerRecord, settings: Settings): void {
    if (settings.workerClass !== 'async' || settings.keepAlive === 0 || w.state !== WorkerState.Ready) return;
    const counts: number[] = [];
    for (const o of this.byId.values()) if (o.state === WorkerState.Ready) counts.push(o.connections);
    const count = connectionsToShed(w.connections, counts, this.canary?.onTrial === true);
    if (count > 0) sendToWorker(w, { t: 'shed', count });
  }

  get(id: number): WorkerRecord | undefined {
    return this.byId.get(id);
  }

  values(): IterableIterator<WorkerRecord> {
    return this.byId.values();
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
    for (const w of this.byId.values()) if (w.state === WorkerState.Booting || w.state === WorkerState.Ready) n++;
    return n;
  }

  /**
   * systemd READY=1: the worker count to report once the current generation
   * serves at full strength, or null while it does not yet.
   */
  readiness(): number | null {
    // A generation that failed to boot leaves the old workers serving: that is ready too.
    if (this.failedGenerations.has(this.generation)) return this.countReady();
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
    this.failureStreak = 0;
    this.lastFailureAt = null;
    this.lastFailure = null;
    this.nextSpawnAt = 0;
  }

  /** Converges the workers on the target; the rule itself is planConvergence (convergence.ts). */
  converge(ctx: PoolContext): void {
    const trial = this.canary?.generation === this.generation && this.canary.onTrial ? this.canary : null;
    if (trial?.windowClosed) this.decideCanary(trial, null, ctx);
    const live = [...this.byId.values()]
      .filter((w) => w.state === WorkerState.Booting || w.state === WorkerState.Ready)
      .map((w) => ({
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
      failed: this.failedGenerations.has(this.generation),
      maySpawn: now() >= this.nextSpawnAt,
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
    const w = forkWorker(ctx.settings, this.generation, ctx.listeners, this.onWorkerOutput);
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
    if (w.state === WorkerState.Booting || w.state === WorkerState.Ready) this.retire(w, 'ctl-kill', settings);
  }

  /** Stops a worker gracefully; the loop replaces it. */
  retire(w: WorkerRecord, reason: RetireReason, settings: Settings): void {
    w.state = WorkerState.Retiring;
    w.retireReason = reason;
    w.killAt = stopDeadline(settings, true);
    this.log.debug(`Retiring worker (pid:${w.pid}): ${reason}`);
    sendToWorker(w, { t: 'stop', graceful: true });
  }

  onMessage(id: number, msg: WorkerToArbiter, ctx: PoolContext): void {
    const w = this.byId.get(id);
    if (w)
      (this.messageHandlers[msg.t] as (m: WorkerToArbiter, w: WorkerRecord, ctx: PoolContext) => void)(msg, w, ctx);
  }

  private readonly messageHandlers: Dispatch<WorkerToArbiter, [WorkerRecord, PoolContext]> = {
    hello: (_msg, w, ctx) => {
      w.hello = true;
      // Retired or stopped before it could hear it: tell it now instead of booting it.
      if (w.state === WorkerState.Retiring || w.state === WorkerState.Stopping)
        sendToWorker(w, { t: 'stop', graceful: true });
      else bootWorker(w, ctx.settings, hasWorkerHooks(ctx.hooks), ctx.tls);
    },
    ready: (_msg, w, ctx) => {
      if (w.state !== WorkerState.Booting) return;
      w.state = WorkerState.Ready;
      w.readyAt = now();
      w.lastBeat = now();
      this.everServed = true;
      this.failureStreak = streakAfterReady(this.failureStreak, this.lastFailure);
      this.log.debug(`Worker (pid:${w.pid}) is ready`);
      const trial = this.canary;
      if (trial?.onTrial && trial.workerId === w.id) {
        const old = [...this.byId.values()].filter(
          (o) => o.generation !== w.generation && o.state === WorkerState.Ready,
        );
        trial.open(
          w.id,
          now(),
          old.map((o) => ({ id: o.id, snapshot: this.snapshots.get(o.id) ?? null })),
        );
        this.log.info(`Canary (pid:${w.pid}) serving beside ${old.length} old workers for ${trial.seconds} s`);
      }
      if (!this.whenReadyCalled && this.countReady() >= this.target) {
        this.whenReadyCalled = true;
        callHookSync(ctx.hooks, 'whenReady', this.reportHook, this.serverInfo(ctx.settings));
      }
    },
    'boot-error': (msg, w) => {
      w.bootError = msg.exitCode;
      // All workers of a generation fail alike: print the cause once.
      if (this.bootErrorReported.has(w.generation)) return;
      this.bootErrorReported.add(w.generation);
      this.log.error(msg.message);
      if (msg.stack) this.log.debug(msg.stack);
    },
    'need-spare': (msg, w) => {
      const l = w.listeners[msg.index];
      const count = Math.min(Math.max(1, msg.count), MAX_SPARES_PER_ASK);
      if (l) for (let i = 0; i < count; i++) sendToWorker(w, { t: 'listener', info: l.info, spare: true }, l.handle);
    },
    beat: (msg, w, ctx) => {
      w.lastBeat = beatTime(msg.at, now(), w.lastBeat);
      w.requests = msg.requests;
      w.inFlight = msg.inFlight;
      w.connections = msg.connections;
      w.rss = msg.rss;
      const { heapUsed, heapLimit, loopIdleMs, loopActiveMs, latency } = msg;
      w.load = { heapUsed, heapLimit, loopIdleMs, loopActiveMs, latency };
      this.balance(w, ctx.settings);
      if (msg.metrics) this.snapshots.set(w.id, msg.metrics);
      if (this.canary?.workerId === w.id) this.canary.beat(msg.at);
      ctx.metrics?.workerBeat(w, msg.metrics);
      const limit = ctx.settings.maxWorkerMemory * 1024 * 1024;
      w.rssHigh = limit > 0 && msg.rss > limit ? w.rssHigh + 1 : 0;
      if (w.rssHigh >= RSS_STRIKES && w.state === WorkerState.Ready) {
        this.log.warning(
          `Worker (pid:${w.pid}) uses ${Math.round(msg.rss / 1048576)} MB, above --max-worker-memory ${ctx.settings.maxWorkerMemory} MB; replacing it`,
        );
        this.retire(w, 'memory', ctx.settings);
      }
    },
    retiring: (_msg, w, ctx) => {
      if (w.state === WorkerState.Booting || w.state === WorkerState.Ready)
        this.retire(w, 'max-requests', ctx.settings);
    },
    'request-timeout': (msg, w, ctx) => requestTimedOut(w, msg, ctx.settings, this.log),
    // --diagnostics-dir: written by the arbiter (diagnostics/diagnostics-dir.ts).
    report: () => {},
  };

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

  /** A worker exited (`stopping`: the arbiter is stopping). Returns a Halt when the arbiter must stop because workers cannot boot. */
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
    w.state = WorkerState.Dead;
    callHookSync(ctx.hooks, 'childExit', this.reportHook, this.serverInfo(ctx.settings), {
      pid: w.pid,
      generation: w.generation,
      code,
      signal,
    });
    let sameGeneration = 0;
    let booting = 0;
    for (const o of this.byId.values()) {
      if (o.generation !== w.generation) continue;
      if (o.state === WorkerState.Ready) sameGeneration++;
      else if (o.state === WorkerState.Booting) booting++;
    }
    const t = now();
    const verdict = classifyExit({
      now: t,
      forkedAt: w.forkedAt,
      expected,
      timedOut: w.timedOut,
      announcedBootError: w.bootError ?? null,
      code,
      wasReady: w.readyAt !== null,
      servingSameGeneration: sameGeneration,
      servingOtherGenerations: this.countReady() - sameGeneration,
      booting,
      everServed: this.everServed,
      stopping,
      streak: this.failureStreak,
      lastFailureAt: this.lastFailureAt,
    });
    switch (verdict.kind) {
      case 'timed-out':
        if (signal) this.log.error(`Worker (pid:${w.pid}) was killed after WORKER TIMEOUT (${signal})`);
        else this.log.error(`Worker (pid:${w.pid}) exited after WORKER TIMEOUT`);
        return null;
      case 'expected':
        return null;
      case 'halt':
        return { code: verdict.code, reason: verdict.reason };
      case 'generation-failed':
        if (!this.failedGenerations.has(w.generation)) {
          this.failedGenerations.add(w.generation);
          const serving = this.countReady();
          this.log.error(`New workers failed to boot; the ${serving} running workers keep serving until the next HUP`);
        }
        return null;
      case 'boot-failure':
        this.applyBackoff('boot-failure', verdict.streak, verdict.delayMs, t);
        if (verdict.delayMs > 0) {
          this.log.error(
            `Worker (pid:${w.pid}) failed to boot (exit ${verdict.code}; ${verdict.streak} in a row, ` +
              `${this.countReady()} workers serving); next attempt in ${(verdict.delayMs / 1000).toFixed(1)} s`,
          );
        }
        return null;
      case 'crash':
        if (signal) this.log.error(`Worker (pid:${w.pid}) was sent ${signal}!${OUT_OF_MEMORY[signal] ?? ''}`);
        else this.log.error(`Worker (pid:${w.pid}) exited with code ${code}`);
        this.applyBackoff('crash', verdict.streak, verdict.delayMs, t);
        if (verdict.streak > 1) {
          const next = (verdict.delayMs / 1000).toFixed(1);
          this.log.warning(`Workers keep dying right after boot (${verdict.streak} in a row); next start in ${next} s`);
        }
        return null;
    }
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
    this.failedGenerations.add(trial.generation);
    // The canary's own failure is reported here; its exit is not a generation failing to boot.
    this.bootErrorReported.add(trial.generation);
    const serving = [...this.byId.values()].filter(
      (o) => o.generation !== trial.generation && o.state === WorkerState.Ready,
    );
    this.log.error(
      `${who} failed: ${verdict.detail}; reload rolled back, the ${serving.length} old workers keep serving until the next HUP`,
    );
    const canary = trial.workerId === null ? undefined : this.byId.get(trial.workerId);
    if (canary && (canary.state === WorkerState.Booting || canary.state === WorkerState.Ready)) {
      this.retire(canary, 'reload', ctx.settings);
    }
  }

  private applyBackoff(kind: 'boot-failure' | 'crash', streak: number, delayMs: number, t: number): void {
    this.failureStreak = streak;
    if (streak > 0) {
      this.lastFailureAt = t;
      this.lastFailure = kind;
    }
    if (delayMs > 0) this.nextSpawnAt = Math.max(this.nextSpawnAt, t + delayMs);
  }
}
