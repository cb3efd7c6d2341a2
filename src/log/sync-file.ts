/**
 * The error log's destination: stderr or a file opened for appending, written
 * synchronously, one whole line per write(2) (see logger.ts for why).
 *
 * stderr may be a non-blocking pipe (Node makes pipes non-blocking once
 * process.stderr is used) whose reader is slow: a write that finds the pipe
 * full gets EAGAIN, or writes part of the line. Both are retried after a short
 * wait until the line is out, for at most GIVE_UP_MS; a reader stalled longer
 * than that loses the line rather than hanging the process.
 *
 * A line that cannot be written (ENOSPC, EIO, a stall past GIVE_UP_MS) is
 * counted, and `onRecovered` is told the count after the next line that can.
 */
import fs from 'node:fs';

const RETRY_WAIT_MS = 1;
const GIVE_UP_MS = 10_000;
const pause = new Int32Array(new SharedArrayBuffer(4));

export class SyncFile {
  private fd: number;
  private lost = 0;

  /** `path` null: stderr. */
  constructor(
    private readonly path: string | null,
    private readonly onRecovered: (lost: number) => void = () => {},
  ) {
    this.fd = path ? fs.openSync(path, 'a') : 2;
  }

  write(line: string): void {
    if (!this.tryWrite(line)) {
      this.lost++;
    } else if (this.lost > 0) {
      const n = this.lost;
      this.lost = 0;
      this.onRecovered(n);
    }
  }

  /** False when the line could not be written. */
  private tryWrite(line: string): boolean {
    let buf: Buffer | null = null;
    let offset = 0;
    let deadline = 0;
    for (;;) {
      try {
        if (buf === null) {
          // The common case: one write of the whole string.
          const n = fs.writeSync(this.fd, line);
          if (n === Buffer.byteLength(line)) return true;
          buf = Buffer.from(line);
          offset = n;
        } else {
          offset += fs.writeSync(this.fd, buf, offset);
          if (offset >= buf.length) return true;
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return false; // ENOSPC, EPIPE, EBADF: nowhere to log to.
        buf ??= Buffer.from(line);
      }
      deadline ||= Date.now() + GIVE_UP_MS;
      if (Date.now() > deadline) return false;
      Atomics.wait(pause, 0, 0, RETRY_WAIT_MS);
    }
  }

  /** After logrotate renamed the file (USR1): later lines go to a new file at the same path. */
  reopen(): void {
    if (!this.path) return;
    let fd: number;
    try {
      fd = fs.openSync(this.path, 'a');
    } catch {
      return; // The directory went away: keep writing to the file already open.
    }
    fs.closeSync(this.fd);
    this.fd = fd;
  }
}
