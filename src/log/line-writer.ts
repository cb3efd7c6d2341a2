/**
 * A batched, reopenable line writer for the access log (one line per request, so never written from the request
 * path). To a regular file, what one event-loop turn queued goes out in one synchronous write(2) from a setImmediate:
 * an append to the page cache is cheap, and libuv's thread pool would compete with the workers for the CPU
 * (docs/benchmarks.md). To a pipe or terminal, one async write at a time, as a slow reader must not stall the loop.
 *
 * Every worker appends to the same destination, so a batch holds only whole lines, within PIPE_BUF on a pipe (atomic
 * there) and one write(2) on an O_APPEND file: lines from different workers never tear. `reopen()` (USR1, after
 * logrotate) takes effect between writes, so every line goes once, to the old file or the new. A failed write
 * (ENOSPC, EIO, EPIPE) loses its lines, as serving must go on; the owner is told once when writes start failing and
 * once, with the count lost, when they work again.
 */ import fs from 'node:fs';
import { Lifecycle } from '../lifecycle.js';
import { openLogFile } from './open-log.js';

const PIPE_BUF = 4096;
/** A file batch is bounded too, so one turn's worth of lines never makes a huge allocation. */
const FILE_BATCH = 256 * 1024;
/** Past this many queued bytes (a stalled disk), new lines are dropped rather than exhausting memory. */
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/** What the owner is told about failing writes: they started failing, or succeed again after `lost` lines. */
export type WriteTrouble = { kind: 'failing'; code: string } | { kind: 'recovered'; code: string; lost: number };

const countLines = (data: Buffer, from: number): number => {
  let n = 0;
  for (let i = data.indexOf(10, from); i !== -1; i = data.indexOf(10, i + 1)) n++;
  return n;
};

export class LineWriter {
  private fd: number;
  private readonly path: string | null;
  /** Regular file: synchronous batched writes. Otherwise (pipe, tty, socket): asynchronous. */
  private readonly syncWrites: boolean;
  private readonly batchLimit: number;
  private scheduled = false;
  private queue: string[] = [];
  private queuedBytes = 0;
  private writing = false;
  private idle: (() => void)[] = [];
  private reopenWanted = false;
  private released = false;
  private readonly life = new Lifecycle({
    close: (done) => void this.drain().then(() => this.release(done)),
    destroy: (done) => {
      this.flushSync();
      this.release(done);
    },
  });
  /** Lines dropped because the queue was full; reported by the owner. */
  dropped = 0;
  /** While writes fail: the error code, and the lines lost since they started failing. */
  private failing: string | null = null;
  private lost = 0;

  /** `-` is stdout (`stdoutFd`); anything else a file opened for appending. `onTrouble`: see WriteTrouble. */
  constructor(
    destination: string,
    stdoutFd = 1,
    private readonly onTrouble: (t: WriteTrouble) => void = () => {},
  ) {
    this.path = destination === '-' ? null : destination;
    this.fd = this.path ? openLogFile(this.path) : stdoutFd;
    let isFile = false;
    try {
      isFile = fs.fstatSync(this.fd).isFile();
    } catch {
      // Treat an unknown destination as a pipe: asynchronous and PIPE_BUF-sized.
    }
    this.syncWrites = isFile;
    this.batchLimit = isFile ? FILE_BATCH : PIPE_BUF;
  }

  /** Queues one line (without its newline). */
  write(line: string): void {
    if (this.life.closed) return;
    if (this.queuedBytes > MAX_QUEUED_BYTES) {
      this.dropped++;
      return;
    }
    this.queue.push(`${line}\n`);
    this.queuedBytes += line.length + 1;
    if (this.syncWrites) {
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flushTurn);
      }
    } else if (!this.writing) {
      this.flush();
    }
  }

  private readonly flushTurn = (): void => {
    this.scheduled = false;
    this.flushSync();
    for (const resolve of this.idle.splice(0)) resolve();
  };

  reopen(): void {
    if (!this.path) return;
    this.reopenWanted = true;
    if (this.syncWrites) this.flushSync();
    else if (!this.writing) this.flush();
  }

  private takeBatch(): string {
    let size = 0;
    let n = 0;
    while (n < this.queue.length) {
      const len = Buffer.byteLength(this.queue[n]!);
      if (n > 0 && size + len > this.batchLimit) break;
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
      const fd = openLogFile(this.path);
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
      this.outcome(err, data, written);
      this.writing = false;
      this.flush();
    };
    fs.write(this.fd, data, 0, data.length, null, (err, w) => done(err, w));
  }

  /** Resolves once everything queued so far is written (a graceful exit). */
  drain(): Promise<void> {
    if (this.syncWrites) this.flushSync();
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Writes everything still queued, synchronously (a quick exit; a write already under way may land after). */
  flushSync(): void {
    this.applyReopen();
    while (this.queue.length) {
      const data = Buffer.from(this.takeBatch());
      let written = 0;
      let error: NodeJS.ErrnoException | null = null;
      try {
        // A short write (a nearly full disk) is retried for the rest; the retry reports why it cannot go on.
        while (written < data.length) written += fs.writeSync(this.fd, data, written);
      } catch (err) {
        error = err as NodeJS.ErrnoException;
      }
      this.outcome(error, data, written);
    }
  }

  /** Counts the lines a failed write lost, and tells the owner when writes start failing and when they work again. */
  private outcome(err: NodeJS.ErrnoException | null, data: Buffer, written: number): void {
    if (err) {
      this.lost += countLines(data, written);
      if (this.failing === null) {
        this.failing = err.code ?? 'EIO';
        this.onTrouble({ kind: 'failing', code: this.failing });
      }
    } else if (this.failing !== null) {
      const report: WriteTrouble = { kind: 'recovered', code: this.failing, lost: this.lost };
      this.failing = null;
      this.lost = 0;
      this.onTrouble(report);
    }
  }

  /** Writes what is queued, then closes the file. Lines written after the call are dropped. */
  close(): Promise<void> {
    return this.life.close();
  }

  /** Writes what is queued synchronously and closes the file, all before returning (a quick exit). */
  destroy(): Promise<void> {
    return this.life.destroy();
  }

  /** Closes a file we opened, once: a destroy may overtake a close that is still draining. */
  private release(done: () => void): void {
    if (this.path && !this.released) {
      this.released = true;
      try {
        fs.closeSync(this.fd);
      } catch {
        // Already closed.
      }
    }
    done();
  }
}
