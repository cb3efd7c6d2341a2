/**
 * What the arbiter does for each signal, as Gunicorn's master does: one table, applied by the loop. Once
 * stopping, only TERM, INT, QUIT (a second INT makes a graceful stop quick) and USR1 still act.
 */
import type { ArbiterContext } from './context.js';
import type { ArbiterSignal } from './event-queue.js';
import { beginReload } from './hup.js';
import { sendToWorker } from './pool/worker-record.js';
import { beginStop } from './stop.js';
import { upgrade } from './usr2.js';

type SignalAction = (a: ArbiterContext) => void | Promise<void>;

const SIGNAL_ACTIONS: Record<ArbiterSignal, SignalAction> = {
  SIGHUP: (a) => (a.stopping ? undefined : beginReload(a)),
  SIGTERM: (a) => beginStop(a, true),
  SIGINT: (a) => beginStop(a, false),
  SIGQUIT: (a) => beginStop(a, false),
  SIGTTIN: (a) => {
    if (!a.stopping) a.setTarget(a.pool.target + 1);
  },
  SIGTTOU: (a) => {
    if (!a.stopping) a.setTarget(Math.max(1, a.pool.target - 1));
  },
  SIGUSR1: (a) => {
    a.log.reopen();
    for (const w of a.pool.values()) sendToWorker(w, { t: 'reopen-logs' });
  },
  SIGUSR2: (a) => (a.stopping ? undefined : upgrade(a)),
  SIGWINCH: (a) => {
    if (a.stopping) return;
    a.log.info('Stopping all workers gracefully (WINCH); HUP starts them again');
    a.pool.winched = true;
  },
};

export function onSignal(a: ArbiterContext, signal: ArbiterSignal): void | Promise<void> {
  a.log.info(`Handling signal: ${signal.slice(3).toLowerCase()}`);
  return SIGNAL_ACTIONS[signal](a);
}
