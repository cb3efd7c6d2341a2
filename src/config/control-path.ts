/**
 * Where the arbiter's control socket lives, computed the same way by the
 * server and by `tsunicorn ctl`, so that `ctl` run from the same directory
 * with the same flags or config file finds it without being told.
 *
 * Default: `tsunicorn-<hash>.sock` in `$XDG_RUNTIME_DIR`, else in a per-user
 * directory `tsunicorn-<euid>` of the temp directory that only that user may
 * enter (a shared /tmp let another local user take the name first or answer
 * `ctl` in the server's place; issue 16). The hash is of the working directory
 * (after --chdir), the first --bind and --name. (Gunicorn 26 puts
 * `gunicorn.ctl` in the working directory; a runtime directory keeps sockets
 * out of app trees and off read-only or shared volumes.) A USR2 successor
 * uses `PATH.2` until it is promoted, as with the pidfile.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { Kind } from './setting-types.js';

/** `null`: the default path; `false`: no control socket (`--no-control-socket`); else a path. */
export type ControlSocketSetting = string | false | null;

/** sockaddr_un's sun_path is 108 bytes on Linux, NUL included. */
const MAX_SOCKET_PATH = 107;

export function controlSocketKind(): Kind<ControlSocketSetting> {
  return {
    meta: 'PATH',
    parse(raw) {
      if (raw === null || raw === undefined) return { ok: true, value: null };
      if (raw === false) return { ok: true, value: false };
      if (typeof raw !== 'string' || raw === '') return { ok: false, allowed: 'a socket path, or false to disable it' };
      if (Buffer.byteLength(raw) > MAX_SOCKET_PATH)
        return { ok: false, allowed: `a socket path of at most ${MAX_SOCKET_PATH} bytes` };
      return { ok: true, value: raw };
    },
    show: (v) => (v === null ? 'auto' : v === false ? 'off' : v),
  };
}

export interface ControlPathInput {
  controlSocket: ControlSocketSetting;
  bind: readonly string[];
  name: string | null;
  chdir: string | null;
}

const euid = (): number => process.geteuid?.() ?? 0;

/** Where default control sockets live: `$XDG_RUNTIME_DIR`, else `tsunicorn-<euid>` in the temp directory. */
export function controlSocketDir(env: NodeJS.ProcessEnv = process.env, uid: number = euid()): string {
  if (env.XDG_RUNTIME_DIR && path.isAbsolute(env.XDG_RUNTIME_DIR)) return path.resolve(env.XDG_RUNTIME_DIR);
  const tmp = env.TMPDIR && path.isAbsolute(env.TMPDIR) ? path.resolve(env.TMPDIR) : os.tmpdir();
  return path.join(tmp, `tsunicorn-${uid}`);
}

/** The socket path for these settings, or null when disabled. `cwd` is the directory the command was started in. */
export function controlSocketPath(
  settings: ControlPathInput,
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): string | null {
  if (settings.controlSocket === false) return null;
  if (typeof settings.controlSocket === 'string') return path.resolve(cwd, settings.controlSocket);
  const dir = controlSocketDir(env);
  const identity = [path.resolve(cwd, settings.chdir ?? '.'), settings.bind[0] ?? '', settings.name ?? ''].join('\0');
  const hash = createHash('sha256').update(identity).digest('hex').slice(0, 16);
  return path.join(dir, `tsunicorn-${hash}.sock`);
}

/** What the owner and mode checks need of an lstat result. */
export interface FileFacts {
  kind: 'directory' | 'socket' | 'symlink' | 'other';
  uid: number;
  mode: number;
}

export function fileFacts(st: {
  uid: number;
  mode: number;
  isDirectory(): boolean;
  isSocket(): boolean;
  isSymbolicLink(): boolean;
}): FileFacts {
  const kind = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'directory' : st.isSocket() ? 'socket' : 'other';
  return { kind, uid: st.uid, mode: st.mode & 0o7777 };
}

/** Why the arbiter must not put its control socket in `dir` (not a directory private to `uid`), or null. */
export function privateDirProblem(dir: string, st: FileFacts, uid: number): string | null {
  if (st.kind !== 'directory') return `${dir} is ${st.kind === 'symlink' ? 'a symbolic link' : 'not a directory'}`;
  if (st.uid !== uid) return `${dir} is owned by uid ${st.uid}, not by this user (uid ${uid})`;
  if (st.mode & 0o077) return `${dir} has mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}; it must be 0700`;
  return null;
}

/**
 * Why `tsunicorn ctl`, running as `uid`, must not talk to this socket, or
 * null: the socket and its directory must belong to `uid` or root, and the
 * directory must not let others replace the socket (writable by group or
 * other without the sticky bit).
 */
export function untrustedSocketProblem(sock: string, dirSt: FileFacts, sockSt: FileFacts, uid: number): string | null {
  const trusted = (owner: number) => owner === uid || owner === 0;
  const dir = path.dirname(sock);
  if (!trusted(dirSt.uid))
    return `its directory ${dir} is owned by uid ${dirSt.uid}, not by this user (uid ${uid}) or root`;
  if (dirSt.mode & 0o022 && !(dirSt.mode & 0o1000)) return `its directory ${dir} is writable by others`;
  if (sockSt.kind !== 'socket') return `${sock} is not a socket`;
  if (!trusted(sockSt.uid)) return `${sock} is owned by uid ${sockSt.uid}, not by this user (uid ${uid}) or root`;
  return null;
}
