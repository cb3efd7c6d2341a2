/**
 * USR2 as the loop applies it: start a new master on the same sockets (handoff/succession.ts), and, in that
 * new master, take the real pidfile and control socket names once its predecessor has gone.
 */
import { callHook } from '../config/hooks.js';
import type { ArbiterContext } from './context.js';

export async function upgrade(a: ArbiterContext): Promise<void> {
  const refusal = a.succession.refusal();
  if (refusal) {
    a.log.warning(`USR2 ignored: ${refusal}`);
    return;
  }
  await callHook(a.hooks, 'preExec', a.reportHook, a.serverInfo());
  const { argv, env, cwd } = a.input;
  a.succession.start(argv, env, cwd, a.listeners, a.queue, a.log);
}

/** After a USR2 upgrade, the new master takes the real names once its predecessor has gone. */
export function maybePromote(a: ArbiterContext): void {
  if (!a.succession.promote()) return;
  a.log.info('Master has been promoted.');
  if (a.pidfile && a.settings.pid) a.pidfile = a.pidfile.rename(a.settings.pid);
  if (a.control && a.controlPath) a.control.rename(a.controlPath, a.log);
  a.metrics?.promoted();
}
