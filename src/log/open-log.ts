/**
 * Opens a log file for appending, safely for a root arbiter whose log directory other users may write
 * (issue 16): such a user could plant a link that makes root append to, or hand over, any file.
 *
 * - A symbolic link is followed only when its directory is writable by root or this user alone, so
 *   `/dev/stdout` works and a link planted in a shared directory does not.
 * - A regular file with more than one link (a hard link to someone else's file) is refused.
 * - The open never blocks on a FIFO with no reader; a pipe or terminal is then reopened blocking through
 *   /proc, so writes to it wait for a slow reader instead of failing with EAGAIN.
 */
import fs from 'node:fs';
import path from 'node:path';

const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
const APPEND = O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK;

class UnsafeLogPathError extends Error {
  override readonly name = 'UnsafeLogPathError';
}

/** Whether only root or this user can change the entries of `dir` (a sticky directory is not enough for links). */
export function trustedDirectory(dir: string, euid = process.geteuid?.() ?? 0): boolean {
  try {
    const st = fs.statSync(dir);
    return (st.uid === 0 || st.uid === euid) && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/** A descriptor open for appending to `file`; throws UnsafeLogPathError for a link it will not follow. */
export function openLogFile(file: string): number {
  let fd: number;
  try {
    fd = fs.openSync(file, APPEND | O_NOFOLLOW, 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOOP') throw err;
    if (!trustedDirectory(path.dirname(path.resolve(file)))) {
      throw new UnsafeLogPathError(`${file} is a symbolic link in a directory other users can write; not following it`);
    }
    fd = fs.openSync(file, APPEND, 0o644);
  }
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  if (st.isFile()) {
    if (st.nlink > 1) {
      fs.closeSync(fd);
      throw new UnsafeLogPathError(`${file} has ${st.nlink} hard links; not writing to it`);
    }
    return fd;
  }
  return reopenBlocking(fd);
}

/** A pipe or terminal opened non-blocking: the same file again, blocking (Linux's /proc; elsewhere as it is). */
function reopenBlocking(fd: number): number {
  try {
    const blocking = fs.openSync(`/proc/self/fd/${fd}`, O_WRONLY | O_APPEND);
    fs.closeSync(fd);
    return blocking;
  } catch {
    return fd;
  }
}
