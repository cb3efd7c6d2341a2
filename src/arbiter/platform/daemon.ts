/**
 * `-D/--daemon`: detach from the terminal. Node cannot fork(2), so the
 * launcher starts itself again in a new session (setsid via `detached`) with
 * stdio away from the terminal, and exits 0 at once, as Gunicorn's daemonize
 * does. The daemon then binds and forks as usual; its errors go to
 * --error-logfile (stderr is /dev/null in a daemon).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { openLogFile } from '../../log/open-log.js';
import { selfCommand } from './self-command.js';

const MARK = 'TSUNICORN_DAEMONIZED';

export function isDaemonChild(env: NodeJS.ProcessEnv): boolean {
  return env[MARK] === '1';
}

/** Removes the daemon's marker: it is not inherited by workers, or by a daemon an app might start. */
export function removeDaemonMarker(env: NodeJS.ProcessEnv): void {
  delete env[MARK];
}

/** Starts the detached copy; returns its pid. */
export function daemonize(argv: readonly string[], env: NodeJS.ProcessEnv, errorLogfile: string | null): number {
  const err = errorLogfile && errorLogfile !== '-' ? openLogFile(errorLogfile) : 'ignore';
  const self = selfCommand(argv);
  const child = spawn(self.command, self.args, {
    detached: true,
    stdio: ['ignore', 'ignore', err],
    env: { ...env, [MARK]: '1' },
  });
  child.unref();
  if (typeof err === 'number') fs.closeSync(err);
  return child.pid ?? -1;
}
