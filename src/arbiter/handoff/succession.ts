/**
 * This master's place in a USR2 binary upgrade (inherited-sockets.ts is the handoff
 * itself: how the sockets reach the new master). Two relations:
 *
 * - the successor: the new master this one started on USR2, while it runs.
 *   An operator who is happy with it sends this one WINCH, then TERM; if it
 *   exits instead (a rollback), this master carries on.
 * - the predecessor: the old master that started this one, while it lives.
 *   Until it exits this master uses `PATH.2` for its pidfile and control
 *   socket; then it is promoted and takes the real names.
 *
 * While either is alive the two masters share the listening sockets, so a
 * master that stops then is handing over, not taking the service down.
 */
import type { ChildProcess } from 'node:child_process';
import process from 'node:process';
import { describeError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import type { EventQueue } from '../event-queue.js';
import type { Listener } from '../sockets/listeners.js';
import { oldMasterPid, spawnNewMaster } from './inherited-sockets.js';

export class Succession {
  /** USR2: the new master this one started, while it runs. */
  private successor: ChildProcess | null = null;
  /** Why the successor could not be started (its 'error'), until the loop takes its 'successor-exit'. */
  private spawnError: string | null = null;
  /** This master was started by a USR2 upgrade and its predecessor is still alive. */
  private predecessor: number | null;

  constructor(env: NodeJS.ProcessEnv) {
    const old = oldMasterPid(env);
    this.predecessor = old !== null && old === process.ppid ? old : null;
  }

  /** Started by USR2 and not yet promoted. */
  get isSuccessor(): boolean {
    return this.predecessor !== null;
  }

  /** The name a pidfile or control socket at `path` takes now: `PATH.2` until this master is promoted. */
  provisional(path: string): string {
    return this.predecessor ? `${path}.2` : path;
  }

  /** Why a USR2 cannot start an upgrade now (one is already under way), or null. */
  refusal(): string | null {
    if (this.successor) return `an upgrade is in progress (new master pid ${this.successor.pid})`;
    if (this.predecessor) return `this master's predecessor (pid ${this.predecessor}) is still running`;
    return null;
  }

  /**
   * Starts the new master on the listeners' fds; its exit comes back to the loop as a 'successor-exit' event.
   * So does a failure to start it (ENOENT, EACCES, EAGAIN: Node emits 'error' and no 'exit'), which must clear
   * the successor, or every later USR2 would be refused and the socket files kept.
   */
  start(
    argv: readonly string[],
    env: NodeJS.ProcessEnv,
    cwd: string,
    listeners: readonly Listener[],
    queue: EventQueue,
    log: Logger,
  ): void {
    let child: ChildProcess;
    try {
      child = spawnNewMaster(argv, env, cwd, listeners);
    } catch (err) {
      log.error(`Upgrade failed: cannot start a new master: ${describeError(err)}; this master carries on`);
      return;
    }
    this.successor = child;
    child.on('exit', (code, signal) => queue.push({ kind: 'successor-exit', pid: child.pid ?? -1, code, signal }));
    child.on('error', (err) => {
      if (this.successor !== child || child.pid !== undefined) return;
      this.spawnError = describeError(err);
      queue.push({ kind: 'successor-exit', pid: -1, code: null, signal: null });
    });
    if (child.pid !== undefined) log.info(`Upgrading: started new master (pid: ${child.pid})`);
  }

  successorExited(pid: number, code: number | null, signal: string | null, log: Logger): void {
    // A late event about an earlier successor says nothing about the current one.
    if (!this.successor || (this.successor.pid ?? -1) !== pid) return;
    this.successor = null;
    const failed = this.spawnError;
    this.spawnError = null;
    if (failed !== null) log.error(`Upgrade failed: cannot start a new master: ${failed}; this master carries on`);
    else log.warning(`New master (pid: ${pid}) exited (${signal ?? `code ${code}`}); this master carries on`);
  }

  /** True once, on the first call after the predecessor has gone: the caller then takes the real names. */
  promote(): boolean {
    if (this.predecessor === null || process.ppid === this.predecessor) return false;
    this.predecessor = null;
    return true;
  }

  /**
   * A master handing over to a USR2 successor, or back to its predecessor, is not the service stopping.
   * (The predecessor is checked live: it may have exited since the loop last looked, before the promotion.)
   */
  handingOver(): boolean {
    return (
      (this.successor !== null && this.successor.exitCode === null) ||
      (this.predecessor !== null && process.ppid === this.predecessor)
    );
  }

  /** Socket files stay while a successor (USR2) or a predecessor (rollback) may still serve on them. */
  sharesSockets(): boolean {
    return (this.successor !== null && this.successor.exitCode === null) || this.predecessor !== null;
  }
}
