/**
 * Where the arbiter's control socket lives, computed the same way by the
 * server and by `tsunicorn ctl`, so that `ctl` run from the same directory
 * with the same flags or config file finds it without being told.
 *
 * Default: `$XDG_RUNTIME_DIR/tsunicorn-<hash>.sock`, else in os.tmpdir(),
 * where the hash is of the working directory (after --chdir), the first
 * --bind and --name. (Gunicorn 26 puts `gunicorn.ctl` in the working
 * directory; a runtime directory keeps sockets out of app trees and off
 * read-only or shared volumes.) A USR2 successor uses `PATH.2` until it is
 * promoted, as with the pidfile.
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
      if (Buffer.byteLength(raw) > MAX_SOCKET_PATH) return { ok: false, allowed: `a socket path of at most ${MAX_SOCKET_PATH} bytes` };
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

/** The socket path for these settings, or null when disabled. `cwd` is the directory the command was started in. */
export function controlSocketPath(settings: ControlPathInput, cwd: string, env: NodeJS.ProcessEnv = process.env): string | null {
  if (settings.controlSocket === false) return null;
  if (typeof settings.controlSocket === 'string') return path.resolve(cwd, settings.controlSocket);
  const dir = env.XDG_RUNTIME_DIR && path.isAbsolute(env.XDG_RUNTIME_DIR) ? env.XDG_RUNTIME_DIR : os.tmpdir();
  const identity = [path.resolve(cwd, settings.chdir ?? '.'), settings.bind[0] ?? '', settings.name ?? ''].join('\0');
  const hash = createHash('sha256').update(identity).digest('hex').slice(0, 16);
  return path.join(dir, `tsunicorn-${hash}.sock`);
}
