/**
 * The convergence rule, as a pure function: given the live workers, the
 * current generation and the target, what to spawn and whom to retire. The
 * arbiter applies the plan; this module decides it, so the rule that keeps
 * reloads from dropping capacity can be tested without processes.
 *
 * - Spawn workers of the current generation up to the target, unless the
 *   spawn backoff is running, or the current generation failed to boot while
 *   older workers still serve (the next HUP starts a fresh one).
 * - Retire old-generation workers one for one as current ones report ready,
 *   so capacity never drops during a reload; old workers still booting go
 *   first, then the oldest.
 * - Retire the oldest current workers beyond the target (TTOU, WINCH).
 * - While the current generation is on trial (--reload-canary, canary-verdict.ts), run
 *   one worker of it and retire no old one.
 */
import type { RetireReason } from '../pool/worker-record.js';

export interface PlanWorker {
  generation: number;
  ready: boolean;
  forkedAt: number;
}

export interface PlanInput<W extends PlanWorker> {
  /** Workers booting or ready (not retiring, stopping or dead). */
  live: readonly W[];
  generation: number;
  target: number;
  /** WINCH: the target is 0 until the next HUP. */
  winched: boolean;
  /** The current generation failed to boot. */
  failed: boolean;
  /** False while the crash backoff delays spawning. */
  maySpawn: boolean;
  /** The current generation's first worker is a canary on trial (--reload-canary). */
  canary?: boolean;
}

export interface Plan<W> {
  spawn: number;
  retire: { worker: W; reason: RetireReason }[];
}

export function planConvergence<W extends PlanWorker>(input: PlanInput<W>): Plan<W> {
  const target = input.winched ? 0 : input.target;
  const current = input.live.filter((w) => w.generation === input.generation);
  const old = input.live.filter((w) => w.generation !== input.generation);
  const plan: Plan<W> = { spawn: 0, retire: [] };

  const currentTarget = input.canary ? Math.min(1, target) : target;
  if (current.length < currentTarget && input.maySpawn && (!input.failed || old.length === 0)) {
    plan.spawn = currentTarget - current.length;
  }
  const readyCurrent = current.filter((w) => w.ready).length;
  const keepOld = (input.failed || input.canary) && target > 0 ? old.length : Math.max(0, target - readyCurrent);
  const byRetirement = [...old].sort((a, b) => Number(a.ready) - Number(b.ready) || a.forkedAt - b.forkedAt);
  for (const worker of byRetirement.slice(0, Math.max(0, old.length - keepOld))) {
    plan.retire.push({ worker, reason: input.winched ? 'winch' : 'reload' });
  }
  if (current.length > target) {
    const oldest = [...current].sort((a, b) => a.forkedAt - b.forkedAt).slice(0, current.length - target);
    for (const worker of oldest) plan.retire.push({ worker, reason: input.winched ? 'winch' : 'scale' });
  }
  return plan;
}
