/**
 * The arbiter (master): binds the listeners, forks and watches workers, and
 * turns signals into actions. All state changes happen in `run()`, one event
 * at a time (DESIGN §3): handlers only push events onto the queue, and an
 * event that needs to wait (a HUP re-reading the config) is awaited before
 * the next one is taken, so signals that arrive meanwhile queue up in order.
 * Beside it: pool.ts (the workers), timeouts.ts, reload.ts (HUP),
 * handoff/succession.ts (USR2), control/commands.ts (`tsunicorn ctl`).
 */
import process from 'node:process';
import { formatAppSpec, parseAppSpec } from '../config/app-spec.js';
import { type HookName, type Hooks, type ServerInfo, callHook, callHookSync } from '../config/hooks.js';
import type { ResolvedConfig } from '../config/resolve.js';
import type { Settings } from '../config/settings.js';
import { ExitCode, describeError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { VERSION } from '../version.js';
import { type TlsMaterial, checkTls } from './sockets/tls.js';
import { type ArbiterEvent, type ArbiterSignal, EventQueue } from './event-queue.js';
import type { Watcher } from './file-watcher.js';
import { type Listener, closeListeners, openListeners } from './sockets/listeners.js';
import { Pidfile } from './platform/pidfile.js';
import { type Identity, applyUmask, resolveIdentity, useWorkerIdentity } from './platform/privileges.js';
import { controlSocketPath } from '../config/control-path.js';
import { keepStartOnlySettings } from '../config/start-only.js';
import { ArbiterMetrics } from '../metrics/arbiter-metrics.js';
import { type ControlActions, answerControl } from './control/commands.js';
import { ControlServer } from './control/server.js';
import { inheritedSockets } from './handoff/inherited-sockets.js';
import { AutoWorkers } from './pool/auto-workers.js';
import { Diagnostics, checkDiagnosticsDir } from './diagnostics/diagnostics-dir.js';
import { HEAP_STRIKES, describeHeap, heapStrikes } from './decisions/heap-rule.js';
import { pid1Note, removeRelayMarker } from './platform/pid1.js';
import { type PoolContext, WorkerPool } from './pool/pool.js';
import { rereadConfig, watchForReload } from './reload.js';
import { ShutdownDelay } from './shutdown-delay.js';
import { Succession } from './handoff/succession.js';
import { removeListenFdsEnv, setActivatedEnv } from './platform/socket-activation.js';
import { Systemd } from './platform/systemd.js';
import { type Stall, remember, stallOf } from './decisions/liveness.js';
import { murderStale, nextWakeMs, stopDeadline } from './timeouts.js';
import type { MessageOf, WorkerToArbiter } from '../protocol.js';
import {
  type WorkerRecord,
  WorkerState,
  currentRequest,
  now,
  sendToWorker,
  setupCluster,
} from './pool/worker-record.js';

enum ArbiterState {
  Starting = 'starting',
  Running = 'running',
  Reloading = 'reloading',
  Stopping = 'stopping',
}

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
  private readonly pool: WorkerPool;
  private listeners: Listener[] = [];
  private pidfile: Pidfile | null = null;
  private exitCode: number = ExitCode.OK;
  private stopGraceful = true;
  private haltReason: string | null = null;
  /** USR2: the new master this one started, and the old master that started this one. */
  private readonly succession: Succession;
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
  /** Socket activation and Type=notify (src/arbiter/platform/systemd.ts). */
  private readonly systemd: Systemd;
  private readonly specText: string;
  /** Recent stretches when the loop ran late: not counted as workers' silence (liveness.ts). */
  private stalls: Stall[] = [];
  /** -w auto: the worker count from CPU and memory limits (pool/auto-workers.ts). */
  private auto: AutoWorkers | null = null;
  /** --shutdown-delay: TERM keeps the server serving this long before the drain. */
  private readonly shutdownDelay = new ShutdownDelay();
  /** --diagnostics-dir (diagnostics/diagnostics-dir.ts), and --max-worker-heap strikes per worker (decisions/heap-rule.ts). */
  private diagnostics: Diagnostics | null = null;
  private readonly heapHigh = new WeakMap<WorkerRecord, number>();

  constructor(private readonly input: ArbiterInput) {
    this.config = input.config;
    this.log = input.log;
    this.pool = new WorkerPool(AutoWorkers.target(this.settings, null), this.log, this.reportHook);
    const parsed = parseAppSpec(this.settings.app ?? '');
    this.specText = this.settings.name ?? (parsed.ok ? formatAppSpec(parsed.spec) : (this.settings.app ?? ''));
    this.succession = new Succession(input.env);
    this.systemd = Systemd.fromEnv(input.env, input.log);
    // Before anything forks: systemd's sockets are this process's alone; a USR2 successor learns them from us.
    removeListenFdsEnv(input.env);
    setActivatedEnv(input.env, this.systemd.activated);
  }

  private get settings(): Settings {
    return this.config.settings;
  }

  private get hooks(): Hooks {
    return this.config.hooks;
  }

  private serverInfo(): ServerInfo {
    return this.pool.serverInfo(this.settings);
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
    if (settings.diagnosticsDir) {
      this.diagnostics = new Diagnostics(checkDiagnosticsDir(settings.diagnosticsDir), settings.diagnosticsKeep, log);
    }
    applyUmask(settings);
    settings.bind = await this.systemd.binds(settings.bind, this.input.env, log);
    const inherited = [...inheritedSockets(this.input.env), ...this.systemd.fromListenFds];
    const scheme = this.tls ? 'https' : 'http';
    this.listeners = await openListeners(settings.bind, settings.backlog, inherited, scheme, settings.reusePort);
    this.systemd.adopted(this.listeners, log);
    try {
      // Before the pidfile: a pidfile means everything is bound, and nothing awaits between it and the title.
      this.metrics = await ArbiterMetrics.start(settings, log, this.succession.isSuccessor);
      if (settings.pid) {
        this.pidfile = new Pidfile(this.succession.provisional(settings.pid));
        this.pidfile.create();
      }
    } catch (err) {
      closeListeners(this.listeners, !this.succession.isSuccessor);
      this.metrics?.close();
      throw err;
    }
    for (const l of this.listeners) log.info(`Listening at: ${l.info.display} (${process.pid})`);
    for (const l of this.listeners) {
      const how = l.boundWith === 'bound-socket' ? 'net.BoundSocket' : 'a probe listen';
      if (l.boundWith) log.debug(`Bound ${l.info.display} with ${how}`);
    }
    log.info(`Using worker: ${settings.workerClass}`);
    if (settings.workers === 'auto') {
      this.auto = new AutoWorkers(settings, log);
      this.pool.target = this.auto.target;
    }
    const note = pid1Note(this.input.env);
    if (note) log[note.level](note.text);
    // Workers and USR2 successors are not started by the init relay.
    removeRelayMarker(this.input.env);

    process.title = `tsunicorn: master [${this.specText}]`;
    setupCluster(`tsunicorn: worker [${this.specText}]`);
    useWorkerIdentity(this.identity, settings, this.socketPaths());
    this.queue.listen();
    if (settings.reload) this.watcher = watchForReload(settings, this.queue, log);
    // Last resort: a bug in a callback outside the loop must not take the arbiter, and so every worker, down.
    process.on('uncaughtException', (err) => this.logBug(err));
    process.on('unhandledRejection', (err) => this.logBug(err));
    await this.openControlSocket();

    this.state = ArbiterState.Running;
    // When the loop went to sleep, for how long, and when it woke: its own lateness (liveness.ts).
    let asleepAt = now();
    let sleepMs = 0;
    let wokeAt = asleepAt;
    for (;;) {
      this.guard(() => {
        this.stalls = remember(this.stalls, stallOf({ asleepAt, sleepMs, wokeAt, turnAt: now() }));
        this.maybePromote();
        this.reportReadiness();
        murderStale(this.pool.values(), this.settings, this.log, this.queue, this.stalls);
        if (this.shutdownDelay.due()) this.drain();
        if (this.state === ArbiterState.Running || this.shutdownDelay.pending) this.pool.converge(this.poolContext());
        this.metrics?.tick(this.pool.countLive(), now());
      });
      if (this.isStopped()) return this.finish();
      asleepAt = now();
      const wait = nextWakeMs(this.pool.values(), this.settings, this.pool.nextSpawnAt, this.stalls);
      sleepMs = this.shutdownDelay.wakeMs(wait);
      const event = await this.queue.next(sleepMs);
      wokeAt = now();
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
    return this.state === ArbiterState.Stopping && this.pool.size === 0;
  }

  // ── events ────────────────────────────────────────────────────────────────

  private async handle(event: ArbiterEvent): Promise<void> {
    switch (event.kind) {
      case 'signal':
        return this.onSignal(event.signal);
      case 'message': {
        const w = this.pool.get(event.workerId);
        const wasRetiring = w?.state === WorkerState.Retiring;
        this.pool.onMessage(event.workerId, event.msg, this.poolContext());
        if (event.msg.t === 'beat' && this.auto) this.autoBeat(event.workerId);
        if (event.msg.t === 'beat' && w) this.memoryBeat(w, event.msg, wasRetiring);
        if (event.msg.t === 'report' && w) this.diagnostics?.report(w.pid, event.msg.json);
        // A worker that became ready during --shutdown-delay answers --health-path with 503 too.
        if (event.msg.t === 'ready' && this.state === ArbiterState.Stopping) this.tellStopping(event.workerId);
        return;
      }
      case 'exit': {
        const stopping = this.state === ArbiterState.Stopping && !this.shutdownDelay.pending;
        const halt = this.pool.onExit(event.workerId, event.code, event.signal, this.poolContext(), stopping);
        if (halt) this.halt(halt.code, halt.reason);
        return;
      }
      case 'stack': {
        const w = this.pool.get(event.workerId);
        if (w) this.diagnostics?.timeout(w.pid, currentRequest(w.pid), event.stack, event.reason);
        return this.pool.onStack(event.workerId, event.stack, event.reason, this.poolContext());
      }
      case 'successor-exit':
        this.succession.successorExited(event.pid, event.code, event.signal, this.log);
        if (this.state !== ArbiterState.Stopping) this.systemd.mainPidAgain();
        return;
      case 'files-changed':
        if (this.state === ArbiterState.Running) {
          this.log.info(`Reloading: ${event.file} changed`);
          await this.reload();
        }
        return;
      case 'control':
        return answerControl(event.request, event.reply, this.controlActions, this.log);
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
        if (!stopping) this.setTarget(this.pool.target + 1);
        return;
      case 'SIGTTOU':
        if (!stopping) this.setTarget(Math.max(1, this.pool.target - 1));
        return;
      case 'SIGHUP':
        if (!stopping) await this.reload();
        return;
      case 'SIGUSR1':
        this.log.reopen();
        for (const w of this.pool.values()) sendToWorker(w, { t: 'reopen-logs' });
        return;
      case 'SIGUSR2':
        if (!stopping) await this.upgrade();
        return;
      case 'SIGWINCH':
        if (!stopping) {
          this.log.info('Stopping all workers gracefully (WINCH); HUP starts them again');
          this.pool.winched = true;
        }
        return;
    }
  }

  // ── control socket ────────────────────────────────────────────────────────

  private async openControlSocket(): Promise<void> {
    this.controlPath = controlSocketPath(this.settings, this.input.cwd, this.input.env);
    if (!this.controlPath) return;
    // A USR2 successor uses PATH.2 until promoted, as with the pidfile.
    const path = this.succession.provisional(this.controlPath);
    this.control = await ControlServer.listen(
      path,
      (request, reply) => this.queue.push({ kind: 'control', request, reply }),
      this.log,
    );
    if (this.control) this.log.info(`Control socket at: ${path}`);
  }

  /** What `tsunicorn ctl` drives (control/commands.ts): the same actions as the signals. */
  private readonly controlActions: ControlActions = {
    status: () => ({
      name: this.specText,
      state: this.state,
      generation: this.pool.generation,
      target: this.pool.effectiveTarget,
      restarts: this.pool.restarts,
      workers: this.pool.values(),
      ...(this.pool.canary ? { canary: this.pool.canary.status(now()) } : {}),
    }),
    isStopping: () => this.state === ArbiterState.Stopping,
    reload: async () => {
      const generation = this.pool.generation;
      await this.reload();
      return this.pool.generation > generation ? this.pool.generation : null;
    },
    scale: (workers) => {
      const previous = this.pool.target;
      this.setTarget(workers);
      return { previous, winched: this.pool.winched };
    },
    stop: (graceful) => this.beginStop(graceful),
    settings: () => this.settings,
    listeners: () => this.listeners,
    retire: (w) => this.pool.retireOne(w, this.settings),
    later: (request) => this.queue.push({ kind: 'control', request, reply: () => {} }),
  };

  /** -w auto under a memory limit: a ready worker's first beat measures what one costs (pool/auto-workers.ts). */
  private autoBeat(workerId: number): void {
    const w = this.pool.get(workerId);
    if (!w || w.state !== WorkerState.Ready || this.state === ArbiterState.Stopping) return;
    const target = this.auto?.onReadyBeat(w.rss) ?? null;
    if (target !== null) this.setTarget(target);
  }

  /**
   * --max-worker-heap recycles a worker before V8 aborts it; with --diagnostics-dir, a worker that this beat
   * made retire for memory (heap or --max-worker-memory) is asked for its diagnostic report first.
   */
  private memoryBeat(w: WorkerRecord, beat: MessageOf<WorkerToArbiter, 'beat'>, wasRetiring: boolean): void {
    const percent = this.settings.maxWorkerHeap;
    const heap = { used: beat.heapUsed, limit: beat.heapLimit };
    const strikes = heapStrikes(this.heapHigh.get(w) ?? 0, heap, percent);
    this.heapHigh.set(w, strikes);
    if (strikes >= HEAP_STRIKES && w.state === WorkerState.Ready) {
      this.log.warning(describeHeap(w.pid, heap, percent));
      // Asked before the stop, so the worker answers before it starts to drain.
      if (this.diagnostics) sendToWorker(w, { t: 'report-request' });
      this.pool.retire(w, 'memory', this.settings);
    } else if (!wasRetiring && w.state === WorkerState.Retiring && w.retireReason === 'memory' && this.diagnostics) {
      sendToWorker(w, { t: 'report-request' });
    }
  }

  private setTarget(n: number): void {
    const old = this.pool.target;
    this.pool.target = n;
    if (n !== old) callHookSync(this.hooks, 'nworkersChanged', this.reportHook, this.serverInfo(), n, old);
  }

  /** What the pool forks, boots and accounts workers with: the running configuration, which a HUP replaces. */
  private poolContext(): PoolContext {
    return {
      settings: this.settings,
      hooks: this.hooks,
      tls: this.tls,
      listeners: this.listeners,
      metrics: this.metrics,
    };
  }

  /** systemd (Type=notify): READY=1 once the current generation serves at full strength, after start and after each HUP. */
  private reportReadiness(): void {
    if (!this.systemd.readyPending || this.state !== ArbiterState.Running) return;
    const ready = this.pool.readiness();
    if (ready !== null) this.systemd.ready(ready);
  }

  // ── reload (HUP) and upgrade (USR2) ───────────────────────────────────────

  /**
   * HUP: re-read the whole config chain (reload.ts), then start a new
   * generation of workers (new code: each loads the app afresh). Old workers
   * retire as the new ones report ready (WorkerPool.converge). A config that
   * does not load changes nothing.
   */
  private async reload(): Promise<void> {
    this.state = ArbiterState.Reloading;
    this.systemd.reloading();
    try {
      this.log.info('Hang up: Master');
      const next = await rereadConfig(
        this.input,
        { settings: this.settings, listeners: this.listeners },
        this.systemd,
        this.log,
      );
      if (!next) return;
      this.listeners = next.listeners;
      const before = this.settings;
      const settings = next.config.settings;
      keepStartOnlySettings(before, settings, this.log);
      this.config = next.config;
      this.tls = next.tls;
      this.identity = next.identity;
      applyUmask(settings);
      useWorkerIdentity(next.identity, settings, this.socketPaths());
      this.log.setLevel(settings.logLevel);
      if (settings.workers === 'auto') {
        this.setTarget(this.auto?.reread(settings) ?? (this.auto = new AutoWorkers(settings, this.log)).target);
      } else if (settings.workers !== before.workers || this.pool.winched) this.setTarget(settings.workers);
      this.pool.startGeneration(settings);
      await callHook(this.hooks, 'onReload', this.reportHook, this.serverInfo());
    } finally {
      this.state = ArbiterState.Running;
    }
  }

  private socketPaths(): string[] {
    return this.listeners.flatMap((l) => (l.socketPath ? [l.socketPath] : []));
  }

  private async upgrade(): Promise<void> {
    const refusal = this.succession.refusal();
    if (refusal) {
      this.log.warning(`USR2 ignored: ${refusal}`);
      return;
    }
    await callHook(this.hooks, 'preExec', this.reportHook, this.serverInfo());
    const { argv, env, cwd } = this.input;
    this.succession.start(argv, env, cwd, this.listeners, this.queue, this.log);
  }

  /** After a USR2 upgrade, the new master takes the real pidfile name once its predecessor has gone. */
  private maybePromote(): void {
    if (!this.succession.promote()) return;
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
    // Handing over to a USR2 successor, or back to the predecessor, is not the service stopping.
    if (this.state !== ArbiterState.Stopping && !this.succession.handingOver()) this.systemd.stopping();
    const first = this.state !== ArbiterState.Stopping;
    this.state = ArbiterState.Stopping;
    this.stopGraceful = graceful;
    this.watcher?.close();
    if (first) for (const w of this.pool.values()) this.tellStopping(w.id);
    // Not when handing over to a USR2 successor: its workers serve on, and this master's should go now.
    const delay = this.settings.shutdownDelay;
    if (graceful && delay > 0 && !this.succession.handingOver()) {
      const health = this.settings.healthPath ? `; ${this.settings.healthPath} answers 503` : '';
      this.log.info(`Serving on for --shutdown-delay ${delay} s before stopping gracefully${health}`);
      this.shutdownDelay.begin(delay);
      return;
    }
    this.drain(graceful);
  }

  /** The stop proper: workers stop accepting and drain (graceful), or exit at once; killed at the deadline. */
  private drain(graceful = true): void {
    this.shutdownDelay.cancel();
    this.pool.stopAll(graceful, stopDeadline(this.settings, graceful));
  }

  /** --health-path answers 503 in this worker from now on. */
  private tellStopping(workerId: number): void {
    const w = this.pool.get(workerId);
    if (w && this.settings.healthPath) sendToWorker(w, { t: 'server-stopping' });
  }

  /** Stops everything because workers cannot boot; exits with their code (Gunicorn's HaltServer). */
  private halt(code: number, reason: string): void {
    if (this.haltReason !== null) return;
    this.haltReason = reason;
    this.beginStop(false, code);
  }

  private async finish(): Promise<number> {
    // Socket files stay while a successor (USR2) or a predecessor (rollback) may still serve on them.
    closeListeners(this.listeners, !this.succession.sharesSockets());
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
