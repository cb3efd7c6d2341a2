/**
 * Reads what `-w auto` decides from (worker-count.ts): the CPU affinity and
 * the `cpu.max` / `memory.max` of every cgroup level from the process's own up
 * to its hierarchy's root. cgroup v2 first; a v1 (or hybrid) `cpu` or `memory`
 * hierarchy is read too and given in v2 form, so older Docker hosts are sized
 * alike. Linux only: elsewhere, or where /proc and /sys are not readable, only
 * the affinity is known.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface CgroupLimits {
  affinity: number;
  cpuMax: string[];
  memoryMax: string[];
}

/** A v1 limit at or above this means none (the kernel's "unlimited" is PAGE_COUNTER_MAX pages, ~2^63 bytes). */
const V1_UNLIMITED = 2 ** 60;

function read(file: string): string | null {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

interface Mount {
  root: string;
  point: string;
  fstype: string;
  superOptions: string[];
}

/** /proc/self/mountinfo: `ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS`. */
function cgroupMounts(text: string): Mount[] {
  const decode = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const f = left.split(' ');
    const [fstype, , superOptions = ''] = right.split(' ');
    if ((fstype === 'cgroup' || fstype === 'cgroup2') && f[3] && f[4]) {
      out.push({ root: decode(f[3]), point: decode(f[4]), fstype, superOptions: superOptions.split(',') });
    }
  }
  return out;
}

/** The directories from the process's cgroup up to the mount point, own first. */
function levels(mount: Mount, cgroupPath: string): string[] {
  // Inside a cgroup namespace the path is already relative to the mount's root; outside, strip that root.
  const inRoot = mount.root !== '/' && cgroupPath.startsWith(mount.root);
  const rel = inRoot ? cgroupPath.slice(mount.root.length) : cgroupPath;
  const out: string[] = [];
  let dir = path.join(mount.point, rel);
  // A path that escapes the mount point (`..` in a deleted cgroup's name) is not followed.
  if (!dir.startsWith(mount.point)) return out;
  for (;;) {
    out.push(dir);
    if (dir === mount.point || dir === path.dirname(dir)) return out;
    dir = path.dirname(dir);
  }
}

function v1Bytes(text: string | null): string | null {
  if (text === null || !/^\d+$/.test(text)) return null;
  return Number(text) >= V1_UNLIMITED ? 'max' : text;
}

export function readCgroupLimits(): CgroupLimits {
  const limits: CgroupLimits = { affinity: os.availableParallelism(), cpuMax: [], memoryMax: [] };
  const self = read('/proc/self/cgroup');
  const mountinfo = read('/proc/self/mountinfo');
  if (self === null || mountinfo === null) return limits;
  const mounts = cgroupMounts(mountinfo);
  for (const line of self.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const controllers = m[2]!.split(',');
    const cgroupPath = m[3]!;
    if (m[1] === '0' && m[2] === '') {
      const mount = mounts.find((x) => x.fstype === 'cgroup2');
      if (!mount) continue;
      for (const dir of levels(mount, cgroupPath)) {
        const cpu = read(path.join(dir, 'cpu.max'));
        const memory = read(path.join(dir, 'memory.max'));
        if (cpu !== null) limits.cpuMax.push(cpu);
        if (memory !== null) limits.memoryMax.push(memory);
      }
      continue;
    }
    for (const controller of ['cpu', 'memory'] as const) {
      if (!controllers.includes(controller)) continue;
      const mount = mounts.find((x) => x.fstype === 'cgroup' && x.superOptions.includes(controller));
      if (!mount) continue;
      for (const dir of levels(mount, cgroupPath)) {
        if (controller === 'cpu') {
          const quota = read(path.join(dir, 'cpu.cfs_quota_us'));
          const period = read(path.join(dir, 'cpu.cfs_period_us'));
          if (quota !== null && period !== null) limits.cpuMax.push(`${Number(quota) < 0 ? 'max' : quota} ${period}`);
        } else {
          const bytes = v1Bytes(read(path.join(dir, 'memory.limit_in_bytes')));
          if (bytes !== null) limits.memoryMax.push(bytes);
        }
      }
    }
  }
  return limits;
}
