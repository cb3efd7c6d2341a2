/**
 * The phases of a worker process, in order: `hello` (waiting for the arbiter's boot message), `booting`
 * (hooks, app, handles), `serving`, `draining` (graceful stop: no new connections, in-flight work finishes)
 * and `exiting`. Every change of phase goes through `canEnter`; what a stop does is `stopTarget`'s decision.
 */
export type Phase = 'hello' | 'booting' | 'serving' | 'draining' | 'exiting';

const NEXT: Record<Phase, readonly Phase[]> = {
  hello: ['booting', 'exiting'],
  // A graceful stop drains once the server exists, even before it listens.
  booting: ['serving', 'draining', 'exiting'],
  serving: ['draining', 'exiting'],
  draining: ['exiting'],
  // A quick stop may be asked for again while one is under way; it runs again (the exit is what ends it).
  exiting: ['exiting'],
};

export function canEnter(from: Phase, to: Phase): boolean {
  return NEXT[from].includes(to);
}

/**
 * The phase a stop request leads to, or null to ignore it: a graceful stop while one is under way or while
 * exiting. A graceful stop with no server yet has nothing to drain, so it exits at once.
 */
export function stopTarget(phase: Phase, graceful: boolean, hasServer: boolean): Phase | null {
  if (graceful && (phase === 'draining' || phase === 'exiting')) return null;
  return graceful && hasServer ? 'draining' : 'exiting';
}
