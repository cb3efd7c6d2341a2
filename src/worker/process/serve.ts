/**
 * The second half of a worker's boot: load the app, then make the server that serves it, with the request
 * chain (http/request-chain.ts) and the reports a worker sends the arbiter about its requests.
 */
import type { IncomingMessage } from 'node:http';
import { type AppSpec, formatAppSpec, parseAppSpec } from '../../config/app-spec.js';
import { type HookName, callHook } from '../../config/hooks.js';
import type { Settings } from '../../config/settings.js';
import { ExitCode } from '../../errors.js';
import type { ArbiterToWorker } from '../../protocol.js';
import { serverTlsOptions } from '../../arbiter/sockets/tls.js';
import { type ShutdownHandler, upgradeListener } from '../app/app-extras.js';
import { loadApp } from '../app/app-loader.js';
import { addTsunicornAccessorToIncomingMessage, configureForwarding } from '../http/forwarded.js';
import { HttpWorker } from '../http/http-worker.js';
import { composeApp } from '../http/request-chain.js';
import type { RequestSink } from '../http/request-observer.js';
import { sendToArbiter } from './ipc.js';
import { busyTitle, targetPath } from './process-title.js';
import type { Booted } from './worker-process.js';

/** The worker's idle process title, and the parsed app spec (null with the problem when it does not parse). */
export function appTitle(
  settings: Settings,
): { idle: string } & ({ spec: AppSpec; problem?: undefined } | { spec: null; problem: string }) {
  const parsed = parseAppSpec(settings.app ?? '');
  const idle = `tsunicorn: worker [${settings.name ?? (parsed.ok ? formatAppSpec(parsed.spec) : settings.app)}]`;
  return parsed.ok ? { idle, spec: parsed.spec } : { idle, spec: null, problem: parsed.problem };
}

export interface ServeContext {
  reportHook(name: HookName, err: unknown): void;
  idleTitle: string;
  /** Opens the access log and gathers the request sinks; called once the app has loaded. */
  openSinks(): RequestSink[];
  /** Stops the worker (graceful or not) with an exit code. */
  stop(graceful: boolean, code?: number): void;
}

export async function loadAndServe(
  msg: Extract<ArbiterToWorker, { t: 'boot' }>,
  spec: AppSpec,
  booted: Booted,
  ctx: ServeContext,
): Promise<{ server: HttpWorker; shutdown: ShutdownHandler | undefined }> {
  const { settings, log, hooks, info } = booted;
  const app = await loadApp(
    spec,
    settings.interface,
    process.cwd(),
    (err, req) => log.exception(`Error handling request ${req.method} ${req.url}`, err),
    settings.fetchFastResponse,
  );
  const ts = app.typescript;
  if (ts) log.debug(`Loaded ${app.file} with ${ts.by === 'node' ? "Node's type stripping" : `tsx (${ts.reason})`}`);
  await callHook(hooks, 'postWorkerInit', ctx.reportHook, info);
  const maxRequests =
    settings.maxRequests > 0 ? settings.maxRequests + Math.floor(Math.random() * (settings.maxRequestsJitter + 1)) : 0;
  const sinks = ctx.openSinks();
  const path = (req: IncomingMessage) => targetPath(req.url ?? '/');
  configureForwarding(settings);
  // `req.tsunicorn` is worked out when first read: looking up the peer costs a syscall per connection that an
  // app without an access log would pay for nothing (forwarded.ts). For this worker's lifetime.
  addTsunicornAccessorToIncomingMessage();
  // The PEM text the arbiter read and checked; the sslContext hook (if any) adjusts the options here too.
  const tls = msg.tls ? await serverTlsOptions(settings, msg.tls, hooks) : null;
  const idleTitle = ctx.idleTitle;
  const server = new HttpWorker({
    settings,
    log,
    tls,
    app: composeApp(app.listener, { hooks, info, reportHook: ctx.reportHook, sinks }),
    ...(app.upgrade ? { upgrade: upgradeListener(app.upgrade, log) } : {}),
    maxRequests,
    needSpare: (index, count) => void sendToArbiter({ t: 'need-spare', index, count }),
    // The arbiter replaces a worker that exits with an error; the others serve meanwhile.
    onListenError: () => ctx.stop(true, ExitCode.RUNTIME),
    onMaxRequests: () => {
      log.info(`Autorestarting worker after current request (${maxRequests} requests served).`);
      void sendToArbiter({ t: 'retiring', reason: 'max-requests' });
      ctx.stop(true);
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
      void sendToArbiter({ t: 'request-timeout', method: req.method ?? 'GET', path: path(req) }).then(() =>
        ctx.stop(false, ExitCode.RUNTIME),
      );
    },
  });
  return { server, shutdown: app.shutdown };
}
