/**
 * The arbiter's listening sockets. The arbiter binds every listener before
 * the first fork and owns it for its whole life, but never listens on it:
 * a listening master would accept connections itself and strand them. Each
 * worker receives a copy of the bound handle and listens on that; the kernel
 * hands each connection to whichever worker accepts it, and connections that
 * arrive while no worker is alive wait in the backlog.
 */
import { lookup } from 'node:dns/promises';
import fs from 'node:fs';
import path from 'node:path';
import { type BindAddress, formatBind, parseBind } from '../../config/bind-address.js';
import { TsuError } from '../../errors.js';
import {
  type ServerHandle,
  bindTcp,
  createServerHandle,
  errnoName,
  reusePortUnsupported,
  setInheritedNoDelay,
  tcpBindMethod,
} from '../../node-compat.js';
import type { ListenerInfo } from '../../protocol.js';
import type { InheritedSocket } from '../handoff/inherited-sockets.js';
import { unixSocketAnswers } from './unix-probe.js';

export interface Listener {
  info: ListenerInfo;
  handle: ServerHandle;
  /** A unix socket file this arbiter must remove at exit (unless a successor or predecessor still uses it). */
  socketPath: string | null;
  /** Received from an old master on USR2 rather than bound here. */
  inherited: boolean;
  /** How a TCP listener was bound here (node-compat's bindTcp), for the debug log; null otherwise. */
  boundWith: 'bound-socket' | 'probe' | null;
}

type Opened = Omit<Listener, 'info' | 'inherited' | 'boundWith'> & {
  resolved: BindAddress;
  boundWith?: Listener['boundWith'];
};

const bindError = (display: string, reason: string) =>
  new TsuError('TSU_ERR_BIND', `cannot bind ${display}: ${reason}`);

function describeErrno(err: number): string {
  const name = errnoName(err);
  const words: Record<string, string> = {
    EADDRINUSE: 'address already in use',
    EACCES: 'permission denied',
    EADDRNOTAVAIL: 'address not available on this host',
    EINVAL: 'invalid address or not a listening socket',
    EBADF: 'bad file descriptor',
    ENOENT: 'no such directory',
  };
  return words[name] ? `${words[name]} (${name})` : name;
}

async function openTcp(
  address: Extract<BindAddress, { kind: 'tcp' }>,
  backlog: number,
  reusePort: boolean,
): Promise<Opened> {
  const shown = formatBind(address);
  let host = address.host;
  let family = address.family;
  if (family === 0) {
    try {
      const found = await lookup(host);
      host = found.address;
      family = found.family as 4 | 6;
    } catch {
      throw bindError(shown, `cannot resolve host ${JSON.stringify(address.host)}`);
    }
  }
  const handle = bindTcp(host, address.port, family as 4 | 6, backlog, reusePort);
  if (typeof handle === 'number') throw bindError(shown, describeErrno(handle));
  const out: { address?: string; port?: number } = {};
  handle.getsockname?.(out);
  const port = out.port ?? address.port;
  const resolved: BindAddress = { kind: 'tcp', host, port, family: family as 4 | 6 };
  return { handle, socketPath: null, resolved, boundWith: tcpBindMethod() };
}

/** A leftover socket file from a crashed server is removed; one with a live server behind it is an error. */
async function clearStaleSocket(file: string, shown: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return;
  }
  if (!st.isSocket()) throw bindError(shown, `${file} exists and is not a socket`);
  if (await unixSocketAnswers(file)) throw bindError(shown, 'address already in use (a server answers on it)');
  fs.unlinkSync(file);
}

async function openUnix(address: Extract<BindAddress, { kind: 'unix' }>): Promise<Opened> {
  const file = path.resolve(address.path);
  const shown = formatBind(address);
  await clearStaleSocket(file, shown);
  const handle = createServerHandle(file, -1, -1);
  if (typeof handle === 'number') throw bindError(shown, describeErrno(handle));
  return { handle, socketPath: file, resolved: { kind: 'unix', path: file } };
}

function openFd(address: Extract<BindAddress, { kind: 'fd' }>): Opened {
  const handle = createServerHandle(null, null, null, address.fd);
  if (typeof handle === 'number') throw bindError(formatBind(address), describeErrno(handle));
  return { handle, socketPath: null, resolved: address };
}

async function sameAddress(bind: BindAddress, had: BindAddress): Promise<boolean> {
  if (bind.kind === 'unix') return had.kind === 'unix' && path.resolve(bind.path) === had.path;
  if (bind.kind === 'fd') return had.kind === 'fd' && had.fd === bind.fd;
  if (had.kind !== 'tcp' || (bind.port !== 0 && bind.port !== had.port)) return false;
  if (bind.host === had.host) return true;
  try {
    return (await lookup(bind.host)).address === had.host;
  } catch {
    return false;
  }
}

function adopt(sock: InheritedSocket): Opened {
  const handle = createServerHandle(null, null, null, sock.fd);
  if (typeof handle === 'number')
    throw bindError(`fd://${sock.fd}`, `inherited socket unusable: ${describeErrno(handle)}`);
  return { handle, socketPath: sock.address.kind === 'unix' ? sock.address.path : null, resolved: sock.address };
}

/**
 * Binds every `--bind` address, in order, reusing a socket inherited from an
 * old master (USR2) where one matches. On any failure, closes what it opened
 * and throws one TsuError naming the address. Inherited sockets that match no
 * bind are closed. `scheme` is how TCP listeners are shown (`https` with --certfile).
 * `reusePort` sets SO_REUSEPORT on TCP listeners bound here, so that another arbiter can serve the same port.
 */
export async function openListeners(
  binds: readonly string[],
  backlog: number,
  inherited: readonly InheritedSocket[] = [],
  scheme: 'http' | 'https' = 'http',
  reusePort = false,
): Promise<Listener[]> {
  const unsupported = reusePort ? reusePortUnsupported() : null;
  if (unsupported) throw new TsuError('TSU_ERR_INVALID_SETTING', unsupported);
  const opened: Listener[] = [];
  const unused = [...inherited];
  try {
    for (const [index, raw] of binds.entries()) {
      const parsed = parseBind(raw);
      if (!parsed.ok)
        throw new TsuError(
          'TSU_ERR_INVALID_SETTING',
          `invalid value for --bind: ${JSON.stringify(raw)} (${parsed.problem})`,
        );
      const a = parsed.address;
      let match = -1;
      for (let i = 0; i < unused.length && match < 0; i++) if (await sameAddress(a, unused[i]!.address)) match = i;
      const o =
        match >= 0
          ? adopt(unused.splice(match, 1)[0]!)
          : a.kind === 'tcp'
            ? await openTcp(a, backlog, reusePort)
            : a.kind === 'unix'
              ? await openUnix(a)
              : openFd(a);
      const noDelayInherited = setInheritedNoDelay(o.handle);
      const info = { index, address: o.resolved, display: formatBind(o.resolved, scheme), noDelayInherited };
      const { handle, socketPath, boundWith = null } = o;
      opened.push({ handle, socketPath, inherited: match >= 0, boundWith, info });
    }
    return opened;
  } catch (err) {
    for (const l of opened) closeListeners([l], !l.inherited);
    throw err;
  } finally {
    for (const sock of unused) {
      try {
        fs.closeSync(sock.fd);
      } catch {
        // Not open.
      }
    }
  }
}

function isSocketFile(file: string): boolean {
  return fs.lstatSync(file, { throwIfNoEntry: false })?.isSocket() ?? false;
}

/**
 * Closes the handles and, with `unlink`, removes unix socket files. Idempotent.
 * Without `unlink`, a unix listener bound here is left open for process exit
 * to close: libuv unlinks the socket path when it closes a pipe it bound,
 * which would take the file from a USR2 successor still serving on it.
 */
export function closeListeners(listeners: readonly Listener[], unlink = true): void {
  for (const l of listeners) {
    if (!unlink && l.socketPath && !l.inherited) continue;
    if (l.socketPath && unlink && !isSocketFile(l.socketPath)) {
      // Replaced by something else, which is not ours to remove (issue 16). libuv would unlink the path on close.
      if (!l.inherited) continue;
      l.socketPath = null;
    }
    try {
      l.handle.close();
    } catch {
      // Already closed.
    }
    if (l.socketPath && unlink) {
      try {
        fs.unlinkSync(l.socketPath);
      } catch {
        // Already gone.
      }
      l.socketPath = null;
    }
  }
}
