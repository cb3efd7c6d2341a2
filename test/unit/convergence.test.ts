/** The convergence rule: spawn up to the target, retire old workers only as new ones are ready. */
import { describe, expect, it } from 'vitest';
import { type PlanWorker, planConvergence } from '../../src/arbiter/decisions/convergence.js';

const w = (generation: number, ready: boolean, forkedAt: number): PlanWorker & { id: string } => ({
  id: `g${generation}@${forkedAt}`,
  generation,
  ready,
  forkedAt,
});
const base = { generation: 1, target: 2, winched: false, failed: false, maySpawn: true };
const ids = (plan: ReturnType<typeof planConvergence<ReturnType<typeof w>>>) =>
  plan.retire.map((r) => `${r.worker.id}:${r.reason}`);

describe('planConvergence', () => {
  it('spawns up to the target, and not during the backoff', () => {
    expect(planConvergence({ ...base, live: [] }).spawn).toBe(2);
    expect(planConvergence({ ...base, live: [w(1, true, 1)] }).spawn).toBe(1);
    expect(planConvergence({ ...base, live: [], maySpawn: false }).spawn).toBe(0);
  });

  it('after a HUP: spawns the new generation and keeps every old worker until new ones are ready', () => {
    const old = [w(1, true, 1), w(1, true, 2)];
    const fresh = planConvergence({ ...base, generation: 2, live: old });
    expect(fresh.spawn).toBe(2);
    expect(fresh.retire).toEqual([]);
    // One new worker ready: exactly one old worker (the oldest) retires.
    const half = planConvergence({ ...base, generation: 2, live: [...old, w(2, true, 3), w(2, false, 4)] });
    expect(half.spawn).toBe(0);
    expect(ids(half)).toEqual(['g1@1:reload']);
    // Both ready: the rest go.
    expect(ids(planConvergence({ ...base, generation: 2, live: [old[1]!, w(2, true, 3), w(2, true, 4)] }))).toEqual([
      'g1@2:reload',
    ]);
  });

  it('old workers still booting are retired before ready ones', () => {
    const live = [w(1, true, 1), w(1, false, 2), w(2, true, 3)];
    expect(ids(planConvergence({ ...base, generation: 2, live }))).toEqual(['g1@2:reload']);
  });

  it('a failed generation spawns nothing more and retires no old worker while old ones serve', () => {
    const live = [w(1, true, 1), w(1, true, 2)];
    const plan = planConvergence({ ...base, generation: 2, failed: true, live });
    expect(plan).toEqual({ spawn: 0, retire: [] });
    // With nothing left serving, it keeps trying (under the backoff).
    expect(planConvergence({ ...base, generation: 2, failed: true, live: [] }).spawn).toBe(2);
  });

  it('a canary on trial: one worker of the new generation, and every old worker kept, ready or not', () => {
    const old = [w(1, true, 1), w(1, true, 2), w(1, true, 3)];
    expect(planConvergence({ ...base, target: 3, generation: 2, canary: true, live: old })).toEqual({
      spawn: 1,
      retire: [],
    });
    const serving = planConvergence({ ...base, target: 3, generation: 2, canary: true, live: [...old, w(2, true, 4)] });
    expect(serving).toEqual({ spawn: 0, retire: [] });
    // Passed: the rollover goes on as after any HUP.
    const passed = planConvergence({ ...base, target: 3, generation: 2, live: [...old, w(2, true, 4)] });
    expect(passed.spawn).toBe(2);
    expect(ids(passed)).toEqual(['g1@1:reload']);
    // Rolled back (the generation failed, the canary retired): nothing spawned, nothing retired.
    expect(planConvergence({ ...base, target: 3, generation: 2, failed: true, live: old })).toEqual({
      spawn: 0,
      retire: [],
    });
  });

  it('TTOU retires the oldest current workers; WINCH retires everything', () => {
    const live = [w(1, true, 5), w(1, true, 1), w(1, true, 3)];
    expect(ids(planConvergence({ ...base, target: 1, live }))).toEqual(['g1@1:scale', 'g1@3:scale']);
    const winched = planConvergence({ ...base, winched: true, live });
    expect(winched.spawn).toBe(0);
    expect(ids(winched)).toEqual(['g1@1:winch', 'g1@3:winch', 'g1@5:winch']);
  });
});
