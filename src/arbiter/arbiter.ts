/**
 * The arbiter (master): binds the listeners, forks and watches workers, and
 * turns signals into actions. All state changes happen in `run()`, one event
 * at a time (DESIGN §3); handlers only push events onto the queue.
 */
import cluster, { type Worker } from 'node:cluster';
import process from 'node:process';
import { formatAppSpec, parseAppSpec } from '../config/app-spec.js';
import type { ResolvedConfig } from '../config/resolve.js';
import type { Settings } from '../config/settings.js';
import { ExitCode } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { type Dispatch, WORKER_TO_ARBITER_TYPES, type WorkerToArbiter, isMessage } from '../protocol.js';
import { VERSION } from '../version.js';
import { type ArbiterEvent, type ArbiterSignal, EventQueue } from './event-queue.js';
import { type Listener, closeListeners, openListeners } from './listeners.js';
import { Pidfile } from './pidfile.js';
import { type WorkerRecord, WorkerState, bootWorker, forkWorker, now, sendToWorker, setupCluster, signalWorker } from './workers.js';

export enum ArbiterState {
  Starting = 'starting',
  Running = 'running',
  Reloading = 'reloading',
  Stopping = 'stopping',
}

const SIGNALS: readonly ArbiterSignal[] = ['SIGHUP', 'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGTTIN', 'SIGTTOU', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/** A quick stop (INT, QUIT) gives workers this long to exit before SIGKILL. */
const QUICK_STOP_MS = 1000;
/** A worker that dies sooner than this after its fork counts towards the crash backoff. */
const EARLY_DEATH_MS = 10_000;
const BACKOFF_MAX_MS = 10_000;

export interface ArbiterInput {
  config: ResolvedConfig;
  /** How the config was given, to re-read it on HUP. */
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  log: Logger;
}

export class Arbiter {
  state = ArbiterState.Starting;
  private settings: Settings;
  private readonly log: Logger;
  private readonly queue = new EventQueue();
  private readonly workers = new Map<number, WorkerRecord>();
  private listeners: Listener[] = [];
  private pidfile: Pidfile | null = null;
  private generation = 1;
  /** Live worker count the loop converges on; TTIN/TTOU move it. */
  private target: number;
  private crashStreak = 0;
  private nextSpawnAt = 0;
  private exitCode: number = ExitCode.OK;
  private stopGraceful = true;
  private haltReason: string | null = null;
  private readonly bootErrorReported = new Set<number>();
  private readonly specText: string;

  constructor(private readonly input: ArbiterInput) {
    this.settings = input.config.settings;
    this.log = input.log;
    this.target = this.settings.workers;
    const parsed = parseAppSpec(this.settings.app ?? '');
    this.specText = this.settings.name ?? (parsed.ok ? formatAppSpec(parsed.spec) : (this.settings.app ?? ''));
  }

  /** Binds, forks and runs until stopped; resolves with the process exit code. */
  async run(): Promise<number> {
    const { log, settings } = this;
    log.info(`Starting tsunicorn ${VERSION}`);
    this.listeners = await openListeners(settings.bind, settings.backlog);
    try {
      if (settings.pid) {
        this.pidfile = new Pidfile(settings.pid);
        this.pidfile.create();
      }
    } catch (err) {
      closeListeners(this.listeners);
      throw err;
    }
    for (const l of this.listeners) log.info(`Listening at: ${l.info.display} (${process.pid})`);
    log.info(`Using worker: ${settings.workerClass}`);

    process.title = `tsunicorn: master [${this.specText}]`;
    setupCluster(`tsunicorn: worker [${this.specText}]`);
    for (const sig of SIGNALS) process.on(sig, () => this.queue.push({ kind: 'signal', signal: sig }));
    cluster.on('message', (worker: Worker, msg: unknown) => {
      if (isMessage<WorkerToArbiter>(msg, WORKER_TO_ARBITER_TYPES)) this.queue.push({ kind: 'message', workerId: worker.id, msg });
    });
    cluster.on('exit', (worker: Worker, code: number | null, signal: string | null) => {
      this.queue.push({ kind: 'exit', workerId: worker.id, code, signal });
    });

    this.state = ArbiterState.Running;
    for (;;) {
      try {
        this.murderStale();
        this.manageWorkers();
      } catch (err) {
        // The arbiter must outlive its own bugs: log, and keep converging.
        log.critical(`Arbiter error: ${err instanceof Error ? err.stack : String(err)}`);
      }
      if (this.isStopped()) return this.finish();
      const event = await this.queue.next(this.nextWakeMs());
      try {
        if (event) this.handle(event);
      } catch (err) {
        log.critical(`Arbiter error: ${err instanceof Error ? err.stack : String(err)}`);
      }
    }
  }

  private isStopped(): boolean {
    return this.state === ArbiterState.Stopping && this.workers.size === 0;
  }

  // ── events ────────────────────────────────────────────────────────────────

  private handle(event: ArbiterEvent): void {
    switch (event.kind) {
      case 'signal':
        return this.onSignal(event.signal);
      case 'message': {
        const w = this.workers.get(event.workerId);
        if (w) (this.messageHandlers[event.msg.t] as (m: WorkerToArbiter, w: WorkerRecord) => void)(event.msg, w);
        return;
      }
      case 'exit':
        return this.onExit(event.workerId, event.code, event.signal);
    }
  }

  private onSignal(signal: ArbiterSignal): void {
    this.log.info(`Handling signal: ${signal.slice(3).toLowerCase()}`);
    switch (signal) {
      case 'SIGTERM':
        return this.beginStop(true);
      case 'SIGINT':
      case 'SIGQUIT':
        return this.beginStop(false);
      case 'SIGTTIN':
        if (this.state !== ArbiterState.Stopping) this.target++;
        return;
      case 'SIGTTOU':
        if (this.state !== ArbiterState.Stopping) this.target = Math.max(1, this.target - 1);
        return;
      case 'SIGHUP':
        void this.reload();
        return;
      default:
        return;
    }
  }

  private readonly messageHandlers: Dispatch<WorkerToArbiter, [WorkerRecord]> = {
    hello: (_msg, w) => bootWorker(w, this.settings, this.listeners),
    ready: (_msg, w) => {
      if (w.state !== WorkerState.Booting) return;
      w.state = WorkerState.Ready;
      w.readyAt = now();
      this.log.debug(`Worker (pid:${w.pid}) is ready`);
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
      const l = this.listeners[msg.index];
      if (l) sendToWorker(w, { t: 'listener', info: l.info, spare: true }, l.handle);
    },
  };

  private onExit(id: number, code: number | null, signal: string | null): void {
    const w = this.workers.get(id);
    if (!w) return;
    this.workers.delete(id);
    const expected = w.state === WorkerState.Retiring || w.state === WorkerState.Stopping;
    w.state = WorkerState.Dead;
    if (expected) return;

    const bootCode = w.bootError ?? (w.readyAt === null && (code === ExitCode.APP_LOAD || code === ExitCode.WORKER_BOOT) ? code : null);
    if (bootCode !== null && bootCode !== undefined) {
      const reason = bootCode === ExitCode.APP_LOAD ? 'App failed to load.' : 'Worker failed to boot.';
      return this.halt(bootCode, reason);
    }

    if (signal) this.log.error(`Worker (pid:${w.pid}) was sent ${signal}!${signal === 'SIGKILL' ? ' Perhaps out of memory?' : ''}`);
    else this.log.error(`Worker (pid:${w.pid}) exited with code ${code}`);

    if (this.state === ArbiterState.Stopping) return;
    if (now() - w.forkedAt < EARLY_DEATH_MS) {
      this.crashStreak++;
      const delay = Math.min(100 * 2 ** (this.crashStreak - 1), BACKOFF_MAX_MS);
      this.nextSpawnAt = now() + delay;
      if (this.crashStreak > 1) {
        this.log.warning(`Workers keep dying right after boot (${this.crashStreak} in a row); next start in ${(delay / 1000).toFixed(1)} s`);
      }
    } else {
      this.crashStreak = 0;
    }
  }

  // ── convergence ───────────────────────────────────────────────────────────

  /** Spawns or retires workers until the live count equals the target. */
  private manageWorkers(): void {
    if (this.state !== ArbiterState.Running && this.state !== ArbiterState.Reloading) return;
    const live = [...this.workers.values()].filter((w) => w.state === WorkerState.Booting || w.state === WorkerState.Ready);
    if (live.length < this.target && now() >= this.nextSpawnAt) {
      for (let i = live.length; i < this.target; i++) this.spawn();
    } else if (live.length > this.target) {
      const oldest = live.sort((a, b) => a.forkedAt - b.forkedAt).slice(0, live.length - this.target);
      for (const w of oldest) this.retire(w);
    }
  }

  private spawn(): void {
    const w = forkWorker(this.settings, this.generation);
    this.workers.set(w.id, w);
  }

  private retire(w: WorkerRecord): void {
    w.state = WorkerState.Retiring;
    w.killAt = now() + this.settings.gracefulTimeout * 1000;
    sendToWorker(w, { t: 'stop', graceful: true });
  }

  /** Kills workers past their stop deadline. (Heartbeat timeouts join this in the lifecycle work.) */
  private murderStale(): void {
    const t = now();
    for (const w of this.workers.values()) {
      if (w.killAt !== null && t >= w.killAt) {
        this.log.warning(`Worker (pid:${w.pid}) did not exit in time; sending SIGKILL`);
        w.killAt = null;
        signalWorker(w, 'SIGKILL');
      }
    }
  }

  private nextWakeMs(): number {
    const t = now();
    let next = t + 1000;
    for (const w of this.workers.values()) if (w.killAt !== null) next = Math.min(next, w.killAt);
    if (this.nextSpawnAt > t) next = Math.min(next, this.nextSpawnAt);
    return Math.max(0, next - t);
  }

  // ── reload and stop ───────────────────────────────────────────────────────

  private async reload(): Promise<void> {
    // Implemented with the lifecycle work; until then a HUP re-reads nothing.
  }

  private beginStop(graceful: boolean, code: number = ExitCode.OK): void {
    if (this.state === ArbiterState.Stopping) {
      // A second INT during a graceful stop makes it quick; anything else changes nothing.
      if (graceful || !this.stopGraceful) return;
    } else {
      this.exitCode = code;
    }
    this.state = ArbiterState.Stopping;
    this.stopGraceful = graceful;
    const deadline = now() + (graceful ? this.settings.gracefulTimeout * 1000 : QUICK_STOP_MS);
    for (const w of this.workers.values()) {
      w.state = WorkerState.Stopping;
      w.killAt = Math.min(w.killAt ?? Number.POSITIVE_INFINITY, deadline);
      if (graceful) sendToWorker(w, { t: 'stop', graceful: true });
      else signalWorker(w, 'SIGQUIT');
    }
  }

  /** Stops everything because workers cannot boot; exits with their code (Gunicorn's HaltServer). */
  private halt(code: number, reason: string): void {
    if (this.haltReason !== null) return;
    this.haltReason = reason;
    this.beginStop(false, code);
  }

  private finish(): number {
    closeListeners(this.listeners);
    this.pidfile?.unlink();
    this.log.info('Shutting down: Master');
    if (this.haltReason) this.log.info(`Reason: ${this.haltReason}`);
    return this.exitCode;
  }
}
