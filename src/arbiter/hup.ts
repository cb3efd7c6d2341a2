/**
 * HUP as the loop applies it. The config chain is re-read off the loop (reload.ts), so the loop keeps
 * watching workers and answering `ctl status` meanwhile (state Reloading); signals and commands that arrive
 * meanwhile are held and handled after the result is applied, in order, except a stop, which goes first.
 * A config that does not load changes nothing; one that does is put in place and starts a new generation,
 * whose workers replace the old ones as they report ready (pool/pool.ts converge).
 */
import { callHook } from '../config/hooks.js';
import { keepStartOnlySettings } from '../config/start-only.js';
import { type ArbiterContext, ArbiterState } from './context.js';
import type { ArbiterEvent, ArbiterSignal } from './event-queue.js';
import { applyUmask, handOverToWorkerUser } from './platform/privileges.js';
import { AutoWorkers } from './pool/auto-workers.js';
import { type Reloaded, rereadConfig } from './reload.js';

/** Starts a reload; `done` is told the generation it started, or null. The result comes back as 'reloaded'. */
export function beginReload(a: ArbiterContext, done: ((generation: number | null) => void) | null = null): void {
  a.state = ArbiterState.Reloading;
  a.reloadDone = done;
  a.systemd.reloading();
  a.log.info('Hang up: Master');
  const current = { settings: a.settings, listeners: a.listeners };
  rereadConfig(a.input, current, a.systemd, a.log).then(
    (next) => a.queue.push({ kind: 'reloaded', next }),
    (err: unknown) => {
      a.logBug(err);
      a.queue.push({ kind: 'reloaded', next: null });
    },
  );
}

/**
 * While Reloading, what must wait for the reload: signals, --reload changes and commands that change things.
 * A stop never waits: a config whose import hangs must not make TERM hang too; the re-read is then dropped.
 */
export function waitsForReload(event: ArbiterEvent): boolean {
  if (event.kind === 'signal') return !STOP_SIGNALS.has(event.signal);
  if (event.kind === 'files-changed') return true;
  if (event.kind !== 'control') return false;
  const cmd = event.request.cmd;
  return cmd !== 'status' && cmd !== 'config' && cmd !== 'listeners' && cmd !== 'stack' && cmd !== 'stop';
}

const STOP_SIGNALS: ReadonlySet<ArbiterSignal> = new Set(['SIGTERM', 'SIGINT', 'SIGQUIT']);

/** The re-read is done: apply it (unless the arbiter halted meanwhile), then release what was held. */
export async function applyReload(a: ArbiterContext, next: Reloaded | null): Promise<void> {
  const done = a.reloadDone;
  a.reloadDone = null;
  const generation = a.pool.generation;
  try {
    if (a.state !== ArbiterState.Reloading) {
      // Stopping (workers could not boot): keep only the listeners, which the re-read may have changed.
      if (next) a.listeners = next.listeners;
      if (next) a.log.warning('Reload not applied: the arbiter is stopping');
      return;
    }
    if (next) await apply(a, next);
  } finally {
    if (a.state === ArbiterState.Reloading) a.state = ArbiterState.Running;
    done?.(a.pool.generation > generation ? a.pool.generation : null);
    a.queue.requeue(a.held.splice(0));
  }
}

async function apply(a: ArbiterContext, next: Reloaded): Promise<void> {
  a.listeners = next.listeners;
  const before = a.settings;
  const settings = next.config.settings;
  keepStartOnlySettings(before, settings, a.log);
  a.config = next.config;
  a.tls = next.tls;
  a.identity = next.identity;
  applyUmask(settings);
  handOverToWorkerUser(next.identity, settings, a.socketPaths());
  a.log.setLevel(settings.logLevel);
  if (settings.workers === 'auto') {
    a.setTarget(a.auto?.reread(settings) ?? (a.auto = new AutoWorkers(settings, a.log)).target);
  } else if (settings.workers !== before.workers || a.pool.winched) a.setTarget(settings.workers);
  a.pool.startGeneration(settings);
  await callHook(a.hooks, 'onReload', a.reportHook, a.serverInfo());
}
