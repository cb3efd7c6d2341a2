/**
 * systemd socket activation (sd_listen_fds(3)). systemd, or `systemd-socket-activate`, binds and listens, then
 * starts us with the sockets as fds 3, 4, … and LISTEN_FDS=N, LISTEN_PID=<our pid>. They are ours only when
 * LISTEN_PID is this process; we never rebind them. Their addresses come from /proc (the fd's socket inode, looked up
 * in /proc/net/{tcp,tcp6,unix}), so a TCP and a unix socket both map to an address without a second handle on the fd.
 *
 * Mapping onto --bind:
 *   - --bind not given (its default): serve exactly the activated sockets;
 *   - --bind given: a bind whose address matches an activated socket (same port and host, 0.0.0.0 and :: counting as
 *     the same wildcard; same unix path; fd://N for fd N) takes that socket; a bind that matches none is bound as
 *     usual; an activated socket that matches no bind is served too, with a warning (systemd queues connections on it
 *     for us either way).
 *
 * A USR2 successor gets the sockets through TSUNICORN_FD like any other, and TSUNICORN_ACTIVATED (their bind strings)
 * tells it which of them systemd owns: those are served without a --bind, and their socket files are never removed
 * (systemd keeps listening on them across restarts).
 */
import { lookup } from 'node:dns/promises';
import fs from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { type BindAddress, bindText, parseBind } from '../../config/bind-address.js';
import { type InheritedSocket, inheritedSockets } from '../handoff/inherited-sockets.js';
import { socketInode, tcpSocketAddress, unixSocketPath } from './proc-net.js';

/** SD_LISTEN_FDS_START */
const LISTEN_FDS_START = 3;
/** The bind strings of the sockets systemd passed, for USR2 successors. */
const ACTIVATED_ENV = 'TSUNICORN_ACTIVATED';

export interface ActivatedSocket extends InheritedSocket {
  /** The address as a --bind value: `HOST:PORT`, `[V6]:PORT`, `unix:PATH`, `fd://N`. */
  bind: string;
  /** From LISTEN_FDNAMES (FileDescriptorName= in the socket unit). */
  name: string | null;
}

function readProc(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** What fd N is, from /proc; `fd://N` when it cannot be told (then it is still served, shown by number). */
export function describeFd(fd: number): BindAddress {
  let inode: number | null = null;
  try {
    inode = socketInode(fs.readlinkSync(`/proc/self/fd/${fd}`));
  } catch {
    // Not open, or no /proc.
  }
  if (inode === null) return { kind: 'fd', fd };
  for (const family of [4, 6] as const) {
    const tcp = tcpSocketAddress(readProc(family === 4 ? '/proc/net/tcp' : '/proc/net/tcp6'), inode, family);
    if (tcp) return { kind: 'tcp', host: tcp.host, port: tcp.port, family };
  }
  const unix = unixSocketPath(readProc('/proc/net/unix'), inode);
  return unix ? { kind: 'unix', path: unix } : { kind: 'fd', fd };
}

/** The sockets systemd passed to this process (sd_listen_fds), described. Reads `env` only. */
export function listenFds(
  env: NodeJS.ProcessEnv,
  pid: number,
  describe: (fd: number) => BindAddress = describeFd,
): ActivatedSocket[] {
  const { LISTEN_FDS: count, LISTEN_PID: owner, LISTEN_FDNAMES: names } = env;
  if (!count || !/^\d+$/.test(count) || !owner || Number(owner) !== pid) return [];
  const nameList = (names ?? '').split(':');
  return Array.from({ length: Number(count) }, (_, i) => {
    const fd = LISTEN_FDS_START + i;
    const address = describe(fd);
    return { fd, address, bind: bindText(address), name: nameList[i] || null };
  });
}

/** Removes LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES: workers and USR2 successors must not take them for their own. */
export function removeListenFdsEnv(env: NodeJS.ProcessEnv): void {
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
}

/** In a USR2 successor: the inherited sockets (TSUNICORN_FD) that its predecessor named in TSUNICORN_ACTIVATED. */
export function inheritedActivated(env: NodeJS.ProcessEnv): ActivatedSocket[] {
  let binds: string[] = [];
  try {
    const parsed: unknown = JSON.parse(env[ACTIVATED_ENV] ?? '[]');
    if (Array.isArray(parsed)) binds = parsed.filter((b): b is string => typeof b === 'string');
  } catch {
    // Malformed: nothing activated.
  }
  return inheritedSockets(env).flatMap((s) => {
    const bind = bindText(s.address);
    return binds.includes(bind) ? [{ ...s, bind, name: null }] : [];
  });
}

/** Sets TSUNICORN_ACTIVATED to what systemd owns, or removes it when nothing: what a USR2 successor will read. */
export function setActivatedEnv(env: NodeJS.ProcessEnv, activated: readonly ActivatedSocket[]): void {
  if (activated.length) env[ACTIVATED_ENV] = JSON.stringify(activated.map((a) => a.bind));
  else delete env[ACTIVATED_ENV];
}

const WILDCARDS = new Set(['0.0.0.0', '::']);

async function sameHost(bind: string, had: string): Promise<boolean> {
  if (bind === had || (WILDCARDS.has(bind) && WILDCARDS.has(had))) return true;
  if (isIP(bind)) return false;
  try {
    // `localhost` may resolve to ::1 first and 127.0.0.1 second: any of its addresses will do.
    return (await lookup(bind, { all: true })).some((a) => a.address === had);
  } catch {
    return false;
  }
}

/** Whether a --bind value names an activated socket's address. */
async function bindMatches(bind: BindAddress, had: BindAddress, fd: number): Promise<boolean> {
  switch (bind.kind) {
    case 'fd':
      return bind.fd === fd;
    case 'unix':
      return had.kind === 'unix' && path.resolve(bind.path) === had.path;
    case 'tcp':
      return had.kind === 'tcp' && bind.port !== 0 && bind.port === had.port && (await sameHost(bind.host, had.host));
  }
}

/**
 * The binds to open when these sockets were activated: see the file comment.
 * `explicit` is whether --bind was given (it differs from its default).
 * Returns the binds, activated ones as their `bind` strings, and warnings.
 */
export async function activatedBinds(
  binds: readonly string[],
  explicit: boolean,
  activated: readonly ActivatedSocket[],
): Promise<{ binds: string[]; warnings: string[] }> {
  if (!activated.length) return { binds: [...binds], warnings: [] };
  if (!explicit) return { binds: activated.map((a) => a.bind), warnings: [] };
  const unused = [...activated];
  const out: string[] = [];
  for (const raw of binds) {
    const parsed = parseBind(raw);
    let match = -1;
    if (parsed.ok) {
      for (let i = 0; i < unused.length && match < 0; i++)
        if (await bindMatches(parsed.address, unused[i]!.address, unused[i]!.fd)) match = i;
    }
    out.push(match >= 0 ? unused.splice(match, 1)[0]!.bind : raw);
  }
  const warnings = unused.map(
    (a) => `Socket from systemd (fd ${a.fd}, ${a.bind}) matches no --bind; serving on it as well`,
  );
  return { binds: [...out, ...unused.map((a) => a.bind)], warnings };
}
