/**
 * The app's function is never compiled into the worker's own functions (src/worker/app/app-call.ts).
 * When V8 inlined a CPU-bound app into handleRequest, the app ran 3-4× slower whenever
 * handleRequest was recompiled.
 *
 * The guard, on every Node line: a CPU-bound app times its own work per call, under tsunicorn and
 * under bare node:http (the same function, in another process), in interleaved rounds; tsunicorn's
 * median time per call must stay near the baseline's. Which functions TurboFan inlines where
 * changes with V8, so the inlining-trace check below runs only on the V8 it was written for (Node 20's).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, cleanup, lineCollector, start, tmpDir, waitFor } from './harness.js';
import { startLoad } from './load.js';

afterEach(cleanup);

/** Sends `n` sequential requests and returns the app's self-reported microseconds per call. */
async function timings(client: Client, n: number, headers: Record<string, string> = {}): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await client.request({ path: `/r${i % 10}`, method: 'GET', headers });
    const body = await res.body.text();
    expect(res.statusCode).toBe(200);
    out.push(Number(body.split(' ')[0]));
  }
  return out;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('a CPU-bound app', () => {
  it('runs as fast per call under tsunicorn as under bare node:http', async () => {
    const s = start(['cpu-app.mjs', '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug']);
    const bareOut: string[] = [];
    const bareArgs = [path.join(FIXTURES, 'cpu-app.mjs')];
    const bare: ChildProcess = spawn(process.execPath, bareArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
    bare.stdout!.on('data', lineCollector(bareOut));
    const clients: Client[] = [];
    try {
      const port = await s.port();
      await s.readyWorkers(1);
      const portLine = await waitFor('bare server port', () => bareOut.find((l) => l.startsWith('port ')));
      const barePort = Number(portLine.slice(5));
      const tsu = new Client(`http://127.0.0.1:${port}`);
      const base = new Client(`http://127.0.0.1:${barePort}`);
      clients.push(tsu, base);
      // Warm-up: enough calls for TurboFan to optimize the app and the worker's request path.
      await timings(tsu, 600);
      await timings(base, 600);
      // Then a branch of the request path not taken so far (forwarding headers), so TurboFan
      // deoptimizes and recompiles it with the app's code in reach.
      const forwarded = { 'x-forwarded-for': '192.0.2.1', 'x-forwarded-proto': 'https', forwarded: 'for=192.0.2.1' };
      await timings(tsu, 300, forwarded);
      await timings(base, 300, forwarded);
      // Alternate call by call, so load from elsewhere on the box falls on both alike.
      const t: number[] = [];
      const b: number[] = [];
      for (let i = 0; i < 600; i++) {
        t.push(...(await timings(tsu, 1)));
        b.push(...(await timings(base, 1)));
      }
      const ratio = median(t) / median(b);
      // The inlining this guards against made each call 3-4× slower.
      expect(ratio, `median µs per call: tsunicorn ${median(t)}, bare node:http ${median(b)}`).toBeLessThan(1.5);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      bare.kill('SIGKILL');
    }
  }, 60_000);
});

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

// V8 11.3 (Node 20): TurboFan reliably optimizes handleRequest and the probe under this load there.
const TRACE_V8 = process.versions.v8.startsWith('11.3.');

describe.runIf(TRACE_V8).each([
  ['node', 'inline-probe.mjs', 'inlineProbeApp'],
  ['fetch', 'inline-probe-fetch.mjs', 'inlineProbeFetch'],
])('%s interface (V8 inlining trace)', (_iface, fixture, probe) => {
  it(`${probe} is inlined only into the thunk that calls it, never into the worker's request path`, async () => {
    // V8 prints the trace with C stdio into the stdout the worker inherits. Were that the harness's pipe, Node's
    // side of it is non-blocking, and lines a slow reader leaves no room for are lost: a file loses none.
    const trace = path.join(tmpDir(), 'trace.txt');
    const s = start([fixture, '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug'], {
      nodeArgs: ['--trace-turbo-inlining'],
      wrap: ['sh', '-c', `exec "$0" "$@" >'${trace}'`],
    });
    const traced = () => inlinings(fs.readFileSync(trace, 'utf8').split('\n'));
    const port = await s.port();
    await s.readyWorkers(1);
    const load = startLoad({
      url: `http://127.0.0.1:${port}/`,
      concurrency: 8,
      durationMs: 30_000,
      maxRequests: 400_000,
      keepAlive: true,
    });
    try {
      // Both must have happened, or the check below would pass without testing anything.
      await waitFor(
        () => {
          const seen = traced();
          const handler = seen.filter((i) => i.caller === 'handleRequest').length;
          const probed = seen.filter((i) => i.callee === probe || i.caller === probe).length;
          return `TurboFan to optimize handleRequest and to inline the probe (inlinings seen: ${seen.length}, into handleRequest ${handler}, of or into ${probe} ${probed})`;
        },
        () => {
          const seen = traced();
          // Something inlined into the probe: TurboFan has compiled it.
          return (
            seen.some((i) => i.caller === 'handleRequest') && seen.some((i) => i.callee === probe || i.caller === probe)
          );
        },
        30_000,
        100,
      );
    } finally {
      const r = await load.stop();
      expect(r.ok).toBeGreaterThan(0);
    }
    const into = new Set(
      traced()
        .filter((i) => i.callee === probe)
        .map((i) => i.caller),
    );
    into.delete('appThunk');
    expect([...into], `${probe} was compiled into these functions`).toEqual([]);
  }, 60_000);
});
