/**
 * Worker process entry. The arbiter forks this module through node:cluster.
 *
 * Boot: say hello → receive settings and listener handles → (worker hooks:
 * load the config file) → load the app → listen → report ready. Boot
 * failures are reported once to the arbiter and end the process with
 * Gunicorn's codes (4: app not loadable, 3: anything else).
 *
 * Liveness: a timer on the event loop sends a heartbeat; if the loop blocks,
 * the beats stop and the arbiter's --timeout fires.
 *
 * Signals: TERM stops gracefully, INT and QUIT stop at once, HUP is ignored
 * (the arbiter decides about reloads). No SIGUSR1 listener: on Node 20 that
 * would disable the inspector, which the arbiter uses to read the stack of a
 * hung worker; log reopening arrives over IPC instead.
 */
import cluster from 'node:cluster';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import process from 'node:process';
import v8 from 'node:v8';
import { formatAppSpec, parseAppSpec } from '../config/app-spec.js';
import { type HookName, type Hooks, type WorkerInfo, callHook, callHookSync } from '../config/hooks.js';
import type { Settings } from '../config/settings.js';
import { ExitCode, TsuError, describeError } from '../errors.js';
import { compileAccessFormat, jsonAccessLine } from '../log/access-log.js';
import { LineWriter } from '../log/line-writer.js';
import { type Logger, createLogger } from '../log/logger.js';
import type { ServerHandle } from '../node-compat.js';
import {
  ARBITER_TO_WORKER_TYPES,
  type ArbiterToWorker,
  type BeatLoad,
  type Dispatch,
  type ListenerInfo,
  type WorkerToArbiter,
  isMessage,
  monotonicMs,
  STDOUT_FD_ENV,
} from '../protocol.js';
import { loadApp } from './app/app-loader.js';
import { clientInfo, configureForwarding } from './http/forwarded.js';
import { HttpWorker } from './http/http-worker.js';
import { type ShutdownHandler, callShutdown, upgradeListener } from './app/app-extras.js';
import { serverTlsOptions } from '../arbiter/sockets/tls.js';
import { type RequestSink, observeRequests } from './http/request-observer.js';
import { type WorkerMetrics, startWorkerMetrics } from '../metrics/worker-metrics.js';
import { busyTitle, targetPath } from './process/process-title.js';

if (!cluster.isWorker) {
  process.stderr.write('tsunicorn: the worker entry must be started by the arbiter\n');
  process.exit(ExitCode.USAGE);
}

interface Booted {
  settings: Settings;
  log: Logger;
  info: WorkerInfo;
  hooks: Hooks;
}

let booted: Booted | null = null;
/** Set as soon as boot opens the log, so a USR1 reopen during the rest of boot is not lost. */
let workerLog: Logger | null = null;
let server: HttpWorker | null = null;
let listenersExpected = Number.POSITIVE_INFINITY;
let primaryHandles = 0;
const pendingHandles: [ListenerInfo, ServerHandle][] = [];
let appLoaded = false;
let stopping = false;
let beatTimer: NodeJS.Timeout | null = null;
let accessLog: LineWriter | null = null;
/** The app's own stop notice (app-extras.ts), called as a graceful stop begins. */
let appShutdown: ShutdownHandler | undefined;
/** StatsD and Prometheus counters (--statsd-host, --metrics-bind); null when both are off. */
let metrics: WorkerMetrics | null = null;
/** A diagnostic report on its way to the arbiter (--diagnostics-dir): a graceful stop exits only after it. */
let reportSent: Promise<void> = Promise.resolve();
/** The arbiter said the server is stopping (--health-path answers 503), possibly before the server was made. */
let serverStopping = false;

function send(msg: WorkerToArbiter): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send!(msg, undefined, {}, () => resolve());
  });
}

const reportHook = (name: HookName, err: unknown): void => {
  booted?.log.error(`Exception in hook ${name}: ${describeError(err)}`);
};

async function bootFailed(err: unknown): Promise<never> {
  const tsu = err instanceof TsuError ? err : new TsuError('TSU_ERR_WORKER_BOOT', describeError(err), { cause: err });
  const cause = tsu.cause instanceof Error ? tsu.cause : tsu;
  await send({ t: 'boot-error', exitCode: tsu.exitCode, code: tsu.code, message: tsu.message, stack: cause.stack });
  process.exit(tsu.exitCode);
}

async function stop(graceful: boolean, code: number = ExitCode.OK): Promise<void> {
  if (stopping && graceful) return;
  stopping = true;
  if (beatTimer) clearInterval(beatTimer);
  if (!graceful || !server || !booted) {
    if (booted) await callHook(booted.hooks, 'workerInt', reportHook, booted.info);
    server?.destroy();
    accessLog?.flushSync();
    await finalMetrics();
    process.exit(code);
  }
  const { log, settings, hooks, info } = booted;
  log.info(`Worker exiting (pid: ${process.pid})`);
  // The arbiter sends SIGKILL at --graceful-timeout. Connections still open shortly before then (a
  // WebSocket, an event stream) are closed, which ends server.close() below, so workerExit still runs
  // and the worker exits by itself; the backstop covers a workerExit hook that hangs.
  const gracefulMs = settings.gracefulTimeout * 1000;
  const marginMs = Math.min(1000, gracefulMs / 10);
  const limit = setTimeout(() => {
    log.warning(`Worker (pid: ${process.pid}) did not finish within the graceful timeout; closing its connections`);
    server?.destroy();
  }, gracefulMs - marginMs);
  const backstop = setTimeout(() => {
    accessLog?.flushSync();
    metrics?.close();
    process.exit(code);
  }, gracefulMs);
  limit.unref();
  backstop.unref();
  const closed = server.close();
  // After the listeners closed: the app ends its long-lived connections (WebSocket close frames, …).
  callShutdown(appShutdown, log);
  await closed;
  await callHook(hooks, 'workerExit', reportHook, info);
  await accessLog?.drain();
  await finalMetrics();
  await reportSent;
  process.exit(code);
}

/** Before exiting: send buffered StatsD metrics, and a last beat so /metrics counts every request served. */
async function finalMetrics(): Promise<void> {
  if (!metrics) return;
  metrics.close();
  if (booted?.settings.metricsBind) await send(beat());
}

/** The access log sink, when --access-logfile is set: text in Gunicorn's format, or JSON. */
function accessLogSink(settings: Settings): RequestSink | null {
  if (!settings.accessLogfile) return null;
  // With --capture-output our stdout is a pipe into the error log; the arbiter's stdout is passed as another fd.
  const stdoutFd = Number(process.env[STDOUT_FD_ENV]) || 1;
  const name = settings.accessLogfile === '-' ? 'stdout' : settings.accessLogfile;
  accessLog = new LineWriter(settings.accessLogfile, stdoutFd, (t) => {
    if (t.kind === 'failing') {
      workerLog?.error(`Access log ${name}: cannot write (${t.code}); lines are dropped until it can`);
    } else workerLog?.warning(`Access log ${name}: ${t.lost} lines lost (${t.code}); writing again`);
  });
  const writer = accessLog;
  const format = settings.logFormat === 'json' ? jsonAccessLine : compileAccessFormat(settings.accessLogformat ?? '');
  return (record) => writer.write(format(record));
}

/** The last resident-memory reading: reported again when a new one cannot be taken. */
let lastRss = 0;

/**
 * Resident memory, or the last reading: Node opens /proc/self/stat for it, which fails with EMFILE (#16).
 * Stale rather than thrown (the beat keeps this worker alive); that failure also tells the server it is out of
 * descriptors.
 */
function residentMemory(): number {
  try {
    lastRss = process.memoryUsage.rss();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EMFILE' || code === 'ENFILE') server?.descriptorsExhausted();
    return lastRss;
  }
  server?.checkDescriptors();
  return lastRss;
}

/** Heap (ctl top, --max-worker-heap), event-loop utilisation and latencies: cheap readings, no /proc. */
function loadReading(): BeatLoad {
  const elu = performance.eventLoopUtilization();
  const heap = v8.getHeapStatistics();
  return {
    heapUsed: heap.used_heap_size,
    heapLimit: heap.heap_size_limit,
    loopIdleMs: elu.idle,
    loopActiveMs: elu.active,
    latency: server ? [...server.latency.counts] : [],
  };
}

function beat(): WorkerToArbiter {
  const snapshot = metrics?.snapshot();
  return {
    t: 'beat',
    at: monotonicMs(),
    requests: server?.requests ?? 0,
    inFlight: server?.activeRequests ?? 0,
    connections: server?.openConnections ?? 0,
    rss: residentMemory(),
    ...loadReading(),
    ...(snapshot ? { metrics: snapshot } : {}),
  };
}

function startBeats(intervalMs: number): void {
  beatTimer = setInterval(() => void send(beat()), intervalMs);
  beatTimer.unref();
}

/** preRequest/postRequest hooks wrap the app only when the config defines them: no cost otherwise. */
function withRequestHooks(app: RequestListener, b: Booted): RequestListener {
  const { hooks, info } = b;
  if (!hooks.preRequest && !hooks.postRequest) return app;
  return (req: IncomingMessage, res: ServerResponse) => {
    callHookSync(hooks, 'preRequest', reportHook, info, req);
    if (hooks.postRequest) res.once('close', () => callHookSync(hooks, 'postRequest', reportHook, info, req, res));
    return app(req, res);
  };
}

/** Listens once the app is loaded and every listener's first handle has arrived. */
function maybeListen(): void {
  if (!booted || !server || !appLoaded || primaryHandles < listenersExpected) return;
  listenersExpected = Number.POSITIVE_INFINITY; // Only once.
  server.start().then(
    () => send({ t: 'ready' }),
    (err) => bootFailed(new TsuError('TSU_ERR_WORKER_BOOT', describeError(err), { cause: err })),
  );
}

async function boot(msg: Extract<ArbiterToWorker, { t: 'boot' }>): Promise<void> {
  const settings = msg.settings;
  const log = createLogger({
    level: settings.logLevel,
    format: settings.logFormat,
    destination: settings.errorLogfile,
  });
  workerLog = log;
  metrics = startWorkerMetrics(settings, log);
  const info: WorkerInfo = { pid: process.pid, generation: msg.generation };
  const parsed = parseAppSpec(settings.app ?? '');
  const idleTitle = `tsunicorn: worker [${settings.name ?? (parsed.ok ? formatAppSpec(parsed.spec) : settings.app)}]`;
  process.title = idleTitle;
  log.info(`Booting worker with pid: ${process.pid}`);
  startBeats(msg.beatMs);
  if (!parsed.ok)
    throw new TsuError('TSU_ERR_BAD_APP_SPEC', `invalid app ${JSON.stringify(settings.app)}: ${parsed.problem}`);

  // Functions cannot cross IPC: a worker that needs hooks reads the config file itself.
  let hooks: Hooks = {};
  if (msg.workerHooks && settings.config) {
    // Imported only here: the config machinery (yargs, cosmiconfig) costs ~15 MB of RSS per worker.
    const { resolveConfig } = await import('../config/resolve.js');
    hooks = (await resolveConfig({ argv: ['-c', settings.config], env: process.env, cwd: process.cwd() })).hooks;
  }
  booted = { settings, log, info, hooks };
  await callHook(hooks, 'postFork', reportHook, info);

  const app = await loadApp(
    parsed.spec,
    settings.interface,
    process.cwd(),
    (err, req) => log.exception(`Error handling request ${req.method} ${req.url}`, err),
    settings.fetchFastResponse,
  );
  const ts = app.typescript;
  if (ts) log.debug(`Loaded ${app.file} with ${ts.by === 'node' ? "Node's type stripping" : `tsx (${ts.reason})`}`);
  await callHook(hooks, 'postWorkerInit', reportHook, info);
  appShutdown = app.shutdown;
  const maxRequests =
    settings.maxRequests > 0 ? settings.maxRequests + Math.floor(Math.random() * (settings.maxRequestsJitter + 1)) : 0;
  const sinks = [accessLogSink(settings), ...(metrics?.sinks ?? [])].filter((s): s is RequestSink => s !== null);
  const path = (req: IncomingMessage) => targetPath(req.url ?? '/');
  configureForwarding(settings);
  // The PEM text the arbiter read and checked; the sslContext hook (if any) adjusts the options here too.
  const tls = msg.tls ? await serverTlsOptions(settings, msg.tls, hooks) : null;
  server = new HttpWorker({
    settings,
    log,
    tls,
    app: observeRequests(withRequestHooks(app.listener, booted), sinks, (req) => clientInfo(req).address),
    ...(app.upgrade ? { upgrade: upgradeListener(app.upgrade, log) } : {}),
    maxRequests,
    needSpare: (index, count) => void send({ t: 'need-spare', index, count }),
    // The arbiter replaces a worker that exits with an error; the others serve meanwhile.
    onListenError: () => void stop(true, ExitCode.RUNTIME),
    onMaxRequests: () => {
      log.info(`Autorestarting worker after current request (${maxRequests} requests served).`);
      void send({ t: 'retiring', reason: 'max-requests' });
      void stop(true);
    },
    // Sync: ps shows what each worker is serving, and the arbiter reads it on a timeout (no per-request IPC).
    onRequestStart: (req) => {
      process.title = busyTitle(idleTitle, req.method, req.url);
    },
    onRequestEnd: () => {
      process.title = idleTitle;
    },
    onRequestTimeout: (req) => {
      // The arbiter logs WORKER TIMEOUT and replaces this worker; its one connection got a 504.
      void send({ t: 'request-timeout', method: req.method ?? 'GET', path: path(req) }).then(() =>
        stop(false, ExitCode.RUNTIME),
      );
    },
  });
  if (serverStopping) server.stopServing();
  for (const [l, handle] of pendingHandles.splice(0)) server.addHandle(l, handle);
  appLoaded = true;
  maybeListen();
}

const dispatch: Dispatch<ArbiterToWorker, [ServerHandle | undefined]> = {
  boot(msg) {
    listenersExpected = msg.listenerCount;
    boot(msg).catch(bootFailed);
  },
  listener(msg, handle) {
    if (!handle) return;
    if (!msg.spare) primaryHandles++;
    if (server) server.addHandle(msg.info, handle);
    else pendingHandles.push([msg.info, handle]);
    maybeListen();
  },
  stop(msg) {
    void stop(msg.graceful);
  },
  'reopen-logs'() {
    workerLog?.reopen();
    accessLog?.reopen();
  },
  shed(msg) {
    server?.shed(msg.count);
  },
  'server-stopping'() {
    serverStopping = true;
    server?.stopServing();
  },
  'report-request'() {
    // Synchronous: the report is of this moment, before the graceful stop frees anything.
    reportSent = send({ t: 'report', json: JSON.stringify(process.report.getReport()) });
  },
};

process.on('message', (msg: unknown, handle: unknown) => {
  if (!isMessage<ArbiterToWorker>(msg, ARBITER_TO_WORKER_TYPES)) return;
  (dispatch[msg.t] as (m: ArbiterToWorker, h: ServerHandle | undefined) => void)(
    msg,
    handle as ServerHandle | undefined,
  );
});

process.on('SIGTERM', () => void stop(true));
process.on('SIGINT', () => void stop(false));
process.on('SIGQUIT', () => void stop(false));
process.on('SIGHUP', () => {});

process.on('uncaughtException', (err) => {
  if (!booted || !server) {
    void bootFailed(err);
    return;
  }
  booted.log.critical(
    `Uncaught exception in worker (pid: ${process.pid}): ${err instanceof Error ? err.stack : String(err)}`,
  );
  // The process state is unknown: stop taking work, finish what is in flight, and be replaced.
  void stop(true, ExitCode.RUNTIME);
});

void send({ t: 'hello' });
