/**
 * The arbiter's start, before its loop takes the first event: check what can be checked before binding,
 * bind, write the pidfile, then install what feeds the loop (signals, worker events, --reload, the control
 * socket). A failure before the listeners are bound leaves nothing open.
 */
import process from 'node:process';
import { controlSocketPath } from '../config/control-path.js';
import { callHook } from '../config/hooks.js';
import { ArbiterMetrics } from '../metrics/arbiter-metrics.js';
import { VERSION } from '../version.js';
import type { ArbiterContext } from './context.js';
import { ControlServer } from './control/server.js';
import { Diagnostics, checkDiagnosticsDir } from './diagnostics/diagnostics-dir.js';
import { inheritedSockets } from './handoff/inherited-sockets.js';
import { pid1Note, removeRelayMarker } from './platform/pid1.js';
import { Pidfile } from './platform/pidfile.js';
import { applyUmask, handOverToWorkerUser, resolveIdentity } from './platform/privileges.js';
import { AutoWorkers } from './pool/auto-workers.js';
import { watchForReload } from './reload.js';
import { checkTls } from './sockets/tls.js';
import { closeListeners, openListeners } from './sockets/listeners.js';

/** Binds and opens everything the arbiter serves with; the loop may run once this resolves. */
export async function start(a: ArbiterContext): Promise<void> {
  const { log, settings } = a;
  log.info(`Starting tsunicorn ${VERSION}`);
  await callHook(a.hooks, 'onStarting', a.reportHook, a.serverInfo());
  // Before binding: a bad certificate or user is a usage error (exit 2) with nothing opened yet.
  a.identity = resolveIdentity(settings);
  a.tls = await checkTls(settings, a.hooks);
  if (settings.diagnosticsDir) {
    a.diagnostics = new Diagnostics(checkDiagnosticsDir(settings.diagnosticsDir), settings.diagnosticsKeep, log);
  }
  applyUmask(settings);
  settings.bind = await a.systemd.binds(settings.bind, a.input.env, log);
  const inherited = [...inheritedSockets(a.input.env), ...a.systemd.fromListenFds];
  const scheme = a.tls ? 'https' : 'http';
  a.listeners = await openListeners(settings.bind, settings.backlog, inherited, scheme, settings.reusePort);
  a.systemd.adopted(a.listeners, log);
  try {
    // Before the pidfile: a pidfile means everything is bound, and nothing awaits between it and the title.
    a.metrics = await ArbiterMetrics.start(settings, log, a.succession.isSuccessor);
    if (settings.pid) {
      a.pidfile = new Pidfile(a.succession.provisional(settings.pid));
      a.pidfile.create();
    }
  } catch (err) {
    closeListeners(a.listeners, !a.succession.isSuccessor);
    a.metrics?.close();
    throw err;
  }
  for (const l of a.listeners) log.info(`Listening at: ${l.info.display} (${process.pid})`);
  for (const l of a.listeners) {
    const how = l.boundWith === 'bound-socket' ? 'net.BoundSocket' : 'a probe listen';
    if (l.boundWith) log.debug(`Bound ${l.info.display} with ${how}`);
  }
  log.info(`Using worker: ${settings.workerClass}`);
  if (settings.workers === 'auto') {
    a.auto = new AutoWorkers(settings, log);
    a.pool.target = a.auto.target;
  }
  const note = pid1Note(a.input.env);
  if (note) log[note.level](note.text);
  // Workers and USR2 successors are not started by the init relay.
  removeRelayMarker(a.input.env);

  process.title = `tsunicorn: master [${a.specText}]`;
  handOverToWorkerUser(a.identity, settings, a.socketPaths());
  a.queue.listen();
  if (settings.reload) a.watcher = watchForReload(settings, a.queue, log);
  // Last resort: a bug in a callback outside the loop must not take the arbiter, and so every worker, down.
  process.on('uncaughtException', (err) => a.logBug(err));
  process.on('unhandledRejection', (err) => a.logBug(err));
  await openControlSocket(a);
}

async function openControlSocket(a: ArbiterContext): Promise<void> {
  a.controlPath = controlSocketPath(a.settings, a.input.cwd, a.input.env);
  if (!a.controlPath) return;
  // A USR2 successor uses PATH.2 until promoted, as with the pidfile.
  const path = a.succession.provisional(a.controlPath);
  a.control = await ControlServer.listen(
    path,
    (request, reply) => a.queue.push({ kind: 'control', request, reply }),
    a.log,
  );
  if (a.control) a.log.info(`Control socket at: ${path}`);
}
