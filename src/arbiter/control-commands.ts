/**
 * `tsunicorn ctl` commands, answered from the arbiter loop (the request
 * arrives as a 'control' event, so it is ordered with signals) by running
 * what the signal it stands for runs: `reload` is HUP, `scale` is TTIN/TTOU
 * to a count, `stop` is TERM (or INT). The arbiter lends the actions; this
 * decides what each command does with them and what the reply says.
 */
import process from 'node:process';
import type { Logger } from '../log/logger.js';
import { type ArbiterStatus, type ControlRequest, type ControlResponse, workerStatus } from './control-protocol.js';
import { type WorkerRecord, now } from './workers.js';

/** The arbiter, as the control socket drives it. */
export interface ControlActions {
  /** For `status`: the arbiter's state and its workers. */
  status(): Omit<ArbiterStatus, 'pid' | 'workers'> & { workers: Iterable<WorkerRecord> };
  isStopping(): boolean;
  /** What HUP does; resolves with the generation it started, or null when the config did not load. */
  reload(): Promise<number | null>;
  /** Sets the target as that many TTIN/TTOU would; returns the previous target and whether WINCH has stopped the workers. */
  scale(workers: number): { previous: number; winched: boolean };
  /** What TERM (graceful) or INT does. */
  stop(graceful: boolean): void;
}

export async function answerControl(
  request: ControlRequest,
  reply: (response: ControlResponse) => void,
  actions: ControlActions,
  log: Logger,
): Promise<void> {
  if (request.cmd === 'status') {
    const { workers, ...arbiter } = actions.status();
    const t = now();
    reply({ ok: true, status: { pid: process.pid, ...arbiter, workers: [...workers].sort((a, b) => a.forkedAt - b.forkedAt).map((w) => workerStatus(w, t)) } });
    return;
  }
  log.info(`Handling control command: ${request.cmd}${request.cmd === 'scale' ? ` ${request.workers}` : ''}`);
  if (actions.isStopping()) {
    reply({ ok: false, error: `the arbiter (pid ${process.pid}) is stopping` });
    return;
  }
  switch (request.cmd) {
    case 'reload': {
      const generation = await actions.reload();
      reply(
        generation !== null
          ? { ok: true, message: `reloading: starting generation ${generation} (pid ${process.pid})` }
          : { ok: false, error: 'reload failed: the configuration did not load; see the error log' },
      );
      return;
    }
    case 'scale': {
      const { previous, winched } = actions.scale(request.workers);
      reply({ ok: true, message: `scaling from ${previous} to ${request.workers} workers${winched ? ' (after the next reload: WINCH stopped the workers)' : ''}` });
      return;
    }
    case 'stop':
      reply({ ok: true, message: `stopping (pid ${process.pid})` });
      actions.stop(request.graceful !== false);
      return;
  }
}
