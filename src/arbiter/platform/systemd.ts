/**
 * The arbiter's view of systemd: the sockets it passed (socket-activation.ts) and what to tell it (sd-notify.ts).
 * Messages: READY=1 (with MAINPID and STATUS) once the first workers are ready and again after each HUP once the new
 * generation is; RELOADING=1 at a HUP; MAINPID=<new pid> from a USR2 successor when its workers are ready;
 * STOPPING=1 when a stop begins (not from a master that is handing over to, or back from, a USR2 successor).
 */
import { bindText } from '../../config/bind-address.js';
import { SETTINGS } from '../../config/settings.js';
import type { Logger } from '../../log/logger.js';
import type { Listener } from '../sockets/listeners.js';
import { findExecutable } from './find-executable.js';
import { Notifier } from './sd-notify.js';
import { type ActivatedSocket, activatedBinds, inheritedActivated, listenFds } from './socket-activation.js';

/** The arbiter's view of systemd: which sockets it passed, and what to tell it. */
export class Systemd {
  /** READY=1 is due: at start, and after each HUP until the new generation is ready. */
  readyPending = true;
  private readonly notifier: Notifier | null;
  private readonly activatedByBind: Map<string, ActivatedSocket>;

  private constructor(
    /** Sockets from LISTEN_FDS in this process (a USR2 successor gets its sockets through TSUNICORN_FD). */
    readonly fromListenFds: readonly ActivatedSocket[],
    /** Every socket systemd owns that this master serves: from LISTEN_FDS, or inherited from a USR2 predecessor. */
    readonly activated: readonly ActivatedSocket[],
    notifier: Notifier | null,
  ) {
    this.notifier = notifier;
    this.activatedByBind = new Map(activated.map((a) => [a.bind, a]));
  }

  /**
   * Reads what systemd passed; changes nothing. The caller then removes LISTEN_FDS (removeListenFdsEnv) and records
   * the activated sockets for a USR2 successor (setActivatedEnv), before binding or forking.
   */
  static fromEnv(env: NodeJS.ProcessEnv, log: Logger, pid = process.pid): Systemd {
    const own = listenFds(env, pid);
    // A USR2 successor: the activated sockets are among those in TSUNICORN_FD.
    const activated = own.length ? own : inheritedActivated(env);
    let notifier: Notifier | null = null;
    const socket = env.NOTIFY_SOCKET;
    if (socket) {
      const program = findExecutable('systemd-notify', env);
      if (program) notifier = new Notifier(program, socket, log);
      else
        log.warning(
          'NOTIFY_SOCKET is set but systemd-notify is not installed: readiness cannot be reported ' +
            '(use Type=simple, or install systemd)',
        );
    }
    return new Systemd(own, activated, notifier);
  }

  /** The binds to open: --bind mapped onto the activated sockets (socket-activation.ts); logs the warnings. */
  async binds(bind: readonly string[], env: NodeJS.ProcessEnv, log: Logger): Promise<string[]> {
    if (!this.activated.length) return [...bind];
    const explicit = JSON.stringify(bind) !== JSON.stringify(SETTINGS.bind.default(env));
    const out = await activatedBinds(bind, explicit, this.activated);
    for (const w of out.warnings) log.warning(w);
    return out.binds;
  }

  /** After openListeners: logs which listeners systemd passed, and keeps their socket files from being removed. */
  adopted(listeners: readonly Listener[], log: Logger): void {
    for (const l of listeners) {
      const a = this.activatedByBind.get(bindText(l.info.address));
      if (!a || !l.inherited) continue;
      l.socketPath = null;
      if (this.fromListenFds.includes(a)) {
        const name = a.name ? ` (${a.name})` : '';
        log.info(`Using socket from systemd (LISTEN_FDS): fd ${a.fd}${name} = ${l.info.display}; not binding it`);
      }
    }
  }

  /** READY=1, with this process as the main pid (after a USR2 upgrade, that is how systemd learns the new master). */
  ready(workers: number): void {
    this.readyPending = false;
    this.notifier?.send([
      'READY=1',
      `MAINPID=${process.pid}`,
      `STATUS=Serving with ${workers} worker${workers === 1 ? '' : 's'}`,
    ]);
  }

  reloading(): void {
    this.readyPending = true;
    const usec = process.hrtime.bigint() / 1000n; // CLOCK_MONOTONIC on Linux, as Type=notify-reload wants
    this.notifier?.send(['RELOADING=1', `MONOTONIC_USEC=${usec}`, 'STATUS=Reloading']);
  }

  stopping(): void {
    this.readyPending = false;
    this.notifier?.send(['STOPPING=1', 'STATUS=Stopping']);
  }

  /** A USR2 successor exited while this master serves on: it is the main process again. */
  mainPidAgain(): void {
    this.notifier?.send([`MAINPID=${process.pid}`, 'READY=1', 'STATUS=Serving (the upgrade was rolled back)']);
  }

  async flush(ms = 2000): Promise<void> {
    await this.notifier?.flush(ms);
  }
}
