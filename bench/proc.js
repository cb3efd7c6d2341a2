// Reading a server's process tree from /proc (Linux only): RSS, CPU ticks and socket
// counts per process, without help from the server.
import fs from 'node:fs';

/**
 * Children of a process, over all its threads (node:cluster forks from the main thread,
 * but a child may hang off any task).
 * @param {number} pid
 * @returns {number[]}
 */
export function children(pid) {
  /** @type {number[]} */
  const out = [];
  let tasks;
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const text = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) for (const c of text.split(/\s+/)) out.push(Number(c));
    } catch {
      // The task ended between readdir and read.
    }
  }
  return out;
}

/**
 * A process and all its descendants, root first.
 * @param {number} pid
 * @returns {number[]}
 */
export function tree(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...children(/** @type {number} */ (out[i])));
  return out.filter(alive);
}

/** @param {number} pid */
export function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/**
 * Resident set size in bytes (VmRSS), or 0 once the process is gone.
 * @param {number} pid
 */
export function rss(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * CPU time used so far (user + system), in clock ticks (USER_HZ, 100/s on Linux).
 * @param {number} pid
 */
export function cpuTicks(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may itself contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

export const TICKS_PER_SECOND = 100;

/**
 * Open sockets of a process (listening, IPC and client connections alike).
 * @param {number} pid
 */
export function socketCount(pid) {
  let n = 0;
  let fds;
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return 0;
  }
  for (const fd of fds) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // Closed meanwhile.
    }
  }
  return n;
}

/**
 * A snapshot of a server's tree: the root and each worker (the root's descendants).
 * @param {number} root
 */
export function snapshot(root) {
  const pids = tree(root);
  const procs = pids.map((pid) => ({ pid, rss: rss(pid), ticks: cpuTicks(pid), sockets: socketCount(pid) }));
  return { procs, totalRss: procs.reduce((s, p) => s + p.rss, 0) };
}

/**
 * CPU time the whole machine has spent in user and system mode, in clock ticks
 * (irq and softirq left out: loopback TCP work lands there and is not charged to any process).
 */
export function machineTicks() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/) ?? [];
    return Number(f[1]) + Number(f[2]) + Number(f[3]);
  } catch {
    return 0;
  }
}

/** One line: the machine's load average, to judge how quiet the box was. */
export function loadavg() {
  try {
    return fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return '';
  }
}

export function cpuModel() {
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? /** @type {string} */ (m[1]).trim() : 'unknown';
  } catch {
    return 'unknown';
  }
}
