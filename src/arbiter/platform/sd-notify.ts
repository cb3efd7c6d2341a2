/**
 * sd_notify(3) is a datagram to the unix socket in NOTIFY_SOCKET. Node's dgram module has no unix datagram sockets,
 * so we run the `systemd-notify` program that ships with systemd, one message at a time, in order. It sends with the
 * credentials of its parent (this master) when it runs as root, and with its own pid otherwise, so units need
 * NotifyAccess=all.
 */
import { spawn } from 'node:child_process';
import type { Logger } from '../../log/logger.js';

/** systemd-notify waits for systemd to take each message (a barrier), at most this long by default. */
const NOTIFY_TIMEOUT_MS = 10_000;

/** Sends sd_notify messages through `systemd-notify`, one at a time, in order. */
export class Notifier {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly program: string,
    private readonly socket: string,
    private readonly log: Logger,
  ) {}

  send(fields: readonly string[]): void {
    this.log.debug(`systemd notify: ${fields.join(' ')}`);
    this.chain = this.chain.then(
      () =>
        new Promise<void>((resolve) => {
          const child = spawn(this.program, [...fields], {
            stdio: ['ignore', 'ignore', 'pipe'],
            env: { ...process.env, NOTIFY_SOCKET: this.socket },
          });
          let stderr = '';
          child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
          // systemd-notify bounds its own wait; this only guards against a hung helper.
          const timer = setTimeout(() => child.kill('SIGKILL'), NOTIFY_TIMEOUT_MS);
          child.on('error', (err) => {
            clearTimeout(timer);
            this.log.warning(`systemd notify ${fields[0]} failed: ${err.message}`);
            resolve();
          });
          child.on('exit', (code) => {
            clearTimeout(timer);
            if (code !== 0)
              this.log.warning(
                `systemd notify ${fields[0]} failed: ${stderr.trim() || `${this.program} exited ${code}`}`,
              );
            resolve();
          });
        }),
    );
  }

  /** Waits for the messages already sent, at most `ms`. */
  async flush(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.chain, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }
}
