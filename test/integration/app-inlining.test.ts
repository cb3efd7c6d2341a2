/**
 * The app's function is never compiled into the worker's own functions (src/worker/app-call.ts).
 * When V8 inlined a CPU-bound app into handleRequest, the app ran 3-4× slower whenever
 * handleRequest was recompiled. The worker runs with V8's --trace-turbo-inlining under load until
 * TurboFan has optimized handleRequest and the probe app; the only function the probe may have
 * been inlined into is the thunk that does nothing but call it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, start, waitFor } from './harness.js';
import { startLoad } from './load.js';

afterEach(cleanup);

/** `Inlining 0x… {0x… <SharedFunctionInfo callee>} into 0x… {0x… <SharedFunctionInfo caller>}`; no name for an anonymous function. */
const INLINING = /^Inlining .*<SharedFunctionInfo ?([^>]*)>\} into .*<SharedFunctionInfo ?([^>]*)>\}/;

function inlinings(stdout: string[]): { callee: string; caller: string }[] {
  const out: { callee: string; caller: string }[] = [];
  for (const line of stdout) {
    const m = INLINING.exec(line);
    if (m) out.push({ callee: m[1] || '(anonymous)', caller: m[2] || '(anonymous)' });
  }
  return out;
}

describe.each([
  ['node', 'inline-probe.mjs', 'inlineProbeApp'],
  ['fetch', 'inline-probe-fetch.mjs', 'inlineProbeFetch'],
])('%s interface', (_iface, fixture, probe) => {
  it(`${probe} is inlined only into the thunk that calls it, never into the worker's request path`, async () => {
    const s = start([fixture, '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug'], { nodeArgs: ['--trace-turbo-inlining'] });
    const port = await s.port();
    await s.readyWorkers(1);
    const load = startLoad({ url: `http://127.0.0.1:${port}/`, concurrency: 8, durationMs: 30_000, maxRequests: 400_000, keepAlive: true });
    try {
      // Both must have happened, or the check below would pass without testing anything.
      await waitFor(
        'TurboFan to optimize handleRequest and to inline the probe',
        () => {
          const seen = inlinings(s.stdout);
          // Something inlined into the probe: TurboFan has compiled it.
          return seen.some((i) => i.caller === 'handleRequest') && seen.some((i) => i.callee === probe || i.caller === probe);
        },
        30_000,
        100,
      );
    } finally {
      const r = await load.stop();
      expect(r.ok).toBeGreaterThan(0);
    }
    const into = new Set(inlinings(s.stdout).filter((i) => i.callee === probe).map((i) => i.caller));
    into.delete('appThunk');
    expect([...into], `${probe} was compiled into these functions`).toEqual([]);
  }, 60_000);
});
