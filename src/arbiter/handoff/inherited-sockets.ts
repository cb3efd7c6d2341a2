/**
 * USR2 binary upgrade, Gunicorn's way. The old master spawns a new master
 * (same argv, same Node flags, the code now on disk) and hands it the
 * listening sockets as inherited file descriptors:
 *
 *   TSUNICORN_FD         3,4,…   the fds, in the new master's numbering
 *   TSUNICORN_LISTENERS  JSON    what each fd is (BindAddress), same order
 *   TSUNICORN_PID        N       the old master's pid
 *
 * The new master reuses each inherited socket whose address matches one of
 * its binds (never rebinding, so no connection is refused in between), writes
 * its pidfile as `<pidfile>.2`, and takes the real name once the old master
 * has exited ("Master has been promoted").
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { BindAddress } from '../../config/bind-address.js';
import { selfCommand } from '../platform/self-command.js';
import type { Listener } from '../sockets/listeners.js';

export interface InheritedSocket {
  fd: number;
  address: BindAddress;
}

const FIRST_FD = 3;

/** Sockets passed down by an old master, or an empty list. Malformed values are ignored (started by hand). */
export function inheritedSockets(env: NodeJS.ProcessEnv): InheritedSocket[] {
  const fds = (env.TSUNICORN_FD ?? '').split(',').filter(Boolean).map(Number);
  if (!fds.length || fds.some((fd) => !Number.isInteger(fd) || fd < 0)) return [];
  let addresses: BindAddress[] = [];
  try {
    addresses = JSON.parse(env.TSUNICORN_LISTENERS ?? '[]') as BindAddress[];
  } catch {
    return [];
  }
  return fds.map((fd, i) => ({ fd, address: addresses[i] ?? { kind: 'fd', fd } }));
}

/** The old master's pid when this master was started by a USR2 upgrade. */
export function oldMasterPid(env: NodeJS.ProcessEnv): number | null {
  const pid = Number(env.TSUNICORN_PID);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** The environment a started master should pass to its own children and successors: without the upgrade variables. */
export function withoutUpgradeEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { TSUNICORN_FD: _fd, TSUNICORN_LISTENERS: _l, TSUNICORN_PID: _p, ...rest } = env;
  return rest;
}

/** Spawns the new master with the listeners' fds. Its stdio is the old master's. */
export function spawnNewMaster(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  listeners: readonly Listener[],
): ChildProcess {
  const fds = listeners.map((l) => l.handle.fd);
  const self = selfCommand(argv);
  return spawn(self.command, self.args, {
    cwd,
    env: {
      ...withoutUpgradeEnv(env),
      TSUNICORN_FD: fds.map((_, i) => FIRST_FD + i).join(','),
      TSUNICORN_LISTENERS: JSON.stringify(listeners.map((l) => l.info.address)),
      TSUNICORN_PID: String(process.pid),
    },
    stdio: ['inherit', 'inherit', 'inherit', ...fds],
  });
}
