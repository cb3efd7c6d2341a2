#!/usr/bin/env node
// `npm run bench`: tsunicorn against bare node:http, raw node:cluster (round-robin and
// SCHED_NONE), PM2 cluster mode and Gunicorn, in interleaved rounds (A B C … B C A …),
// driven by wrk on 127.0.0.1. Writes bench/results/latest.json and docs/benchmarks.md
// (with SVG charts), prints the targets (CPU per request) and exits 1 on a decided FAIL.
//
//   node bench/run.js [--quick] [--rounds 5] [--max-rounds 15] [--duration 3] [--warmup 1]
//                     [--connections 50] [--threads 1] [--workers 1] [--only id,id] [--skip id,id]
//                     [--workloads ka,close,io,cpu] [--hup-rounds 9] [--no-profile] [--quiet-wait 20]
//                     [--out FILE] [--no-docs] [--list] [--pin] [--build-b DIR]
// --quick: 2 rounds of 1 s runs, hello world only, no profile, no docs (under 2 minutes).
// --max-rounds N: after --rounds, more rounds of only the servers a still-undecided target compares
//   (within the A/A resolution of its goal, or its goal inside the median's 90 % CI), until none is or N.
// --quiet-wait S: before each server, wait up to S s for other processes to leave the CPU.
// --pin: servers on every CPU but the last, wrk on the last (taskset), so that the load generator and the
//   server never take each other's core; CPU per request varies less from run to run (docs/benchmarks.md).
// --build-b DIR: the A/A copies run the tsunicorn build in DIR (another checkout, built): their pairs then give
//   build B against this tree, in the same rounds. Targets are not judged, no docs, no extra rounds.
// Not part of CI: the full run takes 20–30 minutes and wants an otherwise idle box.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { profileWorker, formatProfile } from './profile.js';
import { cpuUsPerRequest, treeCpu, treeTicks } from './cpu.js';
import { cpuModel, loadavg, machineTicks, snapshot } from './proc.js';
import { writeReport } from './report.js';
import {
  ROOT,
  SERVERS,
  TSUNICORN,
  WORKLOADS,
  freePort,
  freezeBuildB,
  freezeTsunicorn,
  setWorkers,
  waitServing,
} from './servers.js';
import { PAIRS, combineRuns, evaluate, summarise, undecidedNeeds } from './stats.js';
import { runWrk, wrkArgs, formatCommand, wrkVersion } from './wrk.js';

/** @typedef {import('./servers.js').ServerDef} ServerDef */
/** @typedef {import('./servers.js').WorkloadId} WorkloadId */

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2);
const has = (/** @type {string} */ name) => argv.includes(`--${name}`);
/** @param {string} name */
function value(name) {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) die(`--${name} needs a value`);
  return v;
}
/** @param {string} name @param {number} dflt */
function num(name, dflt) {
  const v = value(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) die(`--${name} must be a non-negative number, not ${JSON.stringify(v)}`);
  return n;
}
/** @param {string} msg @returns {never} */
function die(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

const KNOWN = new Set([
  'quick',
  'rounds',
  'max-rounds',
  'duration',
  'warmup',
  'connections',
  'threads',
  'workers',
  'only',
  'skip',
  'workloads',
  'hup-rounds',
  'quiet-wait',
  'no-profile',
  'profile',
  'out',
  'no-docs',
  'docs',
  'list',
  'pin',
  'build-b',
  'help',
]);
for (const a of argv)
  if (a.startsWith('--') && !KNOWN.has(a.slice(2))) die(`unknown option ${a} (see the head of bench/run.js)`);

if (has('help')) {
  const head = fs
    .readFileSync(new URL(import.meta.url), 'utf8')
    .split('\n')
    .slice(1);
  head.length = head.findIndex((l) => !l.startsWith('//'));
  console.log(head.map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}
if (has('list')) {
  for (const s of SERVERS) console.log(`${s.id.padEnd(18)} ${s.label.padEnd(40)} ${s.workloads.join(',')}`);
  process.exit(0);
}

const quick = has('quick');
const buildBArg = value('build-b');
const buildB = buildBArg === undefined ? undefined : path.resolve(buildBArg);
if (buildB !== undefined) {
  for (const f of ['bin/tsunicorn.js', 'dist/cli.js'])
    if (!fs.existsSync(path.join(buildB, f))) die(`--build-b ${buildBArg}: no ${f} there (a built tsunicorn tree)`);
  if (has('docs')) die('--build-b runs write no docs: the A/A controls are not A/A');
}
const opts = {
  quick,
  rounds: Math.max(1, Math.floor(num('rounds', quick ? 2 : 5))),
  maxRounds: Math.floor(num('max-rounds', quick ? 0 : 15)),
  durationSec: Math.max(1, Math.round(num('duration', quick ? 1 : 3))),
  warmupSec: Math.round(num('warmup', 1)),
  connections: Math.max(1, Math.floor(num('connections', 50))),
  threads: Math.max(1, Math.floor(num('threads', 1))),
  hupRounds: Math.floor(num('hup-rounds', quick ? 3 : 9)),
  quietWaitSec: num('quiet-wait', quick ? 0 : 20),
  profile: has('profile') || (!quick && !has('no-profile')),
  out: path.resolve(
    ROOT,
    value('out') ??
      (buildB
        ? 'bench/results/tmp/build-b.json'
        : quick
          ? 'bench/results/tmp/quick.json'
          : 'bench/results/latest.json'),
  ),
  docs: buildB === undefined && (has('docs') || (!quick && !has('no-docs'))),
  pin: has('pin'),
  workers: Math.max(1, Math.floor(num('workers', 1))),
};
setWorkers(opts.workers);
// Extra rounds follow undecided targets, which a --build-b run does not judge.
opts.maxRounds = buildB ? opts.rounds : Math.max(opts.rounds, opts.maxRounds);
const only = value('only')?.split(',');
const skip = value('skip')?.split(',') ?? [];
for (const id of [...(only ?? []), ...skip])
  if (!SERVERS.some((s) => s.id === id)) die(`unknown server ${id}; --list shows them`);
const workloadIds = /** @type {WorkloadId[]} */ (
  value('workloads')?.split(',') ?? (quick ? ['ka', 'close'] : Object.keys(WORKLOADS))
);
for (const wl of workloadIds)
  if (!(wl in WORKLOADS)) die(`unknown workload ${wl}; one of ${Object.keys(WORKLOADS).join(', ')}`);
const servers = SERVERS.filter((s) => (!only || only.includes(s.id)) && !skip.includes(s.id)).map((s) => ({
  ...s,
  workloads: s.workloads.filter((wl) => workloadIds.includes(wl)),
}));
/** The servers a round runs one at a time; the rest are started only for their pairs. */
const roundServers = servers.filter((s) => !s.pairOnly);

// ---------------------------------------------------------------- preflight

/** @param {string} cmd */
function onPath(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Installs a Debian package as root, with a clear message; exits when that is impossible. */
function ensureDebian(/** @type {string} */ cmd, /** @type {string} */ pkg) {
  if (onPath(cmd)) return;
  const how = `apt-get install -y ${pkg}`;
  if (process.getuid?.() !== 0)
    die(`${cmd} is not installed; install it with \`sudo ${how}\` (Debian/Ubuntu) and run the bench again`);
  console.log(`bench: ${cmd} is not installed; running \`${how}\` …`);
  try {
    execFileSync('sh', ['-c', `${how} || (apt-get update && ${how})`], { stdio: 'inherit', timeout: 300_000 });
  } catch {
    die(`could not install ${pkg}; install it with \`${how}\` and run the bench again`);
  }
  if (!onPath(cmd)) die(`${pkg} was installed but ${cmd} is still not on PATH`);
}

function preflight() {
  if (process.platform !== 'linux') die('the bench reads /proc and runs on Linux only');
  if (!fs.existsSync(path.join(ROOT, 'dist/cli.js'))) die('tsunicorn is not built; run `npm run build` first');
  const newest = (/** @type {string} */ dir) => {
    let t = 0;
    for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
      if (e.isFile()) t = Math.max(t, fs.statSync(path.join(e.parentPath ?? e.path, e.name)).mtimeMs);
    }
    return t;
  };
  if (newest(path.join(ROOT, 'src')) > newest(path.join(ROOT, 'dist'))) {
    console.log('bench: warning: src/ is newer than dist/; run `npm run build` to bench the current code');
  }
  ensureDebian('wrk', 'wrk');
  if (servers.some((s) => s.needs?.includes('gunicorn'))) ensureDebian('gunicorn', 'gunicorn');
  if (servers.some((s) => s.needs?.includes('pm2')) && !fs.existsSync(path.join(ROOT, 'node_modules/.bin/pm2'))) {
    die('pm2 is not installed; run `npm install` (it is a devDependency)');
  }
}

/** @param {string} cmd @param {string[]} args */
function versionOf(cmd, args) {
  try {
    return (
      execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 })
        .trim()
        .split('\n')[0] ?? ''
    );
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------- one server, one round

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));
const MB = 1024 * 1024;

/**
 * CPU used by other processes over one second, in cores; repeated until it is below
 * 0.25 cores or maxSec has passed. Other people's test suites on a shared 2-core box
 * would otherwise land in the middle of a run.
 * @param {number} maxSec
 */
async function waitQuiet(maxSec) {
  const end = Date.now() + maxSec * 1000;
  for (;;) {
    const m0 = machineTicks();
    const s0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(1000); // A measuring window, not a wait for an event.
    const self = process.cpuUsage(s0);
    const busy =
      Math.max(0, machineTicks() - m0 - (self.user + self.system) / 10_000) / 100 / ((performance.now() - t0) / 1000);
    if (busy < 0.25 || Date.now() >= end) return round2(busy);
  }
}

/**
 * @typedef {object} Live  a started server of the round being measured
 * @property {ServerDef} def
 * @property {import('./servers.js').Running} run
 * @property {Record<string, unknown>} rec        what the run's JSON keeps of this server in this round
 * @property {(wl: WorkloadId) => Promise<void>} measure   one wrk run; its figures go into rec.results
 * @property {boolean} stopped
 */

/**
 * Starts a server, measures it at rest and warms it up. One that did not come up is stopped again, and
 * rec.error says why.
 * @param {ServerDef} def @param {number} round
 * @returns {Promise<Live>}
 */
async function startServer(def, round) {
  const port = await freePort();
  const run = await def.start(port);
  /** @type {Record<string, unknown>} */
  const rec = { server: def.id, round, port };
  /** @type {Record<string, unknown>} */
  const results = {};
  rec.results = results;
  try {
    const ready = await waitServing(def, run, port);
    rec.firstResponseMs = Math.round(ready.firstResponseMs);
    rec.allServingMs = ready.allServingMs === null ? null : Math.round(ready.allServingMs);
    if (ready.allServingMs === null)
      console.log(`  ${def.id}: warning: not every process answered within 10 s; loading anyway`);
    const rest = snapshot(run.pid);
    const workersOf = (/** @type {typeof rest.procs} */ procs) => (def.servingProcesses === 1 ? procs : procs.slice(1));
    rec.rest = {
      totalRss: rest.totalRss,
      rootRss: rest.procs[0]?.rss ?? 0,
      workerRss: workersOf(rest.procs).map((p) => p.rss),
      processes: rest.procs.length,
    };
    const url = (/** @type {string} */ p) => `http://127.0.0.1:${port}${p}`;
    const workerSockets = (/** @type {typeof rest.procs} */ procs) =>
      workersOf(procs).reduce((a, p) => a + p.sockets, 0);
    const restSockets = workerSockets(rest.procs);
    /**
     * Waits (polling, 5 s at most) until the last run's connections are closed on the server
     * side too: a worker still busy closing 50 sockets when the next burst of connections
     * arrives would let the other worker accept them all, and the baseline for counting
     * connections per worker would be off.
     */
    const settle = async () => {
      const end = Date.now() + 5_000;
      while (workerSockets(snapshot(run.pid).procs) > restSockets && Date.now() < end) await sleep(20);
    };
    if (opts.warmupSec > 0) {
      await runWrk({
        url: url('/'),
        durationSec: opts.warmupSec,
        connections: opts.connections,
        threads: opts.threads,
        close: false,
        cpus: pinned?.wrk,
      });
    }
    /** @param {WorkloadId} wl */
    const measure = async (wl) => {
      const w = WORKLOADS[wl];
      await settle();
      const before = snapshot(run.pid);
      const machine0 = machineTicks();
      const self0 = process.cpuUsage();
      let peakTotal = before.totalRss;
      let peakRoot = before.procs[0]?.rss ?? 0;
      /** @type {typeof before | null} */
      let mid = null;
      // The tree's CPU read last before wrk starts and first after it ends, exited workers included.
      const tree0 = treeTicks(treeCpu(run.pid));
      const t0 = performance.now();
      const sampler = setInterval(() => {
        const s = snapshot(run.pid);
        peakTotal = Math.max(peakTotal, s.totalRss);
        peakRoot = Math.max(peakRoot, s.procs[0]?.rss ?? 0);
        if (!mid && performance.now() - t0 >= (opts.durationSec * 1000) / 2) mid = s;
      }, 250);
      let res;
      try {
        res = await runWrk({
          url: url(w.path),
          durationSec: opts.durationSec,
          connections: opts.connections,
          threads: opts.threads,
          close: w.close,
          cpus: pinned?.wrk,
        });
      } finally {
        clearInterval(sampler);
      }
      const tree1 = treeTicks(treeCpu(run.pid));
      const wall = (performance.now() - t0) / 1000;
      const after = snapshot(run.pid);
      const selfUs = process.cpuUsage(self0);
      const ticks = (/** @type {number} */ pid) =>
        (after.procs.find((p) => p.pid === pid)?.ticks ?? 0) - (before.procs.find((p) => p.pid === pid)?.ticks ?? 0);
      const workerTicks = workersOf(before.procs).map((p) => ticks(p.pid));
      const sumW = workerTicks.reduce((a, b) => a + b, 0);
      /** @type {number | null} */
      let connShare = null;
      const midSnap = /** @type {typeof before | null} */ (mid);
      if (!w.close && midSnap && def.servingProcesses > 1) {
        const conns = workersOf(before.procs).map((p) =>
          Math.max(0, (midSnap.procs.find((q) => q.pid === p.pid)?.sockets ?? 0) - p.sockets),
        );
        const sumC = conns.reduce((a, b) => a + b, 0);
        if (sumC > 0) connShare = Math.max(...conns) / sumC;
      }
      /** @type {import('./stats.js').WorkloadRun & {requests: number, serverTicks: number}} */
      const one = {
        rps: Math.round(res.rps),
        latencyMs: res.latencyMs,
        socketErrors: res.socketErrors,
        non2xx: res.non2xx,
        wrkCpu: round2(res.wrkCpu),
        serverCpu: round2((tree1 - tree0) / 100 / wall),
        rootCpu: def.servingProcesses === 1 ? null : round2(ticks(before.procs[0]?.pid ?? 0) / 100 / wall),
        serverTicks: tree1 - tree0,
        requests: res.requests,
        cpuUsPerReq: round2(cpuUsPerRequest(tree0, tree1, res.requests) ?? Number.NaN),
        // CPU used by everything else on the machine (other users' tests, say) while this ran, in cores.
        foreignCpu: round2(
          Math.max(
            0,
            machineTicks() - machine0 - (tree1 - tree0) - res.wrkTicks - (selfUs.user + selfUs.system) / 10_000,
          ) /
            100 /
            wall,
        ),
        busiestWorkerCpuShare: def.servingProcesses > 1 && sumW > 0 ? round2(Math.max(...workerTicks) / sumW) : null,
        busiestWorkerConnShare: connShare === null ? null : round2(connShare),
        peakTotalRss: peakTotal,
        peakRootRss: peakRoot,
      };
      const prev = /** @type {typeof one | undefined} */ (results[wl]);
      results[wl] = prev ? combineRuns(prev, one) : one;
      const r = one;
      const errs = Object.values(r.socketErrors).reduce((a, b) => a + b, 0);
      console.log(
        `  ${def.id.padEnd(17)} ${wl.padEnd(5)} ${String(r.rps).padStart(7)} req/s  p99 ${fmtMs(r.latencyMs.p99)}` +
          `  ${String(/** @type {any} */ (r).cpuUsPerReq).padStart(6)} µs CPU/req  wrk ${res.wrkCpu.toFixed(2)} cores, server ${/** @type {any} */ (r).serverCpu.toFixed(2)}, other ${/** @type {any} */ (r).foreignCpu.toFixed(2)}` +
          (errs || r.non2xx ? `  (socket errors ${errs}, non-2xx ${r.non2xx})` : ''),
      );
    };
    rec.warmedRss = snapshot(run.pid).totalRss;
    return { def, run, rec, measure, stopped: false };
  } catch (e) {
    rec.error = e instanceof Error ? e.message : String(e);
    console.log(`  ${def.id}: ERROR ${rec.error}`);
    await run.stop();
    return { def, run, rec, measure: async () => {}, stopped: true };
  }
}

/** Simultaneous runs per pair and round (measurePair), after PAIR_WARMUP_RUNS not counted. */
const PAIR_RUNS = 3;
const PAIR_WARMUP_RUNS = 3;

/**
 * The list forwards in odd rounds and backwards in even ones: whichever of two servers runs first in a round,
 * each does equally often, and neighbours in the list stay neighbours (servers.js orders it so).
 * @template T @param {T[]} list @param {number} round
 */
const alternate = (list, round) => (round % 2 === 1 ? list : [...list].reverse());

/**
 * One round: every server of it started (and warmed up) in `order`, then each workload measured on each server in
 * that order and back again (combineRuns), then all stopped; then each of `pairKeys` afresh (freshPair). The runs
 * one at a time give req/s, latency and memory; CPU per request for the targets comes from the pairs, since this
 * box's speed changes within seconds (docs/benchmarks.md).
 * @param {ServerDef[]} order @param {number} round @param {import('./stats.js').PairKey[]} pairKeys
 */
async function benchRound(order, round, pairKeys) {
  /** @type {Live[]} */
  const live = [];
  try {
    for (const def of order) {
      if (interrupted) break;
      live.push(await startServer(def, round));
    }
    for (const wl of workloadIds) {
      const due = live.filter((s) => s.def.workloads.includes(wl) && !s.rec.error);
      if (due.length === 0 || interrupted) continue;
      const otherCpuBefore = opts.quietWaitSec > 0 ? await waitQuiet(opts.quietWaitSec) : null;
      // ABC…CBA: each server's figure is over a run on the way there and one on the way back.
      for (const s of [...due, ...due.toReversed()]) {
        if (interrupted) break;
        s.rec.otherCpuBefore ??= otherCpuBefore;
        try {
          await s.measure(wl);
        } catch (e) {
          s.rec.error = e instanceof Error ? e.message : String(e);
          console.log(`  ${s.def.id}: ERROR ${s.rec.error}`);
        }
      }
    }
  } finally {
    for (const s of live) if (!s.stopped) await s.run.stop();
  }
  for (const p of alternate(pairKeys, round)) {
    const [a, b] = [p.num, p.den].map((id) => servers.find((d) => d.id === id));
    if (!a || !b || interrupted) continue;
    const pair = await freshPair(a, b, /** @type {WorkloadId} */ (p.wl), round);
    if (pair) pairs.push({ round, ...p, ...pair });
  }
  return live.map((s) => s.rec);
}

/** The pairs whose servers both run this workload in this bench (--only, --skip, --workloads). */
const runnablePairs = PAIRS.filter((p) =>
  [p.num, p.den].every((id) =>
    servers.some((d) => d.id === id && d.workloads.includes(/** @type {WorkloadId} */ (p.wl))),
  ),
);

/**
 * Both servers of a pair started for it alone, so that neither has served more than the other: a server that has
 * served other runs for a minute costs measurably less per request than a fresh copy of itself (docs/benchmarks.md).
 * @param {ServerDef} defA @param {ServerDef} defB @param {WorkloadId} wl @param {number} round
 */
async function freshPair(defA, defB, wl, round) {
  // Which of the two starts first alternates by round: the first-started of a pair was seen to cost more.
  const [first, second] = alternate([defA, defB], round);
  const one = await startServer(/** @type {ServerDef} */ (first), round);
  const two = await startServer(/** @type {ServerDef} */ (second), round);
  const [a, b] = first === defA ? [one, two] : [two, one];
  try {
    return a.rec.error || b.rec.error ? null : await measurePair(a, b, wl);
  } finally {
    for (const s of [a, b]) if (!s.stopped) await s.run.stop();
  }
}

/**
 * CPU per request of two servers loaded at the same time, each by its own wrk with half the connections, over
 * PAIR_RUNS runs after PAIR_WARMUP_RUNS not counted. Whatever the box's speed does during a run, it does to both.
 * @param {Live} a @param {Live} b @param {WorkloadId} wl
 */
async function measurePair(a, b, wl) {
  const w = WORKLOADS[wl];
  const load = (/** @type {Live} */ s) =>
    runWrk({
      url: `http://127.0.0.1:${s.rec.port}${w.path}`,
      durationSec: opts.durationSec,
      connections: Math.max(1, Math.floor(opts.connections / 2)),
      threads: opts.threads,
      close: w.close,
      cpus: pinned?.wrk,
    });
  // Both warmed up together first (the runs one at a time in startServer are not counted either).
  for (let i = 0; i < PAIR_WARMUP_RUNS; i++) await Promise.all([load(a), load(b)]);
  const sum = { a: { ticks: 0, requests: 0 }, b: { ticks: 0, requests: 0 } };
  for (let i = 0; i < PAIR_RUNS; i++) {
    const a0 = treeTicks(treeCpu(a.run.pid));
    const b0 = treeTicks(treeCpu(b.run.pid));
    const [ra, rb] = await Promise.all([load(a), load(b)]);
    sum.a.ticks += treeTicks(treeCpu(a.run.pid)) - a0;
    sum.b.ticks += treeTicks(treeCpu(b.run.pid)) - b0;
    sum.a.requests += ra.requests;
    sum.b.requests += rb.requests;
  }
  const numUs = round2(cpuUsPerRequest(0, sum.a.ticks, sum.a.requests) ?? Number.NaN);
  const denUs = round2(cpuUsPerRequest(0, sum.b.ticks, sum.b.requests) ?? Number.NaN);
  console.log(
    `  pair ${a.def.id} / ${b.def.id} ${wl}: ${numUs} / ${denUs} µs CPU/req = ${(numUs / denUs).toFixed(3)}×`,
  );
  return { numUs, denUs, runs: PAIR_RUNS, warmupRuns: PAIR_WARMUP_RUNS };
}

const round2 = (/** @type {number} */ x) => Math.round(x * 100) / 100;
const fmtMs = (/** @type {number | undefined} */ ms) =>
  ms === undefined ? '?' : ms < 10 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(1)} ms`;

/**
 * An A/A control's per-round ratio: median, 90 % CI, rounds; with `spread`, the resolution it gives the targets.
 * @param {ReturnType<typeof evaluate>['control'][number]} k @param {boolean} spread
 */
function controlText(k, spread) {
  const what = k.metric === 'cpu' ? 'CPU per request' : 'req/s';
  const v = k.stat;
  if (!v) return `${what}: not measured`;
  const ci = v.ci
    ? `90 % CI ${v.ci.lo.toFixed(3)}–${v.ci.hi.toFixed(3)}`
    : `min–max ${v.min.toFixed(3)}–${v.max.toFixed(3)}, too few rounds for a CI`;
  const res = spread ? `; resolution ±${((k.floor ?? 0) * 100).toFixed(1)} %` : '';
  return `${what}: ${v.median.toFixed(3)}× (${ci}, ${v.n} rounds${res})`;
}

// ---------------------------------------------------------------- HUP rollover

/**
 * Runs the existing bench/hup-rollover.js and reads its JSON line.
 * @param {number} rounds
 */
function hupRollover(rounds) {
  return new Promise((resolve) => {
    // The copy in the frozen build (see freezeTsunicorn) runs that build's bin/tsunicorn.js.
    const script = path.join(TSUNICORN.root, 'bench/hup-rollover.js');
    const child = spawn(process.execPath, [script, '--rounds', String(rounds), '--workers', '4'], {
      cwd: TSUNICORN.root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000 + rounds * 20_000);
    child.on('close', () => {
      clearTimeout(guard);
      const line = out.split('\n').find((l) => l.startsWith('{'));
      try {
        resolve({ command: `node bench/hup-rollover.js --rounds ${rounds} --workers 4`, ...JSON.parse(line ?? '') });
      } catch {
        resolve({
          command: `node bench/hup-rollover.js --rounds ${rounds} --workers 4`,
          error: out.trim().slice(-2000) || 'no output',
        });
      }
    });
  });
}

/**
 * --pin: this process, and so every server it starts, on all CPUs but the last; wrk on the last.
 * @returns {{servers: string, wrk: string}}
 */
function pinCpus() {
  const n = os.availableParallelism();
  if (n < 2) die('--pin needs at least 2 CPUs');
  if (!onPath('taskset')) die('--pin needs taskset (util-linux)');
  const cpus = { servers: n === 2 ? '0' : `0-${n - 2}`, wrk: String(n - 1) };
  // -a: every thread, the main one included, from which children are spawned and inherit it.
  execFileSync('taskset', ['-a', '-p', '-c', cpus.servers, String(process.pid)], { stdio: 'ignore' });
  return cpus;
}

// ---------------------------------------------------------------- main

preflight();
// Before --pin narrows this process's CPUs (availableParallelism counts those).
const nproc = os.availableParallelism();
const pinned = opts.pin ? pinCpus() : null;
const unfreeze = freezeTsunicorn();
process.on('exit', unfreeze);
if (buildB) process.on('exit', freezeBuildB(buildB));
const started = Date.now();
const meta = {
  date: new Date().toISOString(),
  nproc,
  cpuModel: cpuModel(),
  memoryGB: Math.round(os.totalmem() / 1024 ** 3),
  kernel: os.release(),
  node: process.version,
  wrk: wrkVersion(),
  // From its package.json: any pm2 command, --version included, starts a daemon in ~/.pm2.
  pm2: servers.some((s) => s.id === 'pm2')
    ? JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules/pm2/package.json'), 'utf8')).version
    : null,
  gunicorn: servers.some((s) => s.runtime === 'python') ? versionOf('gunicorn', ['--version']) : null,
  python: servers.some((s) => s.runtime === 'python') ? versionOf('/usr/bin/python3', ['--version']) : null,
  tsunicorn: JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version,
  gitHead: versionOf('git', ['rev-parse', '--short', 'HEAD']),
  gitDirty: versionOf('git', ['status', '--porcelain', '--', 'src']) !== '',
  buildB: buildB ? { dir: buildB, gitHead: versionOf('git', ['-C', buildB, 'rev-parse', '--short', 'HEAD']) } : null,
  pinned,
};
const wrkExample = (/** @type {WorkloadId} */ wl) =>
  formatCommand(
    wrkArgs({
      url: `http://127.0.0.1:PORT${WORKLOADS[wl].path}`,
      durationSec: opts.durationSec,
      connections: opts.connections,
      threads: opts.threads,
      close: WORKLOADS[wl].close,
    }),
  );
const config = {
  ...opts,
  workloads: workloadIds,
  out: path.relative(ROOT, opts.out),
  order: roundServers.map((s) => s.id),
  servers: servers.map((s) => ({ id: s.id, label: s.label, command: s.display('$PORT'), workloads: s.workloads })),
  wrk: Object.fromEntries(
    Object.keys(WORKLOADS).map((wl) => [
      wl,
      { label: WORKLOADS[/** @type {WorkloadId} */ (wl)].label, command: wrkExample(/** @type {WorkloadId} */ (wl)) },
    ]),
  ),
  warmupCommand:
    opts.warmupSec > 0
      ? formatCommand(
          wrkArgs({
            url: 'http://127.0.0.1:PORT/',
            durationSec: opts.warmupSec,
            connections: opts.connections,
            threads: opts.threads,
            close: false,
          }),
        )
      : null,
};

console.log(`bench: ${meta.cpuModel}, ${meta.nproc} cores, Node ${meta.node}, ${meta.wrk}; load average ${loadavg()}`);
console.log(
  `bench: ${opts.rounds} rounds × ${roundServers.length} servers of ${opts.workers} worker(s), ` +
    `${opts.durationSec} s per run, ${opts.connections} connections, ${opts.threads} wrk thread(s)`,
);

/** @type {Record<string, unknown>[]} */
const runs = [];
/** @type {import('./stats.js').Pair[]} */
const pairs = [];
/** @type {{round: number, order: string[], loadBefore: string, loadAfter: string, seconds: number, extra?: boolean}[]} */
const rounds = [];
let interrupted = false;
const onSignal = () => {
  // The round's servers are stopped by benchRound's finally; then the loop ends.
  interrupted = true;
  console.log('\nbench: interrupted; stopping after the current run');
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

for (let r = 1; r <= opts.rounds && !interrupted; r++) {
  const t0 = Date.now();
  const loadBefore = loadavg();
  console.log(`round ${r}/${opts.rounds} (load average ${loadBefore})`);
  const order = alternate(roundServers, r);
  runs.push(...(await benchRound(order, r, runnablePairs)));
  rounds.push({
    round: r,
    order: order.map((d) => d.id),
    loadBefore,
    loadAfter: loadavg(),
    seconds: Math.round((Date.now() - t0) / 1000),
  });
}

// Extra rounds while a target is undecided: its goal lies within the noise of the median so far.
// Only what those targets compare runs: the pairs of CPU targets, the servers and workloads of the others.
for (let r = opts.rounds + 1; r <= opts.maxRounds && !interrupted; r++) {
  const { servers: needs, pairs: pairNeeds } = undecidedNeeds(
    evaluate(
      runs,
      summarise(
        runs,
        roundServers.map((s) => s.id),
      ),
      pairs,
    ).checks,
  );
  const subset = servers
    .filter((s) => needs.has(s.id))
    .map((s) => ({ ...s, workloads: s.workloads.filter((wl) => needs.get(s.id)?.has(wl)) }));
  const pairList = runnablePairs.filter((p) =>
    pairNeeds.some((q) => q.num === p.num && q.den === p.den && q.wl === p.wl),
  );
  if (subset.length === 0 && pairList.length === 0) break;
  const t0 = Date.now();
  const loadBefore = loadavg();
  const what = [
    ...subset.map((s) => `${s.id} ${s.workloads.join(',') || 'rest'}`),
    ...pairList.map((p) => `pair ${p.num}/${p.den} ${p.wl}`),
  ];
  console.log(`round ${r}/${opts.maxRounds}, extra: ${what.join('; ')} (load average ${loadBefore})`);
  const order = alternate(subset, r);
  runs.push(...(await benchRound(order, r, pairList)));
  rounds.push({
    round: r,
    order: order.map((d) => d.id),
    loadBefore,
    loadAfter: loadavg(),
    seconds: Math.round((Date.now() - t0) / 1000),
    extra: true,
  });
}

/** @type {unknown} */
let hup = null;
if (opts.hupRounds > 0 && !interrupted && servers.some((s) => s.id.startsWith('tsu-'))) {
  console.log(`HUP rollover (${opts.hupRounds} rounds, 4 workers)`);
  hup = await hupRollover(opts.hupRounds);
  console.log(`  ${JSON.stringify(hup)}`);
}

/** @type {unknown[]} */
const profiles = [];
if (opts.profile && !interrupted) {
  for (const app of ['bench/apps/hello.mjs', 'bench/apps/hello-fetch.mjs']) {
    console.log(`profile: ${app}`);
    try {
      const p = await profileWorker({ app, seconds: 5, connections: opts.connections, threads: opts.threads });
      console.log(formatProfile(p).replace(/^/gm, '  '));
      profiles.push(p);
    } catch (e) {
      console.log(`  profile failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

const summary = summarise(
  runs,
  roundServers.map((s) => s.id),
);
const targets = evaluate(runs, summary, pairs);
const results = {
  meta,
  config,
  rounds,
  runs,
  pairs,
  summary,
  targets,
  hup,
  profiles,
  elapsedSeconds: Math.round((Date.now() - started) / 1000),
  interrupted,
};

fs.mkdirSync(path.dirname(opts.out), { recursive: true });
fs.writeFileSync(opts.out, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nbench: raw results in ${path.relative(ROOT, opts.out)}`);
if (opts.docs) {
  const written = writeReport(results);
  console.log(`bench: report in ${written.map((f) => path.relative(ROOT, f)).join(', ')}`);
}

// ---------------------------------------------------------------- summary

console.log(
  '\nmedian req/s (min–max) over rounds, × the raw node:cluster mode best by median; µs of server CPU per request',
);
const table = summary.servers;
for (const id of roundServers.map((s) => s.id)) {
  const s = table[id];
  if (!s) continue;
  const cell = (/** @type {string} */ wl) => {
    const w = s.workloads[wl];
    return w
      ? `${String(w.rps.median).padStart(6)} (${w.rps.min}–${w.rps.max}) ×${w.vsCluster?.median.toFixed(2) ?? '—'} ${w.cpuUsPerReq?.median ?? '—'} µs`
      : '—';
  };
  console.log(
    `  ${id.padEnd(17)} ka ${cell('ka').padEnd(38)} close ${cell('close').padEnd(38)} p99 ka ${fmtMs(s.workloads.ka?.p99.median)}  rss ${(s.rest.totalRss.median / MB).toFixed(0)} MB`,
  );
}
if (buildB) {
  console.log(
    `\nbuild B (${buildB}, ${meta.buildB?.gitHead}) against this tree (${meta.gitHead}), B/A in the same rounds:`,
  );
  for (const k of targets.control)
    if (k.stat) console.log(`  ${k.app ?? 'hello world'}, ${k.workload} ${controlText(k, false)}`);
  console.log('targets: not judged (the A/A copies ran build B)');
  process.exit(interrupted ? 1 : 0);
}
console.log('\ntargets (ratios: median of per-round ratios; UNDECIDED: within the A/A resolution of the goal):');
let failed = 0;
for (const t of targets.checks) {
  if (t.status === 'FAIL') failed++;
  const noise =
    t.status === 'SKIP'
      ? ''
      : `; ${t.ciText ? `90 % CI ${t.ciText}, ${t.rounds} rounds` : `${t.rounds} rounds, too few for a 90 % CI`}`;
  const res = t.resolutionText ? `; A/A resolution ${t.resolutionText}` : '';
  console.log(`  ${t.status.padEnd(9)} ${t.name}: ${t.actualText} (goal ${t.targetText}${noise}${res})`);
}
for (const k of targets.control) {
  if (k.stat) console.log(`  A/A control, ${k.app ? `${k.app}, ` : ''}${k.workload} ${controlText(k, true)}`);
}
console.log('informational:');
for (const i of targets.info) console.log(`  ${i.name}: ${i.text}`);
if (quick) console.log('\n(--quick: short runs on a noisy box; use the full run for figures)');
const undecided = targets.checks.filter((t) => t.status === 'UNDECIDED').length;
console.log(
  `\nbench: ${failed === 0 ? 'no target missed' : `${failed} target(s) missed`}, ${undecided} undecided, in ${results.elapsedSeconds} s`,
);
process.exitCode = failed > 0 || interrupted ? 1 : 0;
