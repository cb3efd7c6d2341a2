/**
 * A worker exited: how the pool reads it. The rule (expected, timed out, boot failure, crash, halt) is
 * decisions/exits.ts; this gathers its input, applies its backoff to the start history and logs the outcome.
 */
import type { Logger } from '../../log/logger.js';
import { classifyExit } from '../decisions/exits.js';
import type { StartHistory } from './start-history.js';
import { type WorkerRecord, WorkerState, now } from './worker-record.js';

/** Workers cannot boot and none serve: the arbiter stops with this code (Gunicorn's HaltServer). */
export interface Halt {
  code: number;
  reason: string;
}

/** What a worker's death by these signals usually means: the kernel's OOM killer, V8's heap limit (it aborts). */
const OUT_OF_MEMORY: Record<string, string> = {
  SIGKILL: ' Perhaps out of memory?',
  SIGABRT: ' Perhaps out of memory (V8 heap limit: see "FATAL ERROR" on stderr)?',
};

export interface WorkerExit {
  worker: WorkerRecord;
  code: number | null;
  signal: string | null;
  /** It was asked to stop or retire. */
  expected: boolean;
  /** The arbiter is stopping. */
  stopping: boolean;
}

/** Classifies the exit of `exit.worker` (already out of `remaining`); a Halt when the arbiter must stop. */
export function judgeExit(
  exit: WorkerExit,
  remaining: Iterable<WorkerRecord>,
  history: StartHistory,
  log: Logger,
): Halt | null {
  const { worker: w, code, signal } = exit;
  let sameGeneration = 0;
  let otherGenerations = 0;
  let booting = 0;
  for (const o of remaining) {
    if (o.state === WorkerState.Ready && o.generation !== w.generation) otherGenerations++;
    if (o.generation !== w.generation) continue;
    if (o.state === WorkerState.Ready) sameGeneration++;
    else if (o.state === WorkerState.Booting) booting++;
  }
  const serving = sameGeneration + otherGenerations;
  const t = now();
  const verdict = classifyExit({
    now: t,
    forkedAt: w.forkedAt,
    expected: exit.expected,
    timedOut: w.timedOut,
    announcedBootError: w.bootError ?? null,
    code,
    wasReady: w.readyAt !== null,
    servingSameGeneration: sameGeneration,
    servingOtherGenerations: otherGenerations,
    booting,
    everServed: history.everServed,
    stopping: exit.stopping,
    streak: history.streak,
    lastFailureAt: history.lastFailureAt,
  });
  switch (verdict.kind) {
    case 'timed-out':
      if (signal) log.error(`Worker (pid:${w.pid}) was killed after WORKER TIMEOUT (${signal})`);
      else log.error(`Worker (pid:${w.pid}) exited after WORKER TIMEOUT`);
      return null;
    case 'expected':
      return null;
    case 'halt':
      return { code: verdict.code, reason: verdict.reason };
    case 'generation-failed':
      if (!history.failedGenerations.has(w.generation)) {
        history.failedGenerations.add(w.generation);
        log.error(`New workers failed to boot; the ${serving} running workers keep serving until the next HUP`);
      }
      return null;
    case 'boot-failure':
      history.failed('boot-failure', verdict.streak, verdict.delayMs, t);
      if (verdict.delayMs > 0) {
        log.error(
          `Worker (pid:${w.pid}) failed to boot (exit ${verdict.code}; ${verdict.streak} in a row, ` +
            `${serving} workers serving); next attempt in ${(verdict.delayMs / 1000).toFixed(1)} s`,
        );
      }
      return null;
    case 'crash':
      if (signal) log.error(`Worker (pid:${w.pid}) was sent ${signal}!${OUT_OF_MEMORY[signal] ?? ''}`);
      else log.error(`Worker (pid:${w.pid}) exited with code ${code}`);
      history.failed('crash', verdict.streak, verdict.delayMs, t);
      if (verdict.streak > 1) {
        const next = (verdict.delayMs / 1000).toFixed(1);
        log.warning(`Workers keep dying right after boot (${verdict.streak} in a row); next start in ${next} s`);
      }
      return null;
  }
}
