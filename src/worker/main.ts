/**
 * Worker process entry. The arbiter forks this module through node:cluster.
 *
 * Boot: say hello → receive settings and listener handles → load the app →
 * listen → report ready. Boot failures are reported once to the arbiter and
 * end the process with Gunicorn's codes (4: app not loadable, 3: other).
 *
 * Signals: TERM stops gracefully, INT and QUIT stop at once, HUP is ignored
 * (the arbiter decides about reloads). No SIGUSR1 listener: on Node 20 that
 * would disable the inspector, the one way to read a hung worker's stack.
 */
import cluster from 'node:cluster';
import process from 'node:process';
import { formatAppSpec, parseAppSpec } from '../config/app-spec.js';
import type { Settings } from '../config/settings.js';
import { ExitCode, TsuError, describeError } from '../errors.js';
import { type Logger, createLogger } from '../log/logger.js';
import type { ServerHandle } from '../node-compat.js';
import { ARBITER_TO_WORKER_TYPES, type ArbiterToWorker, type Dispatch, type WorkerToArbiter, isMessage } from '../protocol.js';
import { loadApp } from './app-loader.js';
import { AsyncWorker } from './async-worker.js';

if (!cluster.isWorker) {
  process.stderr.write('tsunicorn: the worker entry must be started by the arbiter\n');
  process.exit(ExitCode.USAGE);
}

let settings: Settings | null = null;
let log: Logger | null = null;
let worker: AsyncWorker | null = null;
let listenersExpected = 0;
let listenersReceived = 0;
let appReady: Promise<void> | null = null;
let stopping = false;

function send(msg: WorkerToArbiter): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send!(msg, undefined, {}, () => resolve());
  });
}

async function exitWith(code: number): Promise<never> {
  // Let the arbiter see any message sent just before, then go.
  process.exit(code);
}

async function bootFailed(err: unknown): Promise<never> {
  const tsu = err instanceof TsuError ? err : new TsuError('TSU_ERR_WORKER_BOOT', describeError(err), { cause: err });
  const cause = tsu.cause instanceof Error ? tsu.cause : tsu;
  await send({ t: 'boot-error', exitCode: tsu.exitCode, code: tsu.code, message: tsu.message, stack: cause.stack });
  return exitWith(tsu.exitCode);
}

async function stop(graceful: boolean, code: number = ExitCode.OK): Promise<void> {
  if (stopping && graceful) return;
  stopping = true;
  if (!worker || !graceful) {
    worker?.destroy();
    await exitWith(code);
    return;
  }
  log?.info(`Worker exiting (pid: ${process.pid})`);
  const limit = setTimeout(() => {
    log?.warning(`Worker (pid: ${process.pid}) did not finish within the graceful timeout; closing its connections`);
    worker?.destroy();
    void exitWith(code);
  }, (settings?.gracefulTimeout ?? 30) * 1000);
  limit.unref();
  await worker.close();
  await exitWith(code);
}

function maybeStart(): void {
  if (!settings || !appReady || listenersReceived < listenersExpected || worker === null) return;
  const w = worker;
  appReady = appReady
    .then(() => w.start())
    .then(
      () => send({ t: 'ready' }),
      (err) => bootFailed(new TsuError('TSU_ERR_WORKER_BOOT', describeError(err), { cause: err })),
    );
  listenersExpected = Number.POSITIVE_INFINITY; // Start once.
}

const dispatch: Dispatch<ArbiterToWorker, [ServerHandle | undefined]> = {
  boot(msg) {
    settings = msg.settings;
    listenersExpected = msg.listenerCount;
    log = createLogger({ level: settings.logLevel });
    const parsed = parseAppSpec(settings.app ?? '');
    const specText = parsed.ok ? formatAppSpec(parsed.spec) : (settings.app ?? '');
    process.title = `tsunicorn: worker [${settings.name ?? specText}]`;
    log.info(`Booting worker with pid: ${process.pid}`);
    if (!parsed.ok) {
      void bootFailed(new TsuError('TSU_ERR_BAD_APP_SPEC', `invalid app ${JSON.stringify(settings.app)}: ${parsed.problem}`));
      return;
    }
    const s = settings;
    const l = log;
    let appError: (err: unknown, req: { method?: string; url?: string }) => void = () => {};
    appReady = loadApp(parsed.spec, s.interface, process.cwd(), (err, req) => appError(err, req)).then(
      (app) => {
        worker = new AsyncWorker({
          settings: s,
          log: l,
          app: app.listener,
          needSpare: (index) => void send({ t: 'need-spare', index }),
        });
        appError = (err, req) => l.exception(`Error handling request ${req.method} ${req.url}`, err);
        for (const [info, handle] of pendingHandles) worker.addHandle(info, handle);
        pendingHandles.length = 0;
        maybeStart();
      },
      (err) => bootFailed(err),
    );
  },
  listener(msg, handle) {
    if (!handle) return;
    if (!msg.spare) listenersReceived++;
    if (worker) worker.addHandle(msg.info, handle);
    else pendingHandles.push([msg.info, handle]);
    maybeStart();
  },
  stop(msg) {
    void stop(msg.graceful);
  },
};

const pendingHandles: [import('../protocol.js').ListenerInfo, ServerHandle][] = [];

process.on('message', (msg: unknown, handle: unknown) => {
  if (!isMessage<ArbiterToWorker>(msg, ARBITER_TO_WORKER_TYPES)) return;
  (dispatch[msg.t] as (m: ArbiterToWorker, h: ServerHandle | undefined) => void)(msg, handle as ServerHandle | undefined);
});

process.on('SIGTERM', () => void stop(true));
process.on('SIGINT', () => void stop(false));
process.on('SIGQUIT', () => void stop(false));
process.on('SIGHUP', () => {});

process.on('uncaughtException', (err) => {
  if (!settings || !worker) {
    void bootFailed(err);
    return;
  }
  log?.critical(`Uncaught exception in worker (pid: ${process.pid}): ${err instanceof Error ? err.stack : String(err)}`);
  // The process state is unknown: stop taking work, finish what is in flight, and be replaced.
  void stop(true, ExitCode.RUNTIME);
});

void send({ t: 'hello' });
