/**
 * One worker process, from its hello to the arbiter to its exit (phases in phase.ts).
 *
 * Boot: say hello → receive settings and listener handles → (worker hooks: load the config file) → load the
 * app → listen → report ready. Boot failures are reported once to the arbiter and end the process with
 * Gunicorn's codes (4: app not loadable, 3: anything else).
 *
 * Signals: TERM stops gracefully, INT and QUIT stop at once, HUP is ignored (the arbiter decides about
 * reloads). No SIGUSR1 listener: on Node 20 that would disable the inspector, which the arbiter uses to read
 * the stack of a hung worker; log reopening arrives over IPC instead.
 */
import process from 'node:process';
import { type HookName, type Hooks, type WorkerInfo, callHook } from '../../config/hooks.js';
import type { Settings } from '../../config/settings.js';
import { ExitCode, TsuError, describeError } from '../../errors.js';
import { type Logger, createLogger } from '../../log/logger.js';
import { type WorkerMetrics, startWorkerMetrics } from '../../metrics/worker-metrics.js';
import type { ServerHandle } from '../../node-compat.js';
import {
  ARBITER_TO_WORKER_TYPES,
  type ArbiterToWorker,
  type Dispatch,
  type ListenerInfo,
  isMessage,
} from '../../protocol.js';
import { type ShutdownHandler, callShutdown } from '../app/app-extras.js';
import type { HttpWorker } from '../http/http-worker.js';
import { type AccessLog, openAccessLog } from './access-log.js';
import { Heartbeat } from './heartbeat.js';
import { sendToArbiter } from './ipc.js';
import { type Phase, canEnter, stopTarget } from './phase.js';
import { appTitle, loadAndServe } from './serve.js';

type BootMessage = Extract<ArbiterToWorker, { t: 'boot' }>;

/** What boot has established once the config is read: what hooks, logs and stops need. */
export interface Booted {
  settings: Settings;
  log: Logger;
  info: WorkerInfo;
  hooks: Hooks;
}

export class WorkerProcess {
  private phase: Phase = 'hello';
  private booted: Booted | null = null;
  /** Set as soon as boot opens the log, so a USR1 reopen during the rest of boot is not lost. */
  private log: Logger | null = null;
  server: HttpWorker | null = null;
  /** StatsD and Prometheus counters (--statsd-host, --metrics-bind); null when both are off. */
  metrics: WorkerMetrics | null = null;
  private accessLog: AccessLog | null = null;
  /** The app's own stop notice (app-extras.ts), called as a graceful stop begins. */
  private appShutdown: ShutdownHandler | undefined;
  /** Listener handles: how many listeners the boot message announced, first copies received, and early ones. */
  private listenersExpected = Number.POSITIVE_INFINITY;
  private primaryHandles = 0;
  private readonly pendingHandles: [ListenerInfo, ServerHandle][] = [];
  /** A diagnostic report on its way to the arbiter (--diagnostics-dir): a graceful stop exits only after it. */
  private reportSent: Promise<void> = Promise.resolve();
  /** The arbiter said the server is stopping (--health-path answers 503), possibly before the server was made. */
  private serverStopping = false;
  private readonly heartbeat = new Heartbeat(this);

  /** Listens to the arbiter and to signals, and says hello. */
  start(): void {
    process.on('message', (msg: unknown, handle: unknown) => {
      if (!isMessage<ArbiterToWorker>(msg, ARBITER_TO_WORKER_TYPES)) return;
      (this.dispatch[msg.t] as (m: ArbiterToWorker, h: ServerHandle | undefined) => void)(
        msg,
        handle as ServerHandle | undefined,
      );
    });
    process.on('SIGTERM', () => void this.stop(true));
    process.on('SIGINT', () => void this.stop(false));
    process.on('SIGQUIT', () => void this.stop(false));
    process.on('SIGHUP', () => {});
    process.on('uncaughtException', (err) => this.uncaught(err));
    void sendToArbiter({ t: 'hello' });
  }

  /** The one place the phase changes; false (and no change) for a transition phase.ts does not allow. */
  private enter(to: Phase): boolean {
    if (!canEnter(this.phase, to)) return false;
    this.phase = to;
    return true;
  }

  private readonly dispatch: Dispatch<ArbiterToWorker, [ServerHandle | undefined]> = {
    boot: (msg) => {
      if (!this.enter('booting')) return;
      this.listenersExpected = msg.listenerCount;
      this.boot(msg).catch((err) => this.bootFailed(err));
    },
    listener: (msg, handle) => {
      if (!handle) return;
      if (!msg.spare) this.primaryHandles++;
      if (this.server) this.server.addHandle(msg.info, handle);
      else this.pendingHandles.push([msg.info, handle]);
      this.maybeListen();
    },
    stop: (msg) => void this.stop(msg.graceful),
    'reopen-logs': () => {
      this.log?.reopen();
      this.accessLog?.writer.reopen();
    },
    shed: (msg) => this.server?.shed(msg.count),
    'server-stopping': () => {
      this.serverStopping = true;
      this.server?.stopServing();
    },
    'report-request': () => {
      // Synchronous: the report is of this moment, before the graceful stop frees anything.
      this.reportSent = sendToArbiter({ t: 'report', json: JSON.stringify(process.report.getReport()) });
    },
  };

  private readonly reportHook = (name: HookName, err: unknown): void => {
    this.booted?.log.error(`Exception in hook ${name}: ${describeError(err)}`);
  };

  private async boot(msg: BootMessage): Promise<void> {
    const settings = msg.settings;
    const log = createLogger({
      level: settings.logLevel,
      format: settings.logFormat,
      destination: settings.errorLogfile,
    });
    this.log = log;
    this.metrics = startWorkerMetrics(settings, log);
    const info: WorkerInfo = { pid: process.pid, generation: msg.generation };
    const title = appTitle(settings);
    process.title = title.idle;
    log.info(`Booting worker with pid: ${process.pid}`);
    this.heartbeat.start(msg.beatMs);
    if (!title.spec)
      throw new TsuError('TSU_ERR_BAD_APP_SPEC', `invalid app ${JSON.stringify(settings.app)}: ${title.problem}`);

    // Functions cannot cross IPC: a worker that needs hooks reads the config file itself.
    let hooks: Hooks = {};
    if (msg.workerHooks && settings.config) {
      // Imported only here: the config machinery (yargs, cosmiconfig) costs RSS in every worker.
      const { resolveConfig } = await import('../../config/resolve.js');
      hooks = (await resolveConfig({ argv: ['-c', settings.config], env: process.env, cwd: process.cwd() })).hooks;
    }
    const booted: Booted = { settings, log, info, hooks };
    this.booted = booted;
    await callHook(hooks, 'postFork', this.reportHook, info);

    const served = await loadAndServe(msg, title.spec, booted, {
      reportHook: this.reportHook,
      idleTitle: title.idle,
      openSinks: () => {
        this.accessLog = openAccessLog(settings, log);
        return [...(this.accessLog ? [this.accessLog.sink] : []), ...(this.metrics?.sinks ?? [])];
      },
      stop: (graceful, code) => void this.stop(graceful, code),
    });
    this.appShutdown = served.shutdown;
    this.server = served.server;
    if (this.serverStopping) served.server.stopServing();
    for (const [l, handle] of this.pendingHandles.splice(0)) served.server.addHandle(l, handle);
    this.maybeListen();
  }

  /** Listens once the server is made and every listener's first handle has arrived. */
  private maybeListen(): void {
    const server = this.server;
    if (this.phase !== 'booting' || !server || this.primaryHandles < this.listenersExpected) return;
    this.enter('serving');
    server.start().then(
      () => sendToArbiter({ t: 'ready' }),
      (err) => this.bootFailed(new TsuError('TSU_ERR_WORKER_BOOT', describeError(err), { cause: err })),
    );
  }

  private async bootFailed(err: unknown): Promise<never> {
    this.enter('exiting');
    const tsu = err instanceof TsuError ? err : new TsuError('TSU_ERR_WORKER_BOOT', describeError(err), { cause: err });
    const cause = tsu.cause instanceof Error ? tsu.cause : tsu;
    await sendToArbiter({
      t: 'boot-error',
      exitCode: tsu.exitCode,
      code: tsu.code,
      message: tsu.message,
      stack: cause.stack,
    });
    process.exit(tsu.exitCode);
  }

  private uncaught(err: Error): void {
    if (!this.booted || !this.server) {
      void this.bootFailed(err);
      return;
    }
    const what = err instanceof Error ? err.stack : String(err);
    this.booted.log.critical(`Uncaught exception in worker (pid: ${process.pid}): ${what}`);
    // The process state is unknown: stop taking work, finish what is in flight, and be replaced.
    void this.stop(true, ExitCode.RUNTIME);
  }

  private async stop(graceful: boolean, code: number = ExitCode.OK): Promise<void> {
    const target = stopTarget(this.phase, graceful, this.server !== null && this.booted !== null);
    if (target === null) return;
    this.enter(target);
    this.heartbeat.stop();
    const { server, booted } = this;
    if (target === 'exiting' || !server || !booted) {
      if (booted) await callHook(booted.hooks, 'workerInt', this.reportHook, booted.info);
      void server?.destroy();
      this.accessLog?.writer.flushSync();
      await this.finalMetrics();
      process.exit(code);
    }
    const { log, settings, hooks, info } = booted;
    log.info(`Worker exiting (pid: ${process.pid})`);
    // The arbiter sends SIGKILL at --graceful-timeout. Connections still open shortly before then (a WebSocket,
    // an event stream) are closed, which ends server.close() below, so workerExit still runs and the worker
    // exits by itself; the backstop covers a workerExit hook that hangs.
    const gracefulMs = settings.gracefulTimeout * 1000;
    const marginMs = Math.min(1000, gracefulMs / 10);
    const limit = setTimeout(() => {
      log.warning(`Worker (pid: ${process.pid}) did not finish within the graceful timeout; closing its connections`);
      void server.destroy();
    }, gracefulMs - marginMs);
    const backstop = setTimeout(() => {
      this.accessLog?.writer.flushSync();
      this.metrics?.close();
      process.exit(code);
    }, gracefulMs);
    limit.unref();
    backstop.unref();
    const closed = server.close();
    // After the listeners closed: the app ends its long-lived connections (WebSocket close frames, …).
    callShutdown(this.appShutdown, log);
    await closed;
    await callHook(hooks, 'workerExit', this.reportHook, info);
    await this.accessLog?.writer.drain();
    await this.finalMetrics();
    await this.reportSent;
    process.exit(code);
  }

  /** Before exiting: send buffered StatsD metrics, and a last beat so /metrics counts every request served. */
  private async finalMetrics(): Promise<void> {
    if (!this.metrics) return;
    this.metrics.close();
    if (this.booted?.settings.metricsBind) await sendToArbiter(this.heartbeat.beat());
  }
}
