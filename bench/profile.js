#!/usr/bin/env node
// CPU profile of a tsunicorn worker under load. Node 20 refuses --cpu-prof in
// NODE_OPTIONS, but node:cluster workers inherit the master's execArgv (tsunicorn adds
// only an --inspect-port), so `node --cpu-prof --cpu-prof-dir=DIR bin/tsunicorn.js ...`
// makes every process write a .cpuprofile when it exits. After a graceful stop the
// busiest worker's profile is summarised by self time.
//   node bench/profile.js [--app bench/apps/hello.mjs] [--path /] [--seconds 5] [--close] [--keep]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, freePort, tsuArgs, waitServing } from './servers.js';
import { runWrk } from './wrk.js';

/**
 * @typedef {object} ProfileSummary
 * @property {string} app
 * @property {string} command
 * @property {string} load
 * @property {number} rps           req/s during the profiled run (profiling slows it down)
 * @property {number} totalMs       wall time covered by the worker's profile
 * @property {number} busyMs        non-idle time
 * @property {{category: string, ms: number, pctBusy: number}[]} categories
 * @property {{fn: string, where: string, category: string, ms: number, pctBusy: number}[]} top
 * @property {{fn: string, ms: number, pctBusy: number}[]} inclusive   selected frames, with callees
 */

/**
 * @typedef {{id: number, callFrame: {functionName: string, url: string, lineNumber: number}, children?: number[]}} ProfNode
 * @typedef {{nodes: ProfNode[], startTime: number, samples: number[], timeDeltas: number[]}} CpuProfile
 */

/** @param {string} fn @param {string} url */
function category(fn, url) {
  if (fn === '(idle)' || fn === '(program)' || fn === '(garbage collector)') return fn;
  if (url.startsWith('node:')) return 'Node.js internals (JS)';
  if (url.includes('/dist/')) return 'tsunicorn (dist/)';
  if (url.includes('/bench/apps/')) return 'the app';
  if (url.includes('/node_modules/')) return 'dependencies';
  return 'native / V8 builtins';
}

/** @param {string} url */
function shortUrl(url) {
  if (!url) return '';
  if (url.startsWith('node:')) return url;
  // Paths relative to the project (the bench may run a frozen copy of dist/ from a temp dir).
  const m = /\/((?:dist|bench|node_modules)\/.*)$/.exec(url);
  return m ? /** @type {string} */ (m[1]) : url.replace(/^file:\/\//, '');
}

/**
 * Self time per function and per category; inclusive time of a few frames of interest.
 * `window` (µs on CLOCK_MONOTONIC, the clock of V8's profile timestamps and of
 * process.hrtime) keeps only the samples taken under load, leaving out boot and stop.
 * @param {CpuProfile} prof
 * @param {{top?: number, window?: {fromUs: number, toUs: number}}} [opts]
 */
export function summarise(prof, opts = {}) {
  /** @type {Map<number, ProfNode>} */
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  /** @type {Map<number, number>} */
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  /** @type {Map<number, number>} */
  const selfUs = new Map();
  // timeDeltas[i] is the time since the previous sample; charge it to the sample that ends the interval.
  let t = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    const id = /** @type {number} */ (prof.samples[i]);
    const dt = Math.max(0, prof.timeDeltas[i] ?? 0);
    t += dt;
    if (opts.window && (t < opts.window.fromUs || t > opts.window.toUs)) continue;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  }
  let total = 0;
  let idle = 0;
  /** @type {Map<string, {fn: string, where: string, category: string, us: number}>} */
  const fns = new Map();
  /** @type {Map<string, number>} */
  const cats = new Map();
  /** Inclusive time: every distinct frame on the sampled stack. */
  /** @type {Map<string, number>} */
  const incl = new Map();
  const inclKey = (/** @type {ProfNode} */ n) => {
    const f = n.callFrame;
    if (f.url.includes('/dist/worker/http/request-gate.js') && f.functionName === 'handleRequest')
      return 'tsunicorn request listener (RequestGate.handleRequest, app included)';
    if (f.url.includes('/dist/worker/app/fetch-adapter.js') && f.functionName === '')
      return 'fetch adapter (toRequestListener closure, app included)';
    if (f.url.includes('/bench/apps/') && (f.functionName === 'app' || f.functionName === 'fetch'))
      return 'the app function';
    if (f.url === 'node:_http_server' && f.functionName === 'parserOnIncoming')
      return 'node:http parserOnIncoming (request dispatch, all of the above)';
    if (f.functionName === '(garbage collector)') return '(garbage collector)';
    return null;
  };
  for (const [id, us] of selfUs) {
    const n = /** @type {ProfNode} */ (byId.get(id));
    const f = n.callFrame;
    const fn = f.functionName || '(anonymous)';
    total += us;
    if (fn === '(idle)') idle += us;
    const cat = category(fn, f.url);
    cats.set(cat, (cats.get(cat) ?? 0) + us);
    const where = f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : '';
    const key = `${fn}\u0000${where}`;
    const e = fns.get(key) ?? { fn, where, category: cat, us: 0 };
    e.us += us;
    fns.set(key, e);
    /** @type {Set<string>} */
    const seen = new Set();
    for (let cur = /** @type {number | undefined} */ (id); cur !== undefined; cur = parent.get(cur)) {
      const k = inclKey(/** @type {ProfNode} */ (byId.get(cur)));
      if (k && !seen.has(k)) {
        seen.add(k);
        incl.set(k, (incl.get(k) ?? 0) + us);
      }
    }
  }
  const busy = total - idle;
  const pct = (/** @type {number} */ us) => Math.round((1000 * us) / busy) / 10;
  const ms = (/** @type {number} */ us) => Math.round(us / 100) / 10;
  return {
    totalMs: ms(total),
    busyMs: ms(busy),
    categories: [...cats]
      .filter(([c]) => c !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .map(([c, us]) => ({ category: c, ms: ms(us), pctBusy: pct(us) })),
    top: [...fns.values()]
      .filter((e) => e.fn !== '(idle)')
      .sort((a, b) => b.us - a.us)
      .slice(0, opts.top ?? 20)
      .map((e) => ({ fn: e.fn, where: e.where, category: e.category, ms: ms(e.us), pctBusy: pct(e.us) })),
    inclusive: [...incl].sort((a, b) => b[1] - a[1]).map(([fn, us]) => ({ fn, ms: ms(us), pctBusy: pct(us) })),
  };
}

/**
 * Starts tsunicorn (2 async workers) with every process profiling, loads it, stops it
 * gracefully and summarises the busiest worker's profile.
 * @param {{app?: string, path?: string, seconds?: number, connections?: number, threads?: number, close?: boolean, keep?: boolean}} [o]
 * @returns {Promise<ProfileSummary>}
 */
export async function profileWorker(o = {}) {
  const app = o.app ?? 'bench/apps/hello.mjs';
  const seconds = o.seconds ?? 5;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-bench-prof-'));
  const port = await freePort();
  const args = tsuArgs(app, 'async', port);
  const profArgs = ['--cpu-prof', `--cpu-prof-dir=${dir}`];
  const { spawn } = await import('node:child_process');
  const startedAt = performance.now();
  const child = spawn(process.execPath, [...profArgs, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (c) => (log = (log + c).slice(-4096)));
  const exited = new Promise((r) => child.once('exit', r));
  const pid = /** @type {number} */ (child.pid);
  let rps = 0;
  let load = '';
  const window = { fromUs: 0, toUs: 0 };
  try {
    await waitServing(
      {
        id: 'tsunicorn (profiling)',
        label: '',
        runtime: 'node',
        servingProcesses: 2,
        workloads: [],
        display: () => '',
        start: async () => {
          throw new Error('unused');
        },
      },
      { pid, startedAt, log: () => log, stop: async () => {} },
      port,
    );
    const w = {
      url: `http://127.0.0.1:${port}${o.path ?? '/'}`,
      durationSec: seconds,
      connections: o.connections ?? 50,
      threads: o.threads ?? 1,
      close: o.close ?? false,
    };
    window.fromUs = Number(process.hrtime.bigint() / 1000n) + 500_000; // Skip wrk's connect phase.
    const res = await runWrk(w);
    window.toUs = Number(process.hrtime.bigint() / 1000n) - 200_000;
    rps = res.rps;
    load = res.command;
  } finally {
    child.kill('SIGTERM');
    const ok = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 20_000))]);
    if (!ok) child.kill('SIGKILL');
  }
  // The master's profile carries its pid; a worker's carries another. Pick the busiest worker.
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile') && !f.includes(`.${pid}.`));
  if (files.length === 0) throw new Error(`no worker profile written in ${dir}; tsunicorn log:\n${log}`);
  /** @type {ReturnType<typeof summarise> | null} */
  let best = null;
  for (const f of files) {
    const s = summarise(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')), { window });
    if (!best || s.busyMs > best.busyMs) best = s;
  }
  if (o.keep) process.stderr.write(`profiles kept in ${dir}\n`);
  else fs.rmSync(dir, { recursive: true, force: true });
  return {
    app,
    command: `node --cpu-prof --cpu-prof-dir=DIR ${tsuArgs(app, 'async', 'PORT', true).join(' ')}`,
    load: load.replace(String(port), 'PORT'),
    rps,
    .../** @type {NonNullable<typeof best>} */ (best),
  };
}

/** @param {ProfileSummary} s */
export function formatProfile(s) {
  const lines = [
    `${s.app}: ${Math.round(s.rps)} req/s while profiling; under load the worker was busy ${s.busyMs} ms of ${s.totalMs} ms`,
  ];
  for (const c of s.categories) lines.push(`  ${c.pctBusy.toFixed(1).padStart(5)}%  ${c.category}`);
  lines.push('  top self time:');
  for (const t of s.top) lines.push(`  ${t.pctBusy.toFixed(1).padStart(5)}%  ${t.fn}  ${t.where}`);
  lines.push('  inclusive:');
  for (const t of s.inclusive) lines.push(`  ${t.pctBusy.toFixed(1).padStart(5)}%  ${t.fn}`);
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (/** @type {string} */ name) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const s = await profileWorker({
    app: opt('app'),
    path: opt('path'),
    seconds: Number(opt('seconds') ?? 5),
    close: args.includes('--close'),
    keep: args.includes('--keep'),
  });
  console.log(formatProfile(s));
}
