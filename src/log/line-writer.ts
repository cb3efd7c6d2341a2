/**
 * An asynchronous, reopenable line writer for the access log (the hot path:
 * one line per request). Lines are queued and written in batches by one
 * `fs.write` at a time, so the request path never waits for the disk.
 *
 * Every worker appends to the same destination. A batch never exceeds
 * PIPE_BUF (4096 bytes) unless a single line does, and a batch only ever
 * holds whole lines: a write that size is atomic on a pipe (stdout under
 * Docker or a supervisor) and on an O_APPEND file, so lines from different
 * workers never tear into each other.
 *
 * `reopen()` (USR1, after logrotate renamed the file) takes effect between
 * writes: every line goes once, to the old file or the new one.
 */
import fs from 'node:fs';

const PIPE_BUF = 4096;
/** Past this many queued bytes (a stalled disk), new lines are dropped rather than exhausting memory. */
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

export class LineWriter {
  private fd: number;
  private readonly path: string | null;
  private queue: string[] = [];
  private queuedBytes = 0;
  private writing = false;
  private idle: (() => void)[] = [];
  private reopenWanted = false;
  private closed = false;
  /** Lines dropped because the queue was full; reported by the owner. */
  dropped = 0;

  /** `-` is stdout (`stdoutFd`); anything else a file opened for appending. */
  constructor(destination: string, stdoutFd = 1) {
    this.path = destination === '-' ? null : destination;
    this.fd = this.path ? fs.openSync(this.path, 'a') : stdoutFd;
  }

  /** Queues one line (without its newline). */
  write(line: string): void {
    if (this.closed) return;
    if (this.queuedBytes > MAX_QUEUED_BYTES) {
      this.dropped++;
      return;
    }
    this.queue.push(`${line}\n`);
    this.queuedBytes += line.length + 1;
    if (!this.writing) this.flush();
  }

  reopen(): void {
    if (!this.path) return;
    this.reopenWanted = true;
    if (!this.writing) this.flush();
  }

  private takeBatch(): string {
    let size = 0;
    let n = 0;
    while (n < this.queue.length) {
      const len = Buffer.byteLength(this.queue[n]!);
      if (n > 0 && size + len > PIPE_BUF) break;
      size += len;
      n++;
    }
    const batch = this.queue.splice(0, n).join('');
    this.queuedBytes -= batch.length;
    return batch;
  }

  private applyReopen(): void {
    if (!this.reopenWanted || !this.path) return;
    this.reopenWanted = false;
    try {
      const fd = fs.openSync(this.path, 'a');
      fs.closeSync(this.fd);
      this.fd = fd;
    } catch {
      // Keep writing to the old file rather than lose lines.
    }
  }

  private flush(): void {
    this.applyReopen();
    if (this.queue.length === 0) {
      for (const resolve of this.idle.splice(0)) resolve();
      return;
    }
    this.writing = true;
    const data = Buffer.from(this.takeBatch());
    const done = (err: NodeJS.ErrnoException | null, written = 0) => {
      if (!err && written < data.length) {
        // A short write (a full pipe): send the rest before anything else, keeping lines whole.
        fs.write(this.fd, data, written, data.length - written, null, (e, w) => done(e, written + (w ?? 0)));
        return;
      }
      this.writing = false;
      this.flush();
    };
    fs.write(this.fd, data, 0, data.length, null, (err, w) => done(err, w));
  }

  /** Resolves once everything queued so far is written (a graceful exit). */
  drain(): Promise<void> {
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Writes everything still queued, synchronously (a quick exit; a write already under way may land after). */
  flushSync(): void {
    this.applyReopen();
    while (this.queue.length) {
      try {
        fs.writeSync(this.fd, this.takeBatch());
      } catch {
        break;
      }
    }
  }

  close(): void {
    this.flushSync();
    this.closed = true;
    if (this.path) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // Already closed.
      }
    }
  }
}
