/**
 * The pidfile: written atomically (temp file + rename) after the listeners
 * are bound, refused when it names another live process, and removed at exit
 * only while it still names this process (a new master may own it by then).
 *
 * Its directory may be writable by others (issue 16): the temporary file has
 * an unpredictable name and is created exclusively without following links;
 * the pidfile path itself may not be a symlink; reads never follow links or
 * block on a FIFO.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TsuError } from '../../errors.js';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid in a regular file at `file` (not through a symlink), and its inode; null if there is none. */
function readPid(file: string): { pid: number; ino: number } | null {
  let fd: number;
  try {
    fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return null;
    const buf = Buffer.alloc(32);
    const text = buf.toString('latin1', 0, fs.readSync(fd, buf, 0, buf.length, 0));
    const pid = Number.parseInt(text.trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? { pid, ino: st.ino } : null;
  } catch {
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

export class Pidfile {
  readonly path: string;
  /** The inode this process wrote, so that exit removes only its own file. */
  private ino: number | null = null;

  constructor(file: string) {
    this.path = path.resolve(file);
  }

  /** Writes this process's pid. Throws TsuError when the path is a link or names another live process. */
  create(pid = process.pid): void {
    const fail = (why: string) => new TsuError('TSU_ERR_PIDFILE', `pidfile ${this.path} ${why}`);
    const st = fs.lstatSync(this.path, { throwIfNoEntry: false });
    if (st?.isSymbolicLink()) throw fail('is a symbolic link; refusing to write through it');
    if (st && !st.isFile()) throw fail('exists and is not a regular file');
    const existing = readPid(this.path);
    if (existing !== null && existing.pid !== pid && isAlive(existing.pid)) {
      throw fail(`names a running process (pid ${existing.pid}); is tsunicorn already running?`);
    }
    const tmp = `${this.path}.${pid}.${randomBytes(6).toString('hex')}.tmp`;
    let fd: number | null = null;
    try {
      fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
      fs.fchmodSync(fd, 0o644);
      fs.writeSync(fd, `${pid}\n`);
      fs.fsyncSync(fd);
      this.ino = fs.fstatSync(fd).ino;
      fs.closeSync(fd);
      fd = null;
      fs.renameSync(tmp, this.path);
    } catch (err) {
      if (fd !== null) fs.closeSync(fd);
      // Only when this process created it: O_EXCL failing means the name is someone else's.
      if (this.ino !== null || fd !== null) {
        try {
          fs.unlinkSync(tmp);
        } catch {
          // Never written.
        }
      }
      this.ino = null;
      throw fail(`cannot be written: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }

  /** Moves the pidfile to `to` (a promoted master takes the real name after a USR2 upgrade). */
  rename(to: string, pid = process.pid): Pidfile {
    const next = new Pidfile(to);
    next.create(pid);
    this.unlink(pid);
    return next;
  }

  /** Removes the file if it is still the one this process wrote and names `pid`. Never throws. */
  unlink(pid = process.pid): void {
    const current = readPid(this.path);
    if (current === null || current.pid !== pid || (this.ino !== null && current.ino !== this.ino)) return;
    try {
      fs.unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  }
}
