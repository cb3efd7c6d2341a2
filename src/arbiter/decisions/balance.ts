/**
 * Keep-alive connection balance between async workers.
 *
 * Workers accept from one shared socket, and whichever is awake first takes
 * every connection waiting (libuv accepts in a loop). A burst of keep-alive
 * connections (a load balancer filling its pool, a client opening 50 at
 * once) can land mostly on one worker, and stays there (docs/workers.md has
 * the numbers). A worker added by TTIN, or one that replaced a crashed worker,
 * gets none of the connections already open. Gunicorn and node:cluster
 * (SCHED_NONE) behave the same way.
 *
 * So on each heartbeat the arbiter compares a worker's open connections
 * with the fair share among ready workers; a worker over it by more than the
 * slack is told to answer that many requests with `Connection: close`. The
 * clients reconnect, and the kernel gives the new connections to whichever
 * worker accepts first, usually the less busy one. Nothing happens when the
 * workers are even, so a balanced server pays nothing.
 */

/** Connections a worker may hold over the fair share before it sheds any. */
export function slack(fairShare: number): number {
  return Math.max(2, Math.ceil(fairShare / 8));
}

/**
 * How many connections a worker holding `mine` should close, given every ready
 * worker's count (its own included). 0 when it is within its share and slack.
 * `exact`: no slack, for a canary on trial, which otherwise may get no keep-alive connection to be judged on.
 */
export function connectionsToShed(mine: number, readyCounts: readonly number[], exact = false): number {
  if (readyCounts.length < 2) return 0;
  const total = readyCounts.reduce((a, b) => a + b, 0);
  const fair = Math.ceil(total / readyCounts.length);
  return Math.max(0, mine - fair - (exact ? 0 : slack(fair)));
}
