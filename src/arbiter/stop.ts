/**
 * How the arbiter stops: TERM (graceful, after --shutdown-delay), INT and QUIT (quick), a halt because
 * workers cannot boot, and what it closes once its last worker has gone.
 */
import { callHook } from '../config/hooks.js';
import { ExitCode } from '../errors.js';
import { type ArbiterContext, ArbiterState } from './context.js';
import { closeListeners } from './sockets/listeners.js';
import { stopDeadline } from './timeouts.js';

export function beginStop(a: ArbiterContext, graceful: boolean, code: number = ExitCode.OK): void {
  if (a.stopping) {
    // A second INT during a graceful stop makes it quick; anything else changes nothing.
    if (graceful || !a.stopGraceful) return;
  } else {
    a.exitCode = code;
  }
  // Handing over to a USR2 successor, or back to the predecessor, is not the service stopping.
  if (!a.stopping && !a.succession.handingOver()) a.systemd.stopping();
  const first = !a.stopping;
  a.state = ArbiterState.Stopping;
  a.stopGraceful = graceful;
  a.watcher?.close();
  if (first) for (const w of a.pool.values()) a.tellStopping(w.id);
  // Not when handing over to a USR2 successor: its workers serve on, and this master's should go now.
  const delay = a.settings.shutdownDelay;
  if (graceful && delay > 0 && !a.succession.handingOver()) {
    const health = a.settings.healthPath ? `; ${a.settings.healthPath} answers 503` : '';
    a.log.info(`Serving on for --shutdown-delay ${delay} s before stopping gracefully${health}`);
    a.shutdownDelay.begin(delay);
    return;
  }
  drain(a, graceful);
}

/** The stop proper: workers stop accepting and drain (graceful), or exit at once; killed at the deadline. */
export function drain(a: ArbiterContext, graceful = true): void {
  a.shutdownDelay.cancel();
  a.pool.stopAll(graceful, stopDeadline(a.settings, graceful));
}

/** Stops everything because workers cannot boot; exits with their code (Gunicorn's HaltServer). */
export function halt(a: ArbiterContext, code: number, reason: string): void {
  if (a.haltReason !== null) return;
  a.haltReason = reason;
  beginStop(a, false, code);
}

/** Every worker has gone: close what start() opened; resolves with the exit code. */
export async function finish(a: ArbiterContext): Promise<number> {
  // Socket files stay while a successor (USR2) or a predecessor (rollback) may still serve on them.
  closeListeners(a.listeners, !a.succession.sharesSockets());
  a.pidfile?.unlink();
  void a.control?.destroy();
  a.metrics?.close();
  await callHook(a.hooks, 'onExit', a.reportHook, a.serverInfo());
  await a.systemd.flush();
  a.log.info('Shutting down: Master');
  if (a.haltReason) a.log.info(`Reason: ${a.haltReason}`);
  return a.exitCode;
}
