/**
 * The arbiter (master): binds the listeners, forks and watches workers, and
 * turns signals into actions. All state changes happen in `run()`, one event
 * at a time (DESIGN §3): handlers only push events onto the queue, and an
 * event that needs to wait (a HUP re-reading the config) is awaited before
 * the next one is taken, so signals that arrive meanwhile queue up in order.
 */
import type { ChildProcess } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import process from 'node:process';
import { formatAppSpec, parseAppSpec } from '../config/app-spec.js';
import { type HookName, type Hooks, type ServerInfo, callHook, callHookSync, hasWorkerHooks } from '../config/hooks.js';
import { type ResolvedConfig, resolveConfig } from '../config/resolve.js';
import type { Settings } from '../config/settings.js';
import { ExitCode, describeError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { type Dispatch, WORKER_TO_ARBITER_TYPES, type WorkerToArbiter, isMessage } from '../protocol.js';
import { VERSION } from '../version.js';
import { type TlsMaterial, checkTls } from '../worker/tls.js';
import { planConvergence } from './convergence.js';
import { type ArbiterEvent, type ArbiterSignal, EventQueue } from './event-queue.js';
import { type Watcher, watchFiles } from './file-watcher.js';
import { type Listener, closeListeners, openListeners } from './listeners.js';
import { Pidfile } from './pidfile.js';
import { type Identity, applyUmask, resolveIdentity, useWorkerIdentity } from './privileges.js';
import { probeStack } from './stack-probe.js';
import { controlSocketPath } from '../config/control-path.js';
import { keepStartOnlySettings } from '../config/start-only.js';
import { ArbiterMetrics, restartReason } from '../metrics/arbiter-metrics.js';
import { type ControlRequest, type ControlResponse, workerStatus } from './control-protocol.js';
import { ControlServer } from './control-socket.js';
import { inheritedSockets, oldMasterPid, spawnNewMaster, withoutUpgradeEnv } from './upgrade.js';
import { pid1Note } from './pid1.js';
import { Systemd } from './systemd.js';
import {
  type RetireReason,
  type WorkerRecord,
  WorkerState,
  bootWorker,
  forkWorker,
  now,
  sendToWorker,
  setupCluster,
  signalWorker,
  currentRequest,
} from './workers.js';

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
/** How long reading a timed-out worker's stack may take before it is aborted anyway (~100–500 ms typically; more on a loaded box). */
const STACK_CAPTURE_MS = 1500;
/** After SIGABRT, how long before SIGKILL. */
const ABORT_GRACE_MS = 1000;
/** Most spare handles sent for one ask. */
const MAX_SPARES_PER_ASK = 8;
/** Heartbeats in a row above --max-worker-memory before the worker is recycled. */
const RSS_STRIKES = 3;

export interface ArbiterInput {
  config: ResolvedConfig;
  /** How the config was given, to re-read it on HUP and to re-execute on USR2. */
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  log: Logger;
}

export class Arbiter {
  state = ArbiterState.Starting;
  private config: ResolvedConfig;
  private readonly log: Logger;
  private readonly queue = new EventQueue();
  private readonly workers = new Map<number, WorkerRecord>();
  private listeners: Listener[] = [];
  private pidfile: Pidfile | null = null;
  private generation = 1;
  /** Live worker count the loop converges on; TTIN/TTOU move it. */
  private target: number;
  /** WINCH: run no workers until the next HUP (the old master during an upgrade). */
  private winched = false;
  private crashStreak = 0;
  private nextSpawnAt = 0;
  private exitCode: number = ExitCode.OK;
  private stopGraceful = true;
  private haltReason: string | null = null;
  private readonly bootErrorReported = new Set<number>();
  /** Generations whose workers failed to boot while an older one kept serving. */
  private readonly failedGenerations = new Set<number>();
  private whenReadyCalled = false;
  /** USR2: the new master this one started, while it runs. */
  private successor: ChildProcess | null = null;
  /** This master was started by a USR2 upgrade and its predecessor is still alive. */
  private predecessor: number | null;
  private watcher: Watcher | null = null;
  /** --certfile & co., read and checked here; sent to each worker at boot. */
  private tls: TlsMaterial | null = null;
  /** --user / --group for the workers. */
  private identity: Identity | null = null;
  /** StatsD and Prometheus (--statsd-host, --metrics-bind). */
  private metrics: ArbiterMetrics | null = null;
  /** `tsunicorn ctl` (--control-socket), and the path it takes once this master is promoted. */
  private control: ControlServer | null = null;
  private controlPath: string | null = null;
  /** Socket activation and Type=notify (src/arbiter/systemd.ts). */
  private readonly systemd: Systemd;
  private readonly specText: string;

  constructor(private readonly input: ArbiterInput) {
    this.config = input.config;
    this.log = input.log;
    this.target = this.settings.workers;
    const parsed = parseAppSpec(this.settings.app ?? '');
    this.specText = this.settings.name ?? (parsed.ok ? formatAppSpec(parsed.spec) : (this.settings.app ?? ''));
    const old = oldMasterPid(input.env);
    this.predecessor = old !== null && old === process.ppid ? old : null;
    // Before anything forks: LISTEN_FDS & co. are removed from the environment here.
    this.systemd = Systemd.fromEnv(input.env, input.log);
  }

  private get settings(): Settings {
    return this.config.settings;
  }

  private get hooks(): Hooks {
    return this.config.hooks;
  }

  private serverInfo(): ServerInfo {
    return { pid: process.pid, settings: this.settings, generation: this.generation, workers: this.winched ? 0 : this.target };
  }

  private readonly reportHook = (name: HookName, err: unknown): void => {
    this.log.error(`Exception in hook ${name}: ${describeError(err)}`);
    if (err instanceof Error && err.stack) this.log.debug(err.stack);
  };

  /** Binds, forks and runs until stopped; resolves with the process exit code. */
  async run(): Promise<number> {
    const { log, settings } = this;
    log.info(`Starting tsunicorn ${VERSION}`);
    await callHook(this.hooks, 'onStarting', this.reportHook, this.serverInfo());
    // Before binding: a bad certificate or user is a usage error (exit 2) with nothing opened yet.
    this.identity = resolveIdentity(settings);
    this.tls = await checkTls(settings, this.hooks);
    applyUmask(settings);
    settings.bind = await this.systemd.binds(settings.bind, this.input.env, log);
    this.listeners = await openListeners(settings.bind, settings.backlog, [...inheritedSockets(this.input.env), ...this.systemd.fromListenFds], this.tls ? 'https' : 'http');
    this.systemd.adopted(this.listeners, log);
    try {
      // Before the pidfile: a pidfile means everything is bound, and nothing awaits between it and the title.
      this.metrics = await ArbiterMetrics.start(settings, log, this.predecessor !== null);
      if (settings.pid) {
        this.pidfile = new Pidfile(this.predecessor ? `${settings.pid}.2` : settings.pid);
        this.pidfile.create();
      }
    } catch (err) {
      closeListeners(this.listeners, !this.predecessor);
      this.metrics?.close();
      throw err;
    }
    for (const l of this.listeners) log.info(`Listening at: ${l.info.display} (${process.pid})`);
    log.info(`Using worker: ${settings.workerClass}`);
    const note = pid1Note(this.input.env);
    if (note) log[note.level](note.text);

    process.title = `tsunicorn: master [${this.specText}]`;
    setupCluster(`tsunicorn: worker [${this.specText}]`);
    useWorkerIdentity(this.identity, settings, this.socketPaths());
    for (const sig of SIGNALS) process.on(sig, () => this.queue.push({ kind: 'signal', signal: sig }));
    cluster.on('message', (worker: Worker, msg: unknown) => {
      if (isMessage<WorkerToArbiter>(msg, WORKER_TO_ARBITER_TYPES)) this.queue.push({ kind: 'message', workerId: worker.id, msg });
    });
    cluster.on('exit', (worker: Worker, code: number | null, signal: string | null) => {
      this.queue.push({ kind: 'exit', workerId: worker.id, code, signal });
    });
    if (settings.reload) this.startWatcher();
    // Last resort: a bug in a callback outside the loop must not take the arbiter, and so every worker, down.
    process.on('uncaughtException', (err) => this.logBug(err));
    process.on('unhandledRejection', (err) => this.logBug(err));
    await this.openControlSocket();

    this.state = ArbiterState.Running;
    for (;;) {
      this.guard(() => {
        this.maybePromote();
        this.reportReadiness();
        this.murderStale();
        this.manageWorkers();
        this.metrics?.tick(this.countLive(), now());
      });
      if (this.isStopped()) return this.finish();
      const event = await this.queue.next(this.nextWakeMs());
      if (event) {
        try {
          await this.handle(event);
        } catch (err) {
          this.logBug(err);
        }
      }
    }
  }

  /** The arbiter must outlive its own bugs: log, and keep converging. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logBug(err);
    }
  }

  private logBug(err: unknown): void {
    this.log.critical(`Arbiter error: ${err instanceof Error ? err.stack : String(err)}`);
  }

  private isStopped(): boolean {
    return this.state === ArbiterState.Stopping && this.workers.size === 0;
  }

  // ── events ────────────────────────────────────────────────────────────────

  private async handle(event: ArbiterEvent): Promise<void> {
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
      case 'stack':
        return this.onStack(event.workerId, event.stack, event.reason);
      case 'successor-exit':
        return this.onSuccessorExit(event.pid, event.code, event.signal);
      case 'files-changed':
        if (this.state === ArbiterState.Running) {
          this.log.info(`Reloading: ${event.file} changed`);
          await this.reload();
        }
        return;
      case 'control':
        return this.onControl(event.request, event.reply);
    }
  }

  private async onSignal(signal: ArbiterSignal): Promise<void> {
    this.log.info(`Handling signal: ${signal.slice(3).toLowerCase()}`);
    const stopping = this.state === ArbiterState.Stopping;
    switch (signal) {
      case 'SIGTERM':
        return this.beginStop(true);
      case 'SIGINT':
      case 'SIGQUIT':
        return this.beginStop(false);
      case 'SIGTTIN':
        if (!stopping) this.setTarget(this.target + 1);
        return;
      case 'SIGTTOU':
        if (!stopping) this.setTarget(Math.max(1, this.target - 1));
        return;
      case 'SIGHUP':
        if (!stopping) await this.reload();
        return;
      case 'SIGUSR1':
        this.log.reopen();
        for (const w of this.workers.values()) sendToWorker(w, { t: 'reopen-logs' });
        return;
      case 'SIGUSR2':
        if (!stopping) await this.upgrade();
        return;
      case 'SIGWINCH':
        if (!stopping) {
          this.log.info('Stopping all workers gracefully (WINCH); HUP starts them again');
          this.winched = true;
        }
        return;
    }
  }

  // ── control socket ────────────────────────────────────────────────────────

  private async openControlSocket(): Promise<void> {
    this.controlPath = controlSocketPath(this.settings, this.input.cwd, this.input.env);
    if (!this.controlPath) return;
    // A USR2 successor uses PATH.2 until promoted, as with the pidfile.
    const path = this.predecessor ? `${this.controlPath}.2` : this.controlPath;
    this.control = await ControlServer.listen(path, (request, reply) => this.queue.push({ kind: 'control', request, reply }), this.log);
    if (this.control) this.log.info(`Control socket at: ${path}`);
  }

  /** A `tsunicorn ctl` request, handled in the loop like the signal it stands for. */
  private async onControl(request: ControlRequest, reply: (response: ControlResponse) => void): Promise<void> {
    if (request.cmd === 'status') {
      const t = now();
      const workers = [...this.workers.values()].sort((a, b) => a.forkedAt - b.forkedAt).map((w) => workerStatus(w, t));
      const target = this.winched ? 0 : this.target;
      reply({ ok: true, status: { pid: process.pid, name: this.specText, state: this.state, generation: this.generation, target, workers } });
      return;
    }
    this.log.info(`Handling control command: ${request.cmd}${request.cmd === 'scale' ? ` ${request.workers}` : ''}`);
    if (this.state === ArbiterState.Stopping) {
      reply({ ok: false, error: `the arbiter (pid ${process.pid}) is stopping` });
      return;
    }
    switch (request.cmd) {
      case 'reload': {
        const generation = this.generation;
        await this.reload();
        reply(
          this.generation > generation
            ? { ok: true, message: `reloading: starting generation ${this.generation} (pid ${process.pid})` }
            : { ok: false, error: 'reload failed: the configuration did not load; see the error log' },
        );
        return;
      }
      case 'scale': {
        const previous = this.target;
        this.setTarget(request.workers);
        reply({ ok: true, message: `scaling from ${previous} to ${request.workers} workers${this.winched ? ' (after the next reload: WINCH stopped the workers)' : ''}` });
        return;
      }
      case 'stop':
        reply({ ok: true, message: `stopping (pid ${process.pid})` });
        this.beginStop(request.graceful !== false);
        return;
    }
  }

  private setTarget(n: number): void {
    const old = this.target;
    this.target = n;
    if (n !== old) callHookSync(this.hooks, 'nworkersChanged', this.reportHook, this.serverInfo(), n, old);
  }

  private readonly messageHandlers: Dispatch<WorkerToArbiter, [WorkerRecord]> = {
    hello: (_msg, w) => {
      w.hello = true;
      // Retired or stopped before it could hear it: tell it now instead of booting it.
      if (w.state === WorkerState.Retiring || w.state === WorkerState.Stopping) sendToWorker(w, { t: 'stop', graceful: true });
      else bootWorker(w, this.settings, hasWorkerHooks(this.hooks), this.tls);
    },
    ready: (_msg, w) => {
      if (w.state !== WorkerState.Booting) return;
      w.state = WorkerState.Ready;
      w.readyAt = now();
      w.lastBeat = now();
      this.log.debug(`Worker (pid:${w.pid}) is ready`);
      if (!this.whenReadyCalled && this.countReady() >= this.target) {
        this.whenReadyCalled = true;
        callHookSync(this.hooks, 'whenReady', this.reportHook, this.serverInfo());
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
    beat: (msg, w) => {
      w.lastBeat = now();
      w.requests = msg.requests;
      w.inFlight = msg.inFlight;
      w.rss = msg.rss;
      this.metrics?.workerBeat(w, msg.metrics);
      const limit = this.settings.maxWorkerMemory * 1024 * 1024;
      w.rssHigh = limit > 0 && msg.rss > limit ? w.rssHigh + 1 : 0;
      if (w.rssHigh >= RSS_STRIKES && w.state === WorkerState.Ready) {
        this.log.warning(
          `Worker (pid:${w.pid}) uses ${Math.round(msg.rss / 1048576)} MB, above --max-worker-memory ${this.settings.maxWorkerMemory} MB; replacing it`,
        );
        this.retire(w, 'memory');
      }
    },
    retiring: (_msg, w) => {
      if (w.state === WorkerState.Booting || w.state === WorkerState.Ready) this.retire(w, 'max-requests');
    },
    'request-timeout': (msg, w) => {
      if (w.timedOut) return;
      w.timedOut = true;
      this.log.critical(`WORKER TIMEOUT (pid:${w.pid}) serving ${msg.method} ${msg.path}: over --timeout ${this.settings.timeout} s; answered 504`);
      w.killAt = now() + ABORT_GRACE_MS;
    },
  };

  private countReady(): number {
    let n = 0;
    for (const w of this.workers.values()) if (w.state === WorkerState.Ready) n++;
    return n;
  }

  /** Workers counted against the target: booting or serving. */
  private countLive(): number {
    let n = 0;
    for (const w of this.workers.values()) if (w.state === WorkerState.Booting || w.state === WorkerState.Ready) n++;
    return n;
  }

  private onExit(id: number, code: number | null, signal: string | null): void {
    const w = this.workers.get(id);
    if (!w) return;
    this.workers.delete(id);
    this.metrics?.workerExit(w, restartReason(w));
    const expected = w.state === WorkerState.Retiring || w.state === WorkerState.Stopping || w.timedOut;
    w.state = WorkerState.Dead;
    callHookSync(this.hooks, 'childExit', this.reportHook, this.serverInfo(), { pid: w.pid, generation: w.generation, code, signal });
    if (w.timedOut) {
      this.log.error(signal ? `Worker (pid:${w.pid}) was killed after WORKER TIMEOUT (${signal})` : `Worker (pid:${w.pid}) exited after WORKER TIMEOUT`);
      return;
    }
    if (expected) return;

    const bootCode = w.bootError ?? (w.readyAt === null && (code === ExitCode.APP_LOAD || code === ExitCode.WORKER_BOOT) ? code : null);
    if (bootCode !== null && bootCode !== undefined) return this.onBootFailure(w, bootCode);

    if (signal) this.log.error(`Worker (pid:${w.pid}) was sent ${signal}!${signal === 'SIGKILL' ? ' Perhaps out of memory?' : ''}`);
    else this.log.error(`Worker (pid:${w.pid}) exited with code ${code}`);
    if (this.state !== ArbiterState.Stopping) this.backoffAfterCrash(w);
  }

  /** Gunicorn halts when workers cannot boot. So do we, unless other workers are serving: then they keep serving. */
  private onBootFailure(w: WorkerRecord, code: number): void {
    if (this.countReady() > 0) {
      if (!this.failedGenerations.has(w.generation)) {
        this.failedGenerations.add(w.generation);
        this.log.error(`New workers failed to boot; the ${this.countReady()} running workers keep serving until the next HUP`);
      }
      return;
    }
    const reason = code === ExitCode.APP_LOAD ? 'App failed to load.' : 'Worker failed to boot.';
    this.halt(code, reason);
  }

  private backoffAfterCrash(w: WorkerRecord): void {
    if (now() - w.forkedAt >= EARLY_DEATH_MS) {
      this.crashStreak = 0;
      return;
    }
    this.crashStreak++;
    const delay = Math.min(100 * 2 ** (this.crashStreak - 1), BACKOFF_MAX_MS);
    this.nextSpawnAt = now() + delay;
    if (this.crashStreak > 1) {
      this.log.warning(`Workers keep dying right after boot (${this.crashStreak} in a row); next start in ${(delay / 1000).toFixed(1)} s`);
    }
  }

  // ── timeouts ──────────────────────────────────────────────────────────────

  /** Kills workers past their stop deadline, and starts the abort of workers silent past --timeout. */
  private murderStale(): void {
    const t = now();
    const timeoutMs = this.settings.timeout * 1000;
    for (const w of this.workers.values()) {
      if (w.killAt !== null && t >= w.killAt) {
        if (!w.timedOut) this.log.warning(`Worker (pid:${w.pid}) did not exit in time; sending SIGKILL`);
        w.killAt = null;
        signalWorker(w, 'SIGKILL');
      } else if (timeoutMs > 0 && !w.timedOut && t - w.lastBeat > timeoutMs) {
        this.onTimeout(w);
      }
    }
  }

  private onTimeout(w: WorkerRecord): void {
    w.timedOut = true;
    const request = currentRequest(w.pid);
    const serving = request ? ` serving ${request}` : '';
    this.log.critical(`WORKER TIMEOUT (pid:${w.pid})${serving}`);
    // Backstop: whatever the stack probe does, the worker is gone by then.
    w.killAt = now() + STACK_CAPTURE_MS + ABORT_GRACE_MS + 500;
    const excludePorts = w.listeners.flatMap((l) => (l.info.address.kind === 'tcp' ? [l.info.address.port] : []));
    void probeStack(w.pid, { timeoutMs: STACK_CAPTURE_MS, excludePorts }).then(
      (r) => this.queue.push({ kind: 'stack', workerId: w.id, stack: r.ok ? r.stack : null, reason: r.ok ? null : r.reason }),
      (err) => this.queue.push({ kind: 'stack', workerId: w.id, stack: null, reason: describeError(err) }),
    );
  }

  private onStack(id: number, stack: string | null, reason: string | null): void {
    const w = this.workers.get(id);
    if (!w) return;
    if (stack) this.log.error(`Worker (pid:${w.pid}) was stuck in:\n${stack}`);
    else this.log.error(`Worker (pid:${w.pid}): its stack could not be read (${reason})`);
    callHookSync(this.hooks, 'workerAbort', this.reportHook, this.serverInfo(), { pid: w.pid, generation: w.generation, stack });
    signalWorker(w, 'SIGABRT');
    w.killAt = Math.min(w.killAt ?? Number.POSITIVE_INFINITY, now() + ABORT_GRACE_MS);
  }

  // ── convergence ───────────────────────────────────────────────────────────

  /** Converges the workers on the target; the rule itself is planConvergence (convergence.ts). */
  private manageWorkers(): void {
    if (this.state !== ArbiterState.Running) return;
    const live = [...this.workers.values()]
      .filter((w) => w.state === WorkerState.Booting || w.state === WorkerState.Ready)
      .map((w) => ({ record: w, generation: w.generation, ready: w.state === WorkerState.Ready, forkedAt: w.forkedAt }));
    const plan = planConvergence({
      live,
      generation: this.generation,
      target: this.target,
      winched: this.winched,
      failed: this.failedGenerations.has(this.generation),
      maySpawn: now() >= this.nextSpawnAt,
    });
    for (let i = 0; i < plan.spawn; i++) this.spawn();
    for (const { worker, reason } of plan.retire) this.retire(worker.record, reason);
  }

  private spawn(): void {
    callHookSync(this.hooks, 'preFork', this.reportHook, this.serverInfo(), { pid: 0, generation: this.generation });
    const w = forkWorker(this.settings, this.generation, this.listeners, this.onWorkerOutput);
    this.workers.set(w.id, w);
  }

  private readonly onWorkerOutput = (pid: number, line: string, stream: 'stdout' | 'stderr'): void => {
    this.log.captured(pid, line, stream);
  };

  private retire(w: WorkerRecord, reason: RetireReason): void {
    w.state = WorkerState.Retiring;
    w.retireReason = reason;
    w.killAt = now() + this.settings.gracefulTimeout * 1000;
    this.log.debug(`Retiring worker (pid:${w.pid}): ${reason}`);
    sendToWorker(w, { t: 'stop', graceful: true });
  }

  private nextWakeMs(): number {
    const t = now();
    let next = t + 1000;
    const timeoutMs = this.settings.timeout * 1000;
    for (const w of this.workers.values()) {
      if (w.killAt !== null) next = Math.min(next, w.killAt);
      if (timeoutMs > 0 && !w.timedOut) next = Math.min(next, w.lastBeat + timeoutMs + 1);
    }
    if (this.nextSpawnAt > t) next = Math.min(next, this.nextSpawnAt);
    return Math.max(0, next - t);
  }

  // ── reload ────────────────────────────────────────────────────────────────

  /**
   * HUP: re-read the whole config chain, then start a new generation of
   * workers (new code: each loads the app afresh). Old workers retire as the
   * new ones report ready (manageWorkers). A config that does not load
   * changes nothing.
   */
  private async reload(): Promise<void> {
    this.state = ArbiterState.Reloading;
    this.systemd.reloading();
    try {
      this.log.info('Hang up: Master');
      let next: ResolvedConfig;
      let tls: TlsMaterial | null;
      let identity: Identity | null;
      try {
        next = await resolveConfig({ argv: this.input.argv, env: withoutUpgradeEnv(this.input.env), cwd: this.input.cwd });
        // Certificates are re-read: a HUP is how a renewed one is picked up.
        identity = resolveIdentity(next.settings);
        tls = await checkTls(next.settings, next.hooks);
        next.settings.bind = await this.systemd.binds(next.settings.bind, this.input.env, this.log);
      } catch (err) {
        this.log.error(`Reload failed, keeping the running configuration: ${describeError(err)}`);
        return;
      }
      if (next.settings.bind.join('\n') !== this.settings.bind.join('\n')) {
        try {
          await this.rebind(next.settings, tls ? 'https' : 'http');
        } catch (err) {
          this.log.error(`Reload failed, keeping the running configuration: ${describeError(err)}`);
          return;
        }
      }
      const before = this.settings;
      keepStartOnlySettings(before, next.settings, this.log);
      this.config = next;
      this.tls = tls;
      this.identity = identity;
      applyUmask(next.settings);
      useWorkerIdentity(identity, next.settings, this.socketPaths());
      this.log.setLevel(next.settings.logLevel);
      if (next.settings.workers !== before.workers || this.winched) this.setTarget(next.settings.workers);
      this.winched = false;
      this.generation++;
      this.crashStreak = 0;
      this.nextSpawnAt = 0;
      await callHook(this.hooks, 'onReload', this.reportHook, this.serverInfo());
    } finally {
      this.state = ArbiterState.Running;
    }
  }

  /** A HUP changed --bind: keep listeners whose address is unchanged, open new ones, close the rest. */
  private async rebind(next: Settings, scheme: 'http' | 'https'): Promise<void> {
    const keep = new Map(this.settings.bind.map((b, i) => [b, this.listeners[i]!]));
    const fresh = next.bind.filter((b) => !keep.has(b));
    const opened = await openListeners(fresh, next.backlog, [], scheme);
    const listeners = next.bind.map((b, index) => {
      const l = keep.get(b) ?? opened[fresh.indexOf(b)]!;
      keep.delete(b);
      return { ...l, info: { ...l.info, index } };
    });
    // Old workers hold their own copies of removed sockets until they retire.
    closeListeners([...keep.values()]);
    this.listeners = listeners;
    for (const l of opened) this.log.info(`Listening at: ${l.info.display} (${process.pid})`);
  }

  private socketPaths(): string[] {
    return this.listeners.flatMap((l) => (l.socketPath ? [l.socketPath] : []));
  }

  private startWatcher(): void {
    // The app's own files are under the working directory (after --chdir) in all but exotic set-ups;
    // anything else can be added with --reload-extra-file.
    const paths = [process.cwd(), ...this.settings.reloadExtraFile];
    this.watcher = watchFiles(
      paths,
      (file) => this.queue.push({ kind: 'files-changed', file }),
      (err) => this.log.warning(`--reload: cannot watch: ${describeError(err)}`),
    );
    this.log.info(`Watching ${paths.join(', ')} for changes (--reload)`);
  }

  // ── upgrade (USR2) ────────────────────────────────────────────────────────

  private async upgrade(): Promise<void> {
    if (this.successor) {
      this.log.warning(`USR2 ignored: an upgrade is in progress (new master pid ${this.successor.pid})`);
      return;
    }
    if (this.predecessor) {
      this.log.warning(`USR2 ignored: this master's predecessor (pid ${this.predecessor}) is still running`);
      return;
    }
    await callHook(this.hooks, 'preExec', this.reportHook, this.serverInfo());
    const child = spawnNewMaster(this.input.argv, this.input.env, this.input.cwd, this.listeners);
    const pid = child.pid ?? -1;
    this.successor = child;
    child.on('exit', (code, signal) => this.queue.push({ kind: 'successor-exit', pid, code, signal }));
    child.on('error', (err) => this.log.error(`Upgrade failed: cannot start a new master: ${describeError(err)}`));
    this.log.info(`Upgrading: started new master (pid: ${pid})`);
  }

  private onSuccessorExit(pid: number, code: number | null, signal: string | null): void {
    this.successor = null;
    this.log.warning(`New master (pid: ${pid}) exited (${signal ?? `code ${code}`}); this master carries on`);
    if (this.state !== ArbiterState.Stopping) this.systemd.mainPidAgain();
  }

  /** systemd (Type=notify): READY=1 once the current generation serves at full strength, after start and after each HUP. */
  private reportReadiness(): void {
    if (!this.systemd.readyPending || this.state !== ArbiterState.Running) return;
    let ready = 0;
    for (const w of this.workers.values()) if (w.generation === this.generation && w.state === WorkerState.Ready) ready++;
    // A generation that failed to boot leaves the old workers serving: that is ready too.
    if (this.failedGenerations.has(this.generation)) this.systemd.ready(this.countReady());
    else if (ready >= (this.winched ? 0 : this.target)) this.systemd.ready(ready);
  }

  /** After a USR2 upgrade, the new master takes the real pidfile name once its predecessor has gone. */
  private maybePromote(): void {
    if (this.predecessor === null || process.ppid === this.predecessor) return;
    this.predecessor = null;
    this.log.info('Master has been promoted.');
    if (this.pidfile && this.settings.pid) this.pidfile = this.pidfile.rename(this.settings.pid);
    if (this.control && this.controlPath) this.control.rename(this.controlPath, this.log);
    this.metrics?.promoted();
  }

  // ── stop ──────────────────────────────────────────────────────────────────

  private beginStop(graceful: boolean, code: number = ExitCode.OK): void {
    if (this.state === ArbiterState.Stopping) {
      // A second INT during a graceful stop makes it quick; anything else changes nothing.
      if (graceful || !this.stopGraceful) return;
    } else {
      this.exitCode = code;
    }
    // A master handing over to a USR2 successor, or back to its predecessor, is not the service stopping.
    // (The predecessor is checked live: it may have exited since the loop last looked, before the promotion.)
    const handingOver = (this.successor !== null && this.successor.exitCode === null) || (this.predecessor !== null && process.ppid === this.predecessor);
    if (this.state !== ArbiterState.Stopping && !handingOver) this.systemd.stopping();
    this.state = ArbiterState.Stopping;
    this.stopGraceful = graceful;
    this.watcher?.close();
    const deadline = now() + (graceful ? this.settings.gracefulTimeout * 1000 : QUICK_STOP_MS);
    for (const w of this.workers.values()) {
      w.state = WorkerState.Stopping;
      w.killAt = Math.min(w.killAt ?? Number.POSITIVE_INFINITY, deadline);
      if (graceful) sendToWorker(w, { t: 'stop', graceful: true });
      // Before hello it has no signal handlers yet (SIGQUIT would dump core) and nothing to lose.
      else signalWorker(w, w.hello ? 'SIGQUIT' : 'SIGKILL');
    }
  }

  /** Stops everything because workers cannot boot; exits with their code (Gunicorn's HaltServer). */
  private halt(code: number, reason: string): void {
    if (this.haltReason !== null) return;
    this.haltReason = reason;
    this.beginStop(false, code);
  }

  private async finish(): Promise<number> {
    // Socket files stay while a successor (USR2) or a predecessor (rollback) may still serve on them.
    const shared = (this.successor !== null && this.successor.exitCode === null) || this.predecessor !== null;
    closeListeners(this.listeners, !shared);
    this.pidfile?.unlink();
    this.control?.close();
    this.metrics?.close();
    await callHook(this.hooks, 'onExit', this.reportHook, this.serverInfo());
    await this.systemd.flush();
    this.log.info('Shutting down: Master');
    if (this.haltReason) this.log.info(`Reason: ${this.haltReason}`);
    return this.exitCode;
  }
}
