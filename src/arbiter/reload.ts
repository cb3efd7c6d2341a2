/**
 * HUP, the part that can fail: re-read the whole config chain (defaults, config file, TSUNICORN_CMD_ARGS,
 * command line), the certificates and the user, and open any new --bind addresses. Nothing the arbiter runs
 * on is touched until all of it succeeded, so a config that does not load changes nothing and the running
 * generation keeps serving. Applying the result: hup.ts. Also --reload, which queues the same HUP.
 */
import path from 'node:path';
import process from 'node:process';
import { parseBind } from '../config/bind-address.js';
import { type ResolvedConfig, resolveConfig } from '../config/resolve.js';
import type { Settings } from '../config/settings.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { type TlsMaterial, checkTls } from './sockets/tls.js';
import type { EventQueue } from './event-queue.js';
import { type Watcher, watchFiles } from './file-watcher.js';
import { type Listener, closeListeners, openListeners } from './sockets/listeners.js';
import { type Identity, resolveIdentity } from './platform/privileges.js';
import type { Systemd } from './platform/systemd.js';
import { withoutUpgradeEnv } from './handoff/inherited-sockets.js';

/** How the arbiter was started: what the config chain is re-read from. */
export interface ConfigSource {
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** A re-read configuration, ready to apply. */
export interface Reloaded {
  config: ResolvedConfig;
  tls: TlsMaterial | null;
  identity: Identity | null;
  /** The listeners to run on: the current ones, unless --bind changed. */
  listeners: Listener[];
}

/** Re-reads everything a HUP re-reads. Null, with the cause logged, when any of it fails. */
export async function rereadConfig(
  source: ConfigSource,
  current: { settings: Settings; listeners: Listener[] },
  systemd: Systemd,
  log: Logger,
): Promise<Reloaded | null> {
  let next: ResolvedConfig;
  let tls: TlsMaterial | null;
  let identity: Identity | null;
  try {
    next = await resolveConfig({ argv: source.argv, env: withoutUpgradeEnv(source.env), cwd: source.cwd });
    // Certificates are re-read: a HUP is how a renewed one is picked up.
    identity = resolveIdentity(next.settings);
    tls = await checkTls(next.settings, next.hooks);
    next.settings.bind = await systemd.binds(next.settings.bind, source.env, log);
  } catch (err) {
    log.error(`Reload failed, keeping the running configuration: ${describeError(err)}`);
    return null;
  }
  let listeners = current.listeners;
  if (next.settings.bind.join('\n') !== current.settings.bind.join('\n')) {
    try {
      listeners = await rebind(current.settings.bind, current.listeners, next.settings, tls ? 'https' : 'http', log);
    } catch (err) {
      log.error(`Reload failed, keeping the running configuration: ${describeError(err)}`);
      return null;
    }
  }
  return { config: next, tls, identity, listeners };
}

/** A HUP changed --bind: keep listeners whose address is unchanged, open new ones, close the rest. */
async function rebind(
  binds: readonly string[],
  listeners: readonly Listener[],
  next: Settings,
  scheme: 'http' | 'https',
  log: Logger,
): Promise<Listener[]> {
  const keep = new Map(binds.map((b, i) => [b, listeners[i]!]));
  const fresh = next.bind.filter((b) => !keep.has(b));
  const opened = await openListeners(fresh, next.backlog, [], scheme, next.reusePort);
  const result = next.bind.map((b, index) => {
    const l = keep.get(b) ?? opened[fresh.indexOf(b)]!;
    keep.delete(b);
    return { ...l, info: { ...l.info, index } };
  });
  // Old workers hold their own copies of removed sockets until they retire.
  closeListeners([...keep.values()]);
  for (const l of opened) log.info(`Listening at: ${l.info.display} (${process.pid})`);
  return result;
}

/** Files the server itself writes, as absolute paths: a change to them is not a code change. */
function serverOutputs(settings: Settings): string[] {
  const files = [
    settings.accessLogfile,
    settings.errorLogfile,
    settings.pid,
    typeof settings.controlSocket === 'string' ? settings.controlSocket : null,
  ];
  for (const b of settings.bind) {
    const parsed = parseBind(b);
    if (parsed.ok && parsed.address.kind === 'unix') files.push(parsed.address.path);
  }
  return files.filter((f): f is string => !!f && f !== '-').map((f) => path.resolve(f));
}

/** --reload: a change under the working directory (or a --reload-extra-file) queues a reload, as a HUP would. */
export function watchForReload(settings: Settings, queue: EventQueue, log: Logger): Watcher {
  // The app's own files are under the working directory (after --chdir) in all but exotic set-ups;
  // anything else can be added with --reload-extra-file.
  const paths = [process.cwd(), ...settings.reloadExtraFile];
  const watcher = watchFiles(
    paths,
    (file) => queue.push({ kind: 'files-changed', file }),
    (err) => log.warning(`--reload: cannot watch: ${describeError(err)}`),
    serverOutputs(settings),
  );
  log.info(`Watching ${paths.join(', ')} for changes (--reload)`);
  return watcher;
}
