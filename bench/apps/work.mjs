// The work behind the bench apps' endpoints, shared by the node and fetch interfaces
// so both do exactly the same thing per request.

/** Loop iterations for about 1 ms of CPU on the build box (AMD EPYC, Node 20): an FNV-style hash. */
export const CPU_ITERATIONS = 900_000;

let sink = 0;

/** About 1 ms of pure CPU; the result is kept so V8 cannot drop the loop. */
export function burnCpu(iterations = CPU_ITERATIONS) {
  let h = 2166136261;
  for (let i = 0; i < iterations; i++) h = Math.imul(h ^ i, 16777619);
  sink ^= h;
  return sink;
}

/** A 1 ms awaited wait, standing in for a database or upstream call. */
export const ioWait = () => new Promise((resolve) => setTimeout(resolve, 1));

export const HELLO = 'Hello, world!\n';
