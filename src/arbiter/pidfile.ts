/**
 * The pidfile: written atomically (temp file + rename) after the listeners
 * are bound, refused when it names another live process, and removed at exit
 * only while it still names this process (a new master may own it by then).
 */
import fs from 'node:fs';
import path from 'node:path';
import { TsuError } from '../errors.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(file: string): number | null {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

export class Pidfile {
  readonly path: string;

  constructor(file: string) {
    this.path = path.resolve(file);
  }

  /** Writes this process's pid. Throws TsuError when the file names another live process. */
  create(pid = process.pid): void {
    const existing = readPid(this.path);
    if (existing !== null && existing !== pid && isAlive(existing)) {
      throw new TsuError('TSU_ERR_PIDFILE', `pidfile ${this.path} names a running process (pid ${existing}); is tsunicorn already running?`);
    }
    const tmp = `${this.path}.${pid}.tmp`;
    try {
      fs.writeFileSync(tmp, `${pid}\n`, { mode: 0o644 });
      fs.renameSync(tmp, this.path);
    } catch (err) {
      try {
        fs.unlinkSync(tmp);
      } catch {
        // Never written.
      }
      throw new TsuError('TSU_ERR_PIDFILE', `cannot write pidfile ${this.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }

  /** Moves the pidfile to `to` (a promoted master takes the real name after a USR2 upgrade). */
  rename(to: string, pid = process.pid): Pidfile {
    const next = new Pidfile(to);
    next.create(pid);
    this.unlink(pid);
    return next;
  }

  /** Removes the file if it still names `pid`. Never throws. */
  unlink(pid = process.pid): void {
    if (readPid(this.path) !== pid) return;
    try {
      fs.unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  }
}
