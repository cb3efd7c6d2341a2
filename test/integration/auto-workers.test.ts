/**
 * `-w auto` with real limits: a CPU affinity mask (taskset), a cgroup CPU
 * quota (cpu.max, or cpu.cfs_quota_us on a v1 host), and a cgroup memory limit.
 * Each test checks the logged decision and the worker processes that run.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { type TestCgroup, makeCgroup } from './cgroup.js';
import { cleanup, get, start, waitFor } from './harness.js';

const cgroups: TestCgroup[] = [];
afterEach(async () => {
  await cleanup();
  for (const cg of cgroups.splice(0)) await cg.remove();
});

const ARGS = ['node-app.mjs', '-w', 'auto', '-b', '127.0.0.1:0', '--log-level', 'debug'];
const hasTaskset = spawnSync('taskset', ['-V']).status === 0;
const MB = 1048576;

/** Starts a server, waits for `n` ready workers and checks that exactly `n` worker processes run and serve. */
async function expectWorkers(s: ReturnType<typeof start>, n: number): Promise<void> {
  await s.readyWorkers(n);
  await waitFor(`${n} worker processes (have ${s.workers().length})`, () => s.workers().length === n);
  expect((await get(`http://127.0.0.1:${await s.port()}/`)).status).toBe(200);
  // All workers of a decision are forked in one loop turn: none is still to come.
  expect(s.workers()).toHaveLength(n);
}

describe('-w auto', () => {
  it('without limits: as many workers as the CPUs the process may use, and one log line saying why', async () => {
    const cpus = os.availableParallelism();
    const s = start(ARGS);
    const line = `Workers \\(auto\\): ${cpus} \\(CPU affinity ${cpus}, no CPU quota: ${cpus} CPUs?; no memory limit\\)`;
    await s.waitLog(new RegExp(line));
    await expectWorkers(s, cpus);
  });

  it('under taskset -c 0: exactly one worker; WEB_CONCURRENCY=auto is the same', async (ctx) => {
    if (!hasTaskset) ctx.skip('taskset (util-linux) is not installed');
    const s = start(ARGS, { wrap: ['taskset', '-c', '0'] });
    await s.waitLog(/Workers \(auto\): 1 \(CPU affinity 1, /);
    await expectWorkers(s, 1);
    const noFlag = ARGS.filter((a) => a !== '-w' && a !== 'auto');
    const e = start(noFlag, { wrap: ['taskset', '-c', '0'], env: { WEB_CONCURRENCY: 'auto' } });
    await e.waitLog(/Workers \(auto\): 1 \(CPU affinity 1, /);
    await expectWorkers(e, 1);
  });

  it('in a cgroup with cpu.max 150000 100000: 2 workers; a HUP after the quota drops to 0.5 CPU: 1', async (ctx) => {
    const made = makeCgroup('cpu');
    if (!('cgroup' in made)) return ctx.skip(`cannot make a cgroup with a CPU quota: ${made.why}`);
    const cg = made.cgroup;
    cgroups.push(cg);
    cg.setCpuMax(150_000, 100_000);
    const expected = Math.min(2, os.availableParallelism());
    const s = start(ARGS, { wrap: cg.wrap });
    const quota = 'CPU quota 1.5 \\(cpu.max 150000 100000\\)';
    await s.waitLog(new RegExp(`Workers \\(auto\\): ${expected} \\(CPU affinity \\d+, ${quota}: ${expected} CPUs?;`));
    await expectWorkers(s, expected);

    cg.setCpuMax(50_000, 100_000);
    s.signal('SIGHUP');
    await s.waitLog(/Workers \(auto\): 1 \(CPU affinity \d+, CPU quota 0.5 \(cpu.max 50000 100000\): 1 CPU;/);
    await waitFor(`1 worker after the HUP (have ${s.workers().length})`, () => s.workers().length === 1, 15_000);
  });

  it('under a cgroup memory limit: one worker is measured first, then no more than fit', async (ctx) => {
    const made = makeCgroup('memory');
    if (!('cgroup' in made)) return ctx.skip(`cannot make a cgroup with a memory limit: ${made.why}`);
    const cg = made.cgroup;
    cgroups.push(cg);
    cg.setMemoryMax(512 * MB);
    const cpus = os.availableParallelism();

    const s = start(ARGS, { wrap: cg.wrap });
    await s.waitLog(/Workers \(auto\): 1 \(.*; memory.max 512 MB, starting 1 worker to measure its RSS\)/);
    const fit = /memory.max 512 MB less 10 % and master RSS \d+ MB, at 1.5 x worker RSS \d+ MB each: (\d+) fit\)/;
    const m = await s.waitLog(new RegExp(`Workers \\(auto\\): (\\d+) \\(.*; ${fit.source}`));
    expect(Number(m[1])).toBe(Math.min(cpus, Number(m[2])));
    await expectWorkers(s, Number(m[1]));

    // A worker budget of --max-worker-memory 300 MB: (512 * 0.9 - master) / 300 is 1 worker, whatever the CPUs.
    const capped = start([...ARGS, '--max-worker-memory', '300'], { wrap: cg.wrap });
    await capped.waitLog(/Workers \(auto\): 1 \(.*at --max-worker-memory 300 MB each: 1 fit\)/);
    await expectWorkers(capped, 1);
  });
});
