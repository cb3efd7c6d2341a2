/**
 * The error log on a stderr that is a pipe or a socket (a supervisor, Docker,
 * journald, `| tee`): written through Node's stream on fd 2, which hands each
 * line to write(2) at once when the pipe has room and otherwise keeps it
 * until the reader catches up. A blocking write(2) would stall the arbiter's
 * loop for as long as the reader does, and with it every --timeout verdict
 * (issue 16). What waits is bounded: past MAX_BUFFERED bytes lines are
 * dropped and counted, and once the pipe drains the count is logged.
 */
import fs from 'node:fs';
import process from 'node:process';
import type { Writable } from 'node:stream';

/** Room for a burst of lines (a stack dump, a signal storm) while the reader is slow. */
export const MAX_BUFFERED = 256 * 1024;

/** True when fd 2 is a pipe or a socket, where a write can block for as long as the reader pleases. */
export function stderrIsPipe(): boolean {
  try {
    const st = fs.fstatSync(2);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}

export class StderrStream {
  /** Lines dropped since the stream was last writable. */
  private lost = 0;

  /** `onRecovered(n)`: the pipe drained after `n` lines were dropped; called outside any write. */
  constructor(
    private readonly onRecovered: (lost: number) => void,
    private readonly out: NodeJS.WritableStream & Writable = process.stderr,
  ) {
    // EPIPE and the like: there is nowhere left to log to, and no reason to crash over it.
    this.out.on('error', () => {});
  }

  write(line: string): void {
    if (this.out.destroyed) return;
    if (this.out.writableLength > MAX_BUFFERED) {
      if (this.lost++ === 0) this.out.once('drain', this.drained);
      return;
    }
    this.out.write(line);
  }

  private readonly drained = (): void => {
    const n = this.lost;
    this.lost = 0;
    if (n > 0) this.onRecovered(n);
  };

  reopen(): void {}
}
