/** -w auto: the worker count from CPU affinity, cpu.max and memory.max (a pure function). */
import { describe, expect, it } from 'vitest';
import {
  type WorkerCountInput,
  decideWorkerCount,
  describeWorkerCount,
  parseCpuMax,
  parseMemoryMax,
} from '../../src/arbiter/decisions/worker-count.js';

const MB = 1048576;
const base: WorkerCountInput = {
  affinity: 8,
  cpuMax: [],
  memoryMax: [],
  masterRss: 60 * MB,
  workerRss: null,
  maxWorkerMemory: 0,
};

describe('parseCpuMax / parseMemoryMax', () => {
  it.each([
    ['max 100000', null],
    ['150000 100000', 1.5],
    ['50000 100000\n', 0.5],
    ['200000', 2],
    ['0 100000', null],
    ['garbage', null],
    ['', null],
  ])('cpu.max %j → %j', (text, cpus) => expect(parseCpuMax(text)).toBe(cpus));

  it.each([
    ['max', null],
    ['536870912', 512 * MB],
    ['0', null],
    ['-1', null],
  ])('memory.max %j → %j', (text, bytes) => expect(parseMemoryMax(text)).toBe(bytes));
});

describe('decideWorkerCount', () => {
  it.each<[string, Partial<WorkerCountInput>, number]>([
    ['affinity alone', {}, 8],
    ['taskset -c 0', { affinity: 1 }, 1],
    ['no quota on any level', { cpuMax: ['max 100000', 'max 100000'] }, 8],
    ['1.5 CPUs round up to 2', { cpuMax: ['150000 100000'] }, 2],
    ['half a CPU is still one worker', { cpuMax: ['50000 100000'] }, 1],
    ['a whole quota does not round up', { cpuMax: ['400000 100000'] }, 4],
    ['the tightest level wins (a parent)', { cpuMax: ['max 100000', '300000 100000', '600000 100000'] }, 3],
    ['affinity below the quota wins', { affinity: 2, cpuMax: ['400000 100000'] }, 2],
    ['a different period', { cpuMax: ['75000 50000'] }, 2],
    ['0 affinity (unknown) counts as 1', { affinity: 0 }, 1],
  ])('%s', (_name, input, workers) => {
    const d = decideWorkerCount({ ...base, ...input });
    expect(d.workers).toBe(workers);
    expect(d.pending).toBe(false);
  });

  it('under a memory limit, one worker until one has reported its RSS', () => {
    const d = decideWorkerCount({ ...base, memoryMax: ['max', String(1024 * MB)] });
    expect(d).toMatchObject({ workers: 1, cpus: 8, pending: true, memoryLimit: 1024 * MB });
  });

  it.each<[string, Partial<WorkerCountInput>, number, number]>([
    // (1024 * 0.9 - 60) / (50 * 1.5) = 11.49: memory is not the bound, CPUs are.
    ['a generous limit', { memoryMax: [String(1024 * MB)], workerRss: 50 * MB }, 8, 11],
    // (512 * 0.9 - 60) / 75 = 5.34
    ['memory below CPUs', { memoryMax: [String(512 * MB)], workerRss: 50 * MB }, 5, 5],
    // --max-worker-memory is the budget when set: (512 * 0.9 - 60) / 200 = 2.0
    [
      '--max-worker-memory budgets each worker',
      { memoryMax: [String(512 * MB)], workerRss: 50 * MB, maxWorkerMemory: 200 * MB },
      2,
      2,
    ],
    ['never below one worker', { memoryMax: [String(64 * MB)], workerRss: 80 * MB }, 1, 1],
    [
      'the tightest memory level wins',
      { memoryMax: ['max', String(256 * MB), String(4096 * MB)], workerRss: 40 * MB },
      2,
      2,
    ],
    [
      'both CPU and memory bind: the smaller',
      { cpuMax: ['150000 100000'], memoryMax: [String(2048 * MB)], workerRss: 50 * MB },
      2,
      23,
    ],
  ])('%s', (_name, input, workers, fit) => {
    const d = decideWorkerCount({ ...base, ...input });
    expect(d.workers).toBe(workers);
    expect(d.memoryFit).toBe(fit);
    expect(d.pending).toBe(false);
  });

  it('logs the decision with its inputs in one line', () => {
    const input = {
      ...base,
      affinity: 2,
      cpuMax: ['max 100000', '150000 100000'],
      memoryMax: [String(512 * MB)],
      workerRss: 50 * MB,
    };
    const line = describeWorkerCount(decideWorkerCount(input), input);
    expect(line).not.toContain('\n');
    expect(line).toBe(
      'Workers (auto): 2 (CPU affinity 2, CPU quota 1.5 (cpu.max 150000 100000): 2 CPUs; memory.max 512 MB ' +
        'less 10 % and master RSS 60 MB, at 1.5 x worker RSS 50 MB each: 5 fit)',
    );
    const plain = { ...base, affinity: 1 };
    expect(describeWorkerCount(decideWorkerCount(plain), plain)).toBe(
      'Workers (auto): 1 (CPU affinity 1, no CPU quota: 1 CPU; no memory limit)',
    );
  });
});
