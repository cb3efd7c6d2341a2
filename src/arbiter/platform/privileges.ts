/**
 * --user, --group and --umask: the arbiter keeps its own identity (root, so
 * it can bind port 80 and read a root-only TLS key) and never runs app code;
 * workers are forked as the given user and group, so the app never runs as
 * root.
 *
 * The switch happens in the fork itself (node:cluster's `uid`/`gid`, i.e.
 * libuv's spawn, which also drops supplementary groups before exec): the
 * worker process is never root, not even while it loads the config file.
 * What workers must still open themselves — the error and access log files —
 * is handed to that user here, as Gunicorn does. Unix socket files are given
 * to the user and group too (Gunicorn's behaviour), with mode
 * `0777 & ~umask`.
 */
import fs from 'node:fs';
import process from 'node:process';
import type { Settings } from '../../config/settings.js';
import { TsuError } from '../../errors.js';
import { openLogFile } from '../../log/open-log.js';

export interface Identity {
  uid: number;
  gid: number;
  /** As given, for messages. */
  user: string;
}

interface Entry {
  name: string;
  id: number;
  /** passwd: primary gid. */
  gid: number;
}

function readTable(file: string): Entry[] {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: Entry[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3) continue;
    out.push({ name: f[0]!, id: Number(f[2]), gid: Number(f[3] ?? NaN) });
  }
  return out;
}

const numeric = (s: string) => /^\d+$/.test(s);

/**
 * Who workers run as, from --user and --group (names or numbers, looked up
 * in /etc/passwd and /etc/group); null when neither is set. Throws
 * TSU_ERR_USER (exit 2) for an unknown name, or when the arbiter cannot
 * switch (it is not root and the identity is not its own).
 */
export function resolveIdentity(settings: Pick<Settings, 'user' | 'group'>): Identity | null {
  if (settings.user === null && settings.group === null) return null;
  let uid = process.getuid?.() ?? 0;
  let gid = process.getgid?.() ?? 0;
  let user = String(uid);
  if (settings.user !== null) {
    const entry = readTable('/etc/passwd').find((e) =>
      numeric(settings.user!) ? e.id === Number(settings.user) : e.name === settings.user,
    );
    if (!entry && !numeric(settings.user))
      throw new TsuError('TSU_ERR_USER', `invalid value for --user: no such user ${JSON.stringify(settings.user)}`);
    uid = entry ? entry.id : Number(settings.user);
    // Without --group, the user's primary group (Gunicorn keeps the arbiter's, which is usually root's).
    if (entry && Number.isInteger(entry.gid)) gid = entry.gid;
    user = settings.user;
  }
  if (settings.group !== null) {
    const entry = readTable('/etc/group').find((e) =>
      numeric(settings.group!) ? e.id === Number(settings.group) : e.name === settings.group,
    );
    if (!entry && !numeric(settings.group))
      throw new TsuError('TSU_ERR_USER', `invalid value for --group: no such group ${JSON.stringify(settings.group)}`);
    gid = entry ? entry.id : Number(settings.group);
  }
  const self = process.getuid?.();
  if (self !== undefined && self !== 0 && (uid !== self || gid !== process.getgid?.())) {
    throw new TsuError(
      'TSU_ERR_USER',
      `--user/--group: switching workers to ${user} (uid ${uid}, gid ${gid}) needs the arbiter to run as root ` +
        `(it runs as uid ${self})`,
    );
  }
  return { uid, gid, user };
}

/** Before binding: the umask, so that unix socket files get `0777 & ~umask`. */
export function applyUmask(settings: Pick<Settings, 'umask'>): void {
  if (settings.umask !== null) process.umask(settings.umask);
}

/**
 * Creates a log file if needed and gives it to the workers' user. The arbiter may be root and the
 * directory writable by that user (issue 16): the file is opened as openLogFile does, and the opened
 * descriptor of a regular file is chowned, never the path.
 */
function handOverLog(file: string, id: Identity): void {
  let fd: number;
  try {
    fd = openLogFile(file);
  } catch {
    return; // A planted link, or not ours to open: the worker reports what it cannot open.
  }
  try {
    if (fs.fstatSync(fd).isFile()) fs.fchownSync(fd, id.uid, id.gid);
  } catch {
    // Not ours to change.
  } finally {
    fs.closeSync(fd);
  }
}

/** A unix socket file the arbiter bound: lchown never follows a link planted in its place. */
function handOverSocket(file: string, id: Identity): void {
  try {
    if (fs.lstatSync(file).isSocket()) fs.lchownSync(file, id.uid, id.gid);
  } catch {
    // Gone.
  }
}

/**
 * Hands the log files workers open and the unix sockets to the workers' user (`identity`, null: the arbiter's
 * own). Forking as that user is pool/fork.ts's, from the same identity.
 */
export function handOverToWorkerUser(
  identity: Identity | null,
  settings: Pick<Settings, 'errorLogfile' | 'accessLogfile'>,
  socketPaths: readonly string[],
): void {
  if (!identity) return;
  for (const file of [settings.errorLogfile, settings.accessLogfile]) {
    if (file && file !== '-') handOverLog(file, identity);
  }
  for (const p of socketPaths) handOverSocket(p, identity);
}
