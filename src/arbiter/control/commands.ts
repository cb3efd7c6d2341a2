/**
 * `tsunicorn ctl` commands, answered from the arbiter loop (the request
 * arrives as a 'control' event, so it is ordered with signals) by running
 * what the signal it stands for runs: `reload` is HUP, `scale` is TTIN/TTOU
 * to a count, `stop` is TERM (or INT). The arbiter lends the actions; this
 * decides what each command does with them and what the reply says.
 */
import process from 'node:process';
import type { Logger } from '../../log/logger.js';
import { printConfig } from '../../config/resolve.js';
import type { Settings } from '../../config/settings.js';
import {
  type ArbiterStatus,
  type ControlRequest,
  type ControlResponse,
  type ListenerStatus,
  workerStatus,
} from './protocol.js';
import { readStacks, stackTargets } from './stack.js';
import type { Listener } from '../sockets/listeners.js';
import { type WorkerRecord, isLive, now } from '../pool/worker-record.js';

/** The arbiter, as the control socket drives it. */
export interface ControlActions {
  /** For `status`: the arbiter's state and its workers. */
  status(): Omit<ArbiterStatus, 'pid' | 'workers'> & { workers: Iterable<WorkerRecord> };
  isStopping(): boolean;
  /** What HUP does; `done` is told the generation it started, or null when the config did not load. */
  reload(done: (generation: number | null) => void): void;
  /** Sets the target as that many TTIN/TTOU would; returns the previous one and whether WINCH stopped the workers. */
  scale(workers: number): { previous: number; winched: boolean };
  /** What TERM (graceful) or INT does. */
  stop(graceful: boolean): void;
  /** The running configuration (a HUP replaces it) and its --print-config text. */
  settings(): Settings;
  listeners(): readonly Listener[];
  /** `ctl kill`: retire this worker gracefully; the loop starts its replacement. */
  retire(w: WorkerRecord): void;
  /** Queues a command for the loop, its answer dropped: what code outside the loop may ask of it. */
  later(request: ControlRequest): void;
}

/** `ctl listeners`: each listener of the arbiter with the live workers that were booted with it. */
export function listenerStatus(listeners: readonly Listener[], workers: Iterable<WorkerRecord>): ListenerStatus[] {
  const live = [...workers].filter(isLive);
  return listeners.map((l) => ({
    address: l.info.display,
    fd: l.handle.fd,
    kind: l.info.address.kind,
    inherited: l.inherited,
    workers: live.filter((w) => w.listeners.some((x) => x.handle === l.handle)).map((w) => w.pid),
  }));
}

export function answerControl(
  request: ControlRequest,
  reply: (response: ControlResponse) => void,
  actions: ControlActions,
  log: Logger,
): void {
  if (request.cmd === 'status') {
    const { workers, ...arbiter } = actions.status();
    const t = now();
    reply({
      ok: true,
      status: {
        pid: process.pid,
        ...arbiter,
        workers: [...workers].sort((a, b) => a.forkedAt - b.forkedAt).map((w) => workerStatus(w, t)),
      },
    });
    return;
  }
  if (request.cmd === 'config') {
    reply({ ok: true, config: { ...actions.settings() }, configText: printConfig(actions.settings()) });
    return;
  }
  if (request.cmd === 'listeners') {
    reply({ ok: true, listeners: listenerStatus(actions.listeners(), actions.status().workers) });
    return;
  }
  if (request.cmd === 'stack') {
    // Logged: it opens each worker's inspector on 127.0.0.1 for a moment (docs/security.md).
    log.info(`Handling control command: stack${request.pid ? ` ${request.pid}` : ''}`);
    const targets = stackTargets(actions.status().workers, request.pid, actions.settings());
    if (typeof targets === 'string') reply({ ok: false, error: targets });
    // Outside the loop: reading a stack takes up to seconds and must not hold up signals and exits.
    else {
      const failed = (err: unknown) => reply({ ok: false, error: String(err) });
      void readStacks(targets, actions.settings(), (pid) => {
        // A probe that failed after SIGUSR1 may leave an inspector any local user could attach to: replace it.
        log.warning(`Worker (pid:${pid}) may have its inspector open after a failed stack read; replacing it`);
        actions.later({ cmd: 'kill', pid });
      }).then(reply, failed);
    }
    return;
  }
  const arg = request.cmd === 'scale' ? ` ${request.workers}` : request.cmd === 'kill' ? ` ${request.pid}` : '';
  log.info(`Handling control command: ${request.cmd}${arg}`);
  if (actions.isStopping()) {
    reply({ ok: false, error: `the arbiter (pid ${process.pid}) is stopping` });
    return;
  }
  switch (request.cmd) {
    case 'reload':
      // Answered once the re-read config is applied; the loop goes on meanwhile (hup.ts).
      actions.reload((generation) =>
        reply(
          generation !== null
            ? { ok: true, message: `reloading: starting generation ${generation} (pid ${process.pid})` }
            : { ok: false, error: 'reload failed: the configuration did not load; see the error log' },
        ),
      );
      return;
    case 'scale': {
      const { previous, winched } = actions.scale(request.workers);
      const after = winched ? ' (after the next reload: WINCH stopped the workers)' : '';
      reply({ ok: true, message: `scaling from ${previous} to ${request.workers} workers${after}` });
      return;
    }
    case 'stop':
      reply({ ok: true, message: `stopping (pid ${process.pid})` });
      actions.stop(request.graceful !== false);
      return;
    case 'kill': {
      const w = [...actions.status().workers].find((x) => x.pid === request.pid);
      if (!w) reply({ ok: false, error: `pid ${request.pid} is not one of this arbiter's workers (see ctl status)` });
      else if (!isLive(w)) {
        reply({ ok: false, error: `worker ${request.pid} is ${w.state} already` });
      } else {
        actions.retire(w);
        reply({ ok: true, message: `replacing worker ${w.pid}: it finishes its requests and exits; a new one starts` });
      }
      return;
    }
  }
}
