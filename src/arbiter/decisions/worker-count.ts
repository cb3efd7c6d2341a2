/**
 * `-w auto` as a pure function: how many workers the process should run, from
 * what it may really use. Inputs are the texts the kernel gives (cgroup v2
 * form; cgroup-limits.ts converts v1) so every case is a table test:
 *
 * - CPUs: the affinity count, capped by each cgroup level's `cpu.max` quota
 *   (quota / period, rounded up: 1.5 CPUs runs 2 workers, as a worker that
 *   only gets half a CPU still serves); the tightest level wins.
 * - Memory: with a `memory.max` on any level, no more workers than fit beside
 *   the master once one worker has booted and reported its RSS. Until then the
 *   decision is `pending` and one worker runs: starting a CPU count of workers
 *   first could be what exhausts a small limit.
 */
import { MAX_WORKERS } from '../../config/settings.js';

export interface WorkerCountInput {
  /** CPUs in the process's affinity mask (os.availableParallelism()). */
  affinity: number;
  /** `cpu.max` of each cgroup level, own first: `max 100000` or `150000 100000`. */
  cpuMax: readonly string[];
  /** `memory.max` of each cgroup level: `max` or bytes. */
  memoryMax: readonly string[];
  /** The master's RSS, bytes. */
  masterRss: number;
  /** A booted worker's RSS as its heartbeat reported it, bytes; null until one has. */
  workerRss: number | null;
  /** --max-worker-memory in bytes (0: unset): the most a worker may hold, so its budget when set. */
  maxWorkerMemory: number;
}

export interface WorkerCount {
  workers: number;
  /** CPUs the process may use: affinity capped by the quota. */
  cpus: number;
  /** The tightest CPU quota in CPUs (fractional), or null for none. */
  quota: number | null;
  /** The tightest memory limit in bytes, or null for none. */
  memoryLimit: number | null;
  /** Workers that fit in memoryLimit, once a worker's RSS is known. */
  memoryFit: number | null;
  /** A memory limit applies and no worker has reported its RSS yet. */
  pending: boolean;
}

/** Of the memory limit, what is left for the kernel's own use of the cgroup (page cache, socket buffers). */
const MEMORY_HEADROOM = 0.1;
/** A worker's RSS grows from what it holds just after boot (heap, buffers under load); budget this much more. */
const WORKER_GROWTH = 1.5;

/** CPUs a `cpu.max` text allows (quota / period), or null for `max` or text that does not parse. */
export function parseCpuMax(text: string): number | null {
  const m = /^\s*(max|\d+)(?:\s+(\d+))?\s*$/.exec(text);
  if (!m || m[1] === 'max') return null;
  const quota = Number(m[1]);
  const period = m[2] === undefined ? 100_000 : Number(m[2]);
  return quota > 0 && period > 0 ? quota / period : null;
}

/** Bytes a `memory.max` text allows, or null for `max` or text that does not parse. */
export function parseMemoryMax(text: string): number | null {
  const m = /^\s*(\d+)\s*$/.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  return n > 0 ? n : null;
}

function tightest(values: (number | null)[]): number | null {
  const set = values.filter((v): v is number => v !== null);
  return set.length ? Math.min(...set) : null;
}

export function decideWorkerCount(input: WorkerCountInput): WorkerCount {
  const affinity = Math.max(1, Math.floor(input.affinity) || 1);
  const quota = tightest(input.cpuMax.map(parseCpuMax));
  // A quota a hair over a whole CPU count (rounding in the kernel's text) must not add a worker.
  const allowed = quota === null ? affinity : Math.max(1, Math.min(affinity, Math.ceil(quota - 1e-9)));
  const cpus = Math.min(MAX_WORKERS, allowed);
  const memoryLimit = tightest(input.memoryMax.map(parseMemoryMax));
  if (memoryLimit === null) return { workers: cpus, cpus, quota, memoryLimit, memoryFit: null, pending: false };
  if (input.workerRss === null || input.workerRss <= 0) {
    return { workers: 1, cpus, quota, memoryLimit, memoryFit: null, pending: true };
  }
  const budget = input.maxWorkerMemory > 0 ? input.maxWorkerMemory : input.workerRss * WORKER_GROWTH;
  const usable = memoryLimit * (1 - MEMORY_HEADROOM) - input.masterRss;
  const memoryFit = Math.max(1, Math.floor(usable / budget));
  return { workers: Math.min(cpus, memoryFit), cpus, quota, memoryLimit, memoryFit, pending: false };
}

const mb = (bytes: number): string => `${Math.round(bytes / 1048576)} MB`;

/** The one log line: the decision and what it came from. */
export function describeWorkerCount(d: WorkerCount, input: WorkerCountInput): string {
  const quotaText = input.cpuMax.find((t) => parseCpuMax(t) === d.quota)?.trim();
  const cpu = d.quota === null ? 'no CPU quota' : `CPU quota ${Number(d.quota.toFixed(3))} (cpu.max ${quotaText})`;
  let memory = 'no memory limit';
  if (d.memoryLimit !== null) {
    memory = `memory.max ${mb(d.memoryLimit)}`;
    if (d.pending) memory += ', starting 1 worker to measure its RSS';
    else if (input.workerRss !== null) {
      const per =
        input.maxWorkerMemory > 0
          ? `--max-worker-memory ${mb(input.maxWorkerMemory)}`
          : `${WORKER_GROWTH} x worker RSS ${mb(input.workerRss)}`;
      memory +=
        ` less ${MEMORY_HEADROOM * 100} % and master RSS ${mb(input.masterRss)}, ` +
        `at ${per} each: ${d.memoryFit} fit`;
    }
  }
  const affinity = Math.max(1, Math.floor(input.affinity) || 1);
  const cpus = `${d.cpus} CPU${d.cpus === 1 ? '' : 's'}`;
  return `Workers (auto): ${d.workers} (CPU affinity ${affinity}, ${cpu}: ${cpus}; ${memory})`;
}
