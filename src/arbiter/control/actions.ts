/**
 * What `tsunicorn ctl` drives (commands.ts decides what each command does with these): the same steps the
 * signals take, lent by the arbiter's context.
 */
import type { ArbiterContext } from '../context.js';
import { beginReload } from '../hup.js';
import { now } from '../pool/worker-record.js';
import { beginStop } from '../stop.js';
import type { ControlActions } from './commands.js';

export function controlActions(a: ArbiterContext): ControlActions {
  return {
    status: () => ({
      name: a.specText,
      state: a.state,
      generation: a.pool.generation,
      target: a.pool.effectiveTarget,
      restarts: a.pool.restarts,
      workers: a.pool.values(),
      ...(a.pool.canary ? { canary: a.pool.canary.status(now()) } : {}),
    }),
    isStopping: () => a.stopping,
    reload: (done) => beginReload(a, done),
    scale: (workers) => {
      const previous = a.pool.target;
      a.setTarget(workers);
      return { previous, winched: a.pool.winched };
    },
    stop: (graceful) => beginStop(a, graceful),
    settings: () => a.settings,
    listeners: () => a.listeners,
    retire: (w) => a.pool.retireOne(w, a.settings),
    later: (request) => a.queue.push({ kind: 'control', request, reply: () => {} }),
  };
}
