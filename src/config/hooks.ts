/**
 * Server hooks: functions in the config file, called at Gunicorn's points.
 * Arbiter hooks run in the arbiter; worker hooks run in each worker, which
 * loads the config file itself to get them (functions cannot cross IPC).
 * A hook that throws or rejects is logged with its name; it never stops the
 * arbiter or a worker.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TlsOptions } from 'node:tls';
import { awaitUserCode, callUserCode } from '../user-code.js';
import type { Settings } from './settings.js';

/** The arbiter, as hooks see it (Gunicorn's `server`). */
export interface ServerInfo {
  pid: number;
  settings: Readonly<Settings>;
  /** Current worker generation; a HUP starts a new one. */
  generation: number;
  /** Target number of workers. */
  workers: number;
}

/** A worker, as hooks see it. `pid` is 0 in preFork (not forked yet). */
export interface WorkerInfo {
  pid: number;
  generation: number;
}

export interface WorkerExitInfo extends WorkerInfo {
  code: number | null;
  signal: string | null;
}

export interface Hooks {
  /** Arbiter, before binding and forking. */
  onStarting?(server: ServerInfo): void | Promise<void>;
  /** Arbiter, on HUP, after the config was re-read, before the new generation is forked. */
  onReload?(server: ServerInfo): void | Promise<void>;
  /** Arbiter, once the first generation of workers is ready. */
  whenReady?(server: ServerInfo): void | Promise<void>;
  /** Arbiter, just before forking a worker. */
  preFork?(server: ServerInfo, worker: WorkerInfo): void;
  /** Worker, first thing after it starts (before the app loads). */
  postFork?(worker: WorkerInfo): void | Promise<void>;
  /** Worker, after the app loaded, before it listens: open per-worker resources here. */
  postWorkerInit?(worker: WorkerInfo): void | Promise<void>;
  /** Worker, on INT or QUIT (quick stop). */
  workerInt?(worker: WorkerInfo): void | Promise<void>;
  /** Arbiter (not the worker: its event loop is blocked), when a worker timed out; `stack` is its JS stack if read. */
  workerAbort?(server: ServerInfo, worker: WorkerInfo & { stack: string | null }): void;
  /** Arbiter, before re-executing itself on USR2. */
  preExec?(server: ServerInfo): void | Promise<void>;
  /** Worker, before each request is handed to the app. Synchronous. */
  preRequest?(worker: WorkerInfo, req: IncomingMessage): void;
  /** Worker, after each response finished or the connection closed. Synchronous. */
  postRequest?(worker: WorkerInfo, req: IncomingMessage, res: ServerResponse): void;
  /** Arbiter, after a worker exited. */
  childExit?(server: ServerInfo, worker: WorkerExitInfo): void;
  /** Worker, as it exits after a graceful stop: close per-worker resources here. */
  workerExit?(worker: WorkerInfo): void | Promise<void>;
  /** Arbiter, when the target worker count changed (TTIN, TTOU, HUP). */
  nworkersChanged?(server: ServerInfo, newValue: number, oldValue: number): void;
  /** Arbiter, just before it exits. */
  onExit?(server: ServerInfo): void | Promise<void>;
  /**
   * With --certfile: adjust the TLS server options (mutate them, or return new ones). Runs in the arbiter,
   * which checks the result before forking, and in each worker. A throw stops the start (exit 2).
   */
  sslContext?(settings: Readonly<Settings>, options: TlsOptions): TlsOptions | void | Promise<TlsOptions | void>;
}

export type HookName = keyof Hooks;

/** Where each hook runs, and its doc line (docs/hooks in settings.md are generated from this). */
export const HOOKS: Record<HookName, { side: 'arbiter' | 'worker'; doc: string }> = {
  onStarting: { side: 'arbiter', doc: 'Before binding and forking.' },
  onReload: { side: 'arbiter', doc: 'On HUP, after the config was re-read, before the new workers are forked.' },
  whenReady: { side: 'arbiter', doc: 'Once the first workers are all ready.' },
  preFork: { side: 'arbiter', doc: 'Just before each worker is forked.' },
  postFork: { side: 'worker', doc: 'First thing in a new worker, before the app loads.' },
  postWorkerInit: {
    side: 'worker',
    doc: 'After the app loaded, before the worker listens: open per-worker resources.',
  },
  workerInt: { side: 'worker', doc: 'When a worker gets INT or QUIT (quick stop).' },
  workerAbort: {
    side: 'arbiter',
    doc: 'When a worker timed out, with its JS stack if it could be read (runs in the arbiter: the worker is stuck).',
  },
  preExec: { side: 'arbiter', doc: 'Before the arbiter re-executes itself on USR2.' },
  preRequest: { side: 'worker', doc: 'Before each request reaches the app (synchronous).' },
  postRequest: { side: 'worker', doc: 'After each response (synchronous).' },
  childExit: { side: 'arbiter', doc: 'After a worker exited.' },
  workerExit: { side: 'worker', doc: 'As a worker exits after a graceful stop: close per-worker resources.' },
  nworkersChanged: { side: 'arbiter', doc: 'When the target number of workers changed.' },
  onExit: { side: 'arbiter', doc: 'Just before the arbiter exits.' },
  sslContext: {
    side: 'worker',
    doc:
      'With --certfile: adjust or replace the TLS server options `(settings, options)`; also run by the arbiter to ' +
      'check them before forking.',
  },
};

export const HOOK_NAMES = Object.keys(HOOKS) as HookName[];

export function isHookName(key: string): key is HookName {
  return Object.hasOwn(HOOKS, key);
}

export function hasWorkerHooks(hooks: Hooks): boolean {
  return HOOK_NAMES.some((n) => HOOKS[n].side === 'worker' && typeof hooks[n] === 'function');
}

type Reporter = (name: HookName, err: unknown) => void;

/** Calls a hook if set; a throw or rejection is reported, never propagated. Resolves when an async hook settles. */
export function callHook<N extends HookName>(
  hooks: Hooks,
  name: N,
  report: Reporter,
  ...args: Parameters<NonNullable<Hooks[N]>>
): Promise<void> {
  const fn = hooks[name] as ((...a: unknown[]) => unknown) | undefined;
  if (typeof fn !== 'function') return Promise.resolve();
  return awaitUserCode(fn, (err) => report(name, err), ...args);
}

/** For per-request and in-loop hooks: a returned promise is not awaited; its rejection is reported. */
export function callHookSync<N extends HookName>(
  hooks: Hooks,
  name: N,
  report: Reporter,
  ...args: Parameters<NonNullable<Hooks[N]>>
): void {
  const fn = hooks[name] as ((...a: unknown[]) => unknown) | undefined;
  if (typeof fn !== 'function') return;
  callUserCode(fn, (err) => report(name, err), ...(args as unknown[]));
}
