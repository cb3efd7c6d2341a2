// CPU time of a server's whole process tree, for CPU per request. The parsing and arithmetic
// are pure (test/unit/bench-cpu.test.ts); treeCpu reads /proc.
import fs from 'node:fs';
import { children } from './proc.js';

/**
 * @typedef {{pid: number, utime: number, stime: number, cutime: number, cstime: number}} ProcCpu
 * Clock ticks from /proc/PID/stat: the process's own user and system time, and that of its
 * children it has waited for (reaped), recursively.
 */

/**
 * Fields 14–17 of a /proc/PID/stat line (after the command name, which may hold spaces and parentheses).
 * @param {number} pid @param {string} text
 * @returns {ProcCpu | null}
 */
export function parseStatCpu(pid, text) {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const f = text.slice(close + 2).split(' ');
  const n = (/** @type {number} */ i) => Number(f[i]);
  const cpu = { pid, utime: n(11), stime: n(12), cutime: n(13), cstime: n(14) };
  return [cpu.utime, cpu.stime, cpu.cutime, cpu.cstime].every(Number.isFinite) ? cpu : null;
}

/**
 * CPU ticks the tree has used since its root started: every process in it now (zombies too,
 * whose time is not yet in their parent's cutime), plus the processes that left it by exiting and
 * being reaped inside it, which the reaper's cutime/cstime holds. A worker replaced mid-run is so
 * counted whole: its time moves from its own entry into the arbiter's (or daemon's) cutime.
 * A process that left the tree while alive (reparented to init) is no longer counted.
 * @param {ProcCpu[]} procs
 */
export function treeTicks(procs) {
  return procs.reduce((s, p) => s + p.utime + p.stime + p.cutime + p.cstime, 0);
}

/**
 * Microseconds of server CPU per request between two readings of treeTicks; null with no requests.
 * @param {number} before @param {number} after @param {number} requests @param {number} [hz] USER_HZ
 */
export function cpuUsPerRequest(before, after, requests, hz = 100) {
  if (!(requests > 0) || after < before) return null;
  return ((after - before) * 1e6) / hz / requests;
}

/**
 * The root and every descendant, zombies included, with their CPU ticks.
 * @param {number} root
 * @returns {ProcCpu[]}
 */
export function treeCpu(root) {
  const pids = [root];
  for (let i = 0; i < pids.length; i++) pids.push(...children(/** @type {number} */ (pids[i])));
  /** @type {ProcCpu[]} */
  const out = [];
  for (const pid of pids) {
    try {
      const c = parseStatCpu(pid, fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
      if (c) out.push(c);
    } catch {
      // Reaped between the listing and the read: its time is now in the parent's cutime.
    }
  }
  return out;
}
