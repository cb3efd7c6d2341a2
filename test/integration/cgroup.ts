/**
 * A throwaway child cgroup for tests that run a server under CPU or memory
 * limits. It is made under the test process's own cgroup (cgroup v2 where the
 * controller is enabled or can be, else a v1 hierarchy for the controller);
 * `why` says what made it impossible (not root, no such hierarchy, …).
 */
import fs from 'node:fs';
import path from 'node:path';
import { waitFor } from './harness.js';

export type Controller = 'cpu' | 'memory';

export interface TestCgroup {
  dir: string;
  version: 1 | 2;
  /** `sh -c` wrapper that moves the spawned process into the cgroup, then execs the rest. */
  wrap: string[];
  /** v2 `cpu.max` text, written in the hierarchy's own form. */
  setCpuMax(quota: number, period: number): void;
  setMemoryMax(bytes: number): void;
  /** Removes the cgroup once the processes in it are gone. */
  remove(): Promise<void>;
}

function mountFor(fstype: 'cgroup' | 'cgroup2', controller: Controller): { root: string; point: string } | null {
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const f = left.split(' ');
    const [type, , opts = ''] = right.split(' ');
    const matches = type === fstype && (fstype === 'cgroup2' || opts.split(',').includes(controller));
    if (matches) return { root: f[3]!, point: f[4]! };
  }
  return null;
}

function own(mount: { root: string; point: string }, cgroupPath: string): string {
  const inRoot = mount.root !== '/' && cgroupPath.startsWith(mount.root);
  const rel = inRoot ? cgroupPath.slice(mount.root.length) : cgroupPath;
  return path.join(mount.point, rel);
}

const errCode = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? String(err);

function make(parent: string, version: 1 | 2): TestCgroup {
  const dir = path.join(parent, `tsunicorn-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  fs.mkdirSync(dir);
  const write = (file: string, text: string) => fs.writeFileSync(path.join(dir, file), text);
  return {
    dir,
    version,
    wrap: ['/bin/sh', '-c', `echo $$ > '${path.join(dir, 'cgroup.procs')}' && exec "$0" "$@"`],
    setCpuMax(quota, period) {
      if (version === 2) return write('cpu.max', `${quota} ${period}`);
      write('cpu.cfs_period_us', String(period));
      write('cpu.cfs_quota_us', String(quota));
    },
    setMemoryMax(bytes) {
      write(version === 2 ? 'memory.max' : 'memory.limit_in_bytes', String(bytes));
    },
    async remove() {
      await waitFor(`cgroup ${dir} to be removable`, () => {
        try {
          fs.rmdirSync(dir);
          return true;
        } catch (err) {
          if (errCode(err) === 'ENOENT') return true;
          if (errCode(err) === 'EBUSY') return false;
          throw err;
        }
      });
    },
  };
}

function makeV2(parent: string, controller: Controller): { cgroup: TestCgroup } | { why: string } {
  let available: string[];
  try {
    available = fs.readFileSync(path.join(parent, 'cgroup.controllers'), 'utf8').split(/\s+/);
  } catch (err) {
    return { why: `cgroup v2: cannot read ${parent}/cgroup.controllers (${errCode(err)})` };
  }
  if (!available.includes(controller)) return { why: `cgroup v2: no ${controller} controller in ${parent}` };
  try {
    const subtree = path.join(parent, 'cgroup.subtree_control');
    const enabled = fs.readFileSync(subtree, 'utf8').split(/\s+/).includes(controller);
    if (!enabled) fs.writeFileSync(subtree, `+${controller}`);
    return { cgroup: make(parent, 2) };
  } catch (err) {
    return { why: `cgroup v2: cannot enable ${controller} or create a cgroup in ${parent} (${errCode(err)})` };
  }
}

export function makeCgroup(controller: Controller): { cgroup: TestCgroup } | { why: string } {
  if (process.platform !== 'linux') return { why: 'cgroups are Linux only' };
  let self: string;
  try {
    self = fs.readFileSync('/proc/self/cgroup', 'utf8');
  } catch (err) {
    return { why: `cannot read /proc/self/cgroup (${errCode(err)})` };
  }
  const reasons: string[] = [];
  const v2Path = /^0::(.*)$/m.exec(self)?.[1];
  const v2 = mountFor('cgroup2', controller);
  if (v2 && v2Path !== undefined) {
    // Our own cgroup first; then the hierarchy's root, which is exempt from the rule that a cgroup with
    // processes in it cannot enable controllers for its children (EBUSY).
    for (const parent of new Set([own(v2, v2Path), v2.point])) {
      const made = makeV2(parent, controller);
      if ('cgroup' in made) return made;
      reasons.push(made.why);
    }
  } else {
    reasons.push('no cgroup v2 hierarchy');
  }
  const v1Line = self
    .split('\n')
    .map((l) => /^\d+:([^:]+):(.*)$/.exec(l))
    .find((m) => m && m[1]!.split(',').includes(controller));
  const v1 = mountFor('cgroup', controller);
  if (v1 && v1Line) {
    try {
      return { cgroup: make(own(v1, v1Line[2]!), 1) };
    } catch (err) {
      reasons.push(`cgroup v1: cannot create a cgroup in ${own(v1, v1Line[2]!)} (${errCode(err)})`);
    }
  } else {
    reasons.push(`no cgroup v1 ${controller} hierarchy`);
  }
  return { why: reasons.join('; ') };
}
