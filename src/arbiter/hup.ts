/**
 * HUP as the loop applies it: re-read the config chain (reload.ts; a config that does not load changes
 * nothing), put the result in place, and start a new generation. Old workers retire as the new ones report
 * ready (pool/pool.ts converge). The loop takes no other event until this resolves, so signals and `ctl`
 * requests that arrive meanwhile are handled after it, in order.
 */
import { callHook } from '../config/hooks.js';
import { keepStartOnlySettings } from '../config/start-only.js';
import type { ArbiterContext } from './context.js';
import { applyUmask, handOverToWorkerUser } from './platform/privileges.js';
import { AutoWorkers } from './pool/auto-workers.js';
import { rereadConfig } from './reload.js';

export async function reload(a: ArbiterContext): Promise<void> {
  a.systemd.reloading();
  a.log.info('Hang up: Master');
  const next = await rereadConfig(a.input, { settings: a.settings, listeners: a.listeners }, a.systemd, a.log);
  if (!next) return;
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
