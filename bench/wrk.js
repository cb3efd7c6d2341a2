// Running wrk and reading its report (requests/s, latency percentiles, errors).
import { execFileSync, spawn } from 'node:child_process';
import { TICKS_PER_SECOND, cpuTicks } from './proc.js';

/**
 * @typedef {object} WrkOptions
 * @property {string} url
 * @property {number} durationSec
 * @property {number} connections
 * @property {number} threads
 * @property {boolean} close        send `Connection: close` on every request
 * @property {string} [cpus]        run wrk on these CPUs only (taskset -c), as `run.js --pin` does
 */

/**
 * @typedef {object} WrkResult
 * @property {number} rps                 Requests/sec
 * @property {number} requests
 * @property {number} seconds
 * @property {Record<string, number>} latencyMs   p50, p75, p90, p99 and avg, max
 * @property {{connect: number, read: number, write: number, timeout: number}} socketErrors
 * @property {number} non2xx
 * @property {number} wrkCpu              wrk's own CPU use over the run, in cores (1 = one core busy)
 * @property {number} wrkTicks            wrk's CPU time in clock ticks (last reading before it exited)
 * @property {string} command
 */

/**
 * The argument vector for one run; the report prints it verbatim.
 * @param {WrkOptions} o
 */
export function wrkArgs(o) {
  const args = [`-t${o.threads}`, `-c${o.connections}`, `-d${o.durationSec}s`, '--latency'];
  if (o.close) args.push('-H', 'Connection: close');
  args.push(o.url);
  return args;
}

/** @param {string[]} args */
export function formatCommand(args) {
  return ['wrk', ...args.map((a) => (/[^\w@%+=:,./-]/.test(a) ? `'${a}'` : a))].join(' ');
}

/** @param {string} text e.g. `1.05ms`, `234.52us`, `2.00s` */
function toMs(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return Number.NaN;
  const v = Number(m[1]);
  return { us: v / 1000, ms: v, s: v * 1000, m: v * 60_000 }[/** @type {'us'|'ms'|'s'|'m'} */ (m[2])];
}

/**
 * Parses wrk 4.x output.
 * @param {string} out
 * @returns {Omit<WrkResult, 'wrkCpu' | 'wrkTicks' | 'command'>}
 */
export function parseWrk(out) {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  const total = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)/m.exec(out);
  if (!rps || !total) throw new Error(`cannot parse wrk output:\n${out}`);
  /** @type {Record<string, number>} */
  const latencyMs = {};
  const lat = /^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)/m.exec(out);
  if (lat) {
    latencyMs.avg = toMs(/** @type {string} */ (lat[1]));
    latencyMs.max = toMs(/** @type {string} */ (lat[3]));
  }
  for (const m of out.matchAll(/^\s*(50|75|90|99)%\s+(\S+)/gm))
    latencyMs[`p${m[1]}`] = toMs(/** @type {string} */ (m[2]));
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return {
    rps: Number(rps[1]),
    requests: Number(total[1]),
    seconds: toMs(`${total[2]}${total[3]}`) / 1000,
    latencyMs,
    socketErrors: errs
      ? { connect: Number(errs[1]), read: Number(errs[2]), write: Number(errs[3]), timeout: Number(errs[4]) }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
    non2xx: non2xx ? Number(non2xx[1]) : 0,
  };
}

/**
 * Runs wrk once. Bounded: wrk is killed (by its pid) if it overruns its duration by 15 s.
 * @param {WrkOptions} o
 * @returns {Promise<WrkResult>}
 */
export function runWrk(o) {
  const args = wrkArgs(o);
  return new Promise((resolve, reject) => {
    // taskset execs wrk: the pid, and the CPU time read from it, are wrk's.
    const [cmd, argv] = o.cpus ? ['taskset', ['-c', o.cpus, 'wrk', ...args]] : ['wrk', args];
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const pid = /** @type {number} */ (child.pid);
    const t0 = performance.now();
    let lastTicks = 0;
    // wrk's CPU time must be read before it exits (its /proc entry goes with it).
    const poll = setInterval(() => {
      const t = cpuTicks(pid);
      if (t > 0) lastTicks = t;
    }, 100);
    const guard = setTimeout(() => child.kill('SIGKILL'), (o.durationSec + 15) * 1000);
    child.on('error', (e) => {
      clearInterval(poll);
      clearTimeout(guard);
      reject(e);
    });
    child.on('close', (code) => {
      clearInterval(poll);
      clearTimeout(guard);
      const wall = (performance.now() - t0) / 1000;
      if (code !== 0) return reject(new Error(`wrk exited with ${code}: ${err.trim() || out.trim()}`));
      try {
        resolve({
          ...parseWrk(out),
          wrkCpu: lastTicks / TICKS_PER_SECOND / wall,
          wrkTicks: lastTicks,
          command: formatCommand(args),
        });
      } catch (e) {
        reject(e);
      }
    });
  });
}

/** `wrk 4.1.0` or null when wrk is not installed. */
export function wrkVersion() {
  try {
    // wrk -v prints its version and usage, and exits 1.
    execFileSync('wrk', ['-v'], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const out = String(/** @type {{stdout?: Buffer}} */ (e).stdout ?? '');
    const m = /^wrk (\S+)/m.exec(out);
    if (m) return `wrk ${m[1]}`;
    if (/** @type {NodeJS.ErrnoException} */ (e).code === 'ENOENT') return null;
  }
  return 'wrk (unknown version)';
}
