/**
 * Running as PID 1, a container's entrypoint. PID 1 must reap the orphans reparented to it, and Node cannot: libuv
 * waits only for the children it spawned, and there is no waitpid(-1), exec(2) or SIG_IGN for SIGCHLD from JavaScript.
 * So when the launcher is PID 1 and tini is installed, it runs tsunicorn under `tini -s` (a child subreaper that
 * reaps every orphan below it) and stays only as a signal relay; TTIN and TTOU, which tini ignores, go to the master
 * directly. TSUNICORN_INIT=none keeps tsunicorn itself as PID 1 (the arbiter warns that orphans are not reaped);
 * TSUNICORN_INIT=/path/to/tini picks the init. See docs/deploy/docker.md.
 */ import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { findExecutable } from './find-executable.js';
import { selfCommand } from './self-command.js';

/** How the launcher chooses: `auto` (default), `none`, or a path to a tini binary. */
export const INIT_ENV = 'TSUNICORN_INIT';
/** Set by the relay for the tsunicorn it starts, so the arbiter can say how it runs. */
export const RELAY_ENV = 'TSUNICORN_INIT_RELAY';

export type InitChoice = { kind: 'init'; path: string } | { kind: 'in-process'; reason: string };

const OFF = new Set(['none', 'off', 'no', 'false', '0']);

/** What to do as PID 1. Pure but for the $PATH search, which can be replaced. */
export function chooseInit(
  env: NodeJS.ProcessEnv,
  find: (name: string, env: NodeJS.ProcessEnv) => string | null = findExecutable,
): InitChoice {
  const wanted = (env[INIT_ENV] ?? '').trim();
  if (OFF.has(wanted.toLowerCase())) return { kind: 'in-process', reason: `${INIT_ENV}=${wanted}` };
  const name = wanted === '' || wanted.toLowerCase() === 'auto' ? 'tini' : wanted;
  const found = find(name, env);
  if (found) return { kind: 'init', path: found };
  return {
    kind: 'in-process',
    reason: wanted && name !== 'tini' ? `${INIT_ENV}=${wanted} is not an executable` : 'tini is not installed',
  };
}

/** Signals the arbiter handles; the relay passes each on. */
const FORWARDED: readonly NodeJS.Signals[] = [
  'SIGTERM',
  'SIGINT',
  'SIGQUIT',
  'SIGHUP',
  'SIGUSR1',
  'SIGUSR2',
  'SIGWINCH',
  'SIGTTIN',
  'SIGTTOU',
];
/** tini ignores these (it makes its child the terminal's foreground group and must not be stopped by them). */
const PAST_TINI = new Set<NodeJS.Signals>(['SIGTTIN', 'SIGTTOU']);

function firstChild(pid: number): number | null {
  try {
    const first = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
    return first ? Number(first) : null;
  } catch {
    return null;
  }
}

/**
 * Called by the launcher when it is PID 1. Returns null to run tsunicorn in
 * this process, or a promise of the exit code when tsunicorn runs under an
 * init and this process is only its relay.
 */
export function runAsPid1(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> | null {
  const choice = chooseInit(env);
  if (choice.kind === 'in-process') return null;
  const self = selfCommand(argv);
  // -s: be a child subreaper, since tini is not PID 1 here; orphans below it are reparented to it.
  const child = spawn(choice.path, ['-s', '--', self.command, ...self.args], {
    stdio: 'inherit',
    env: { ...env, [RELAY_ENV]: choice.path },
  });
  process.title = 'tsunicorn: init relay';
  for (const sig of FORWARDED) {
    process.on(sig, () => {
      const target = child.pid === undefined ? null : PAST_TINI.has(sig) ? firstChild(child.pid) : child.pid;
      if (target === null) return;
      try {
        process.kill(target, sig);
      } catch {
        // Already gone: its exit ends the relay.
      }
    });
  }
  return new Promise((resolve) => {
    child.on('error', (err) => {
      process.stderr.write(`tsunicorn: error: cannot start ${choice.path} as init: ${err.message}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0)));
  });
}

/** Removes the relay's marker, which is meant for the one tsunicorn the relay starts. */
export function removeRelayMarker(env: NodeJS.ProcessEnv): void {
  delete env[RELAY_ENV];
}

/** The arbiter's startup note about PID 1: a warning when it is PID 1 itself, a line when it runs under the relay. */
export function pid1Note(
  env: NodeJS.ProcessEnv,
  pid = process.pid,
): { level: 'info' | 'warning'; text: string } | null {
  const init = env[RELAY_ENV];
  if (init) {
    return { level: 'info', text: `Started as PID 1: running under ${init}, which reaps orphaned processes` };
  }
  if (pid !== 1) return null;
  const choice = chooseInit(env);
  const why = choice.kind === 'in-process' ? choice.reason : 'no init';
  return {
    level: 'warning',
    text:
      `Running as PID 1 without an init (${why}): processes the app leaves behind are not reaped and stay zombies. ` +
      'Install tini, or use `docker run --init`; see docs/deploy/docker.md',
  };
}
