// The servers under test: one entry per peer, each saying how to start it, how many
// processes serve requests, which workloads apply, and how to stop it. Readiness is
// detected over HTTP for all of them alike (waitServing), never by a fixed sleep.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { alive, tree } from './proc.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PM2 = path.join(ROOT, 'node_modules/.bin/pm2');

/** The workloads: a path, and whether wrk sends `Connection: close`. */
export const WORKLOADS = /** @type {const} */ ({
  ka: { path: '/', close: false, label: 'hello, keep-alive' },
  close: { path: '/', close: true, label: 'hello, Connection: close' },
  io: { path: '/io', close: false, label: '1 ms awaited I/O, keep-alive' },
  cpu: { path: '/cpu', close: false, label: '~1 ms CPU, keep-alive' },
});
/** @typedef {keyof typeof WORKLOADS} WorkloadId */

const NODE_WORKLOADS = /** @type {WorkloadId[]} */ (['ka', 'close', 'io', 'cpu']);
const HELLO_ONLY = /** @type {WorkloadId[]} */ (['ka', 'close']);
/** The real apps (Express, Fastify) answer only / and /pid. */
const APP_ONLY = /** @type {WorkloadId[]} */ (['ka']);

/**
 * A real app under tsunicorn async and under raw node:cluster SCHED_NONE (serve.mjs, APP=file), and its A/A
 * control: tsunicorn again, loaded only in pairs with the first copy, so that the app's ratio is judged against the
 * noise of the same app's CPU per request rather than hello world's.
 * @param {string} name @param {string} file in bench/apps @param {string} spec tsunicorn's app argument
 * @returns {ServerDef[]}
 */
function realApp(name, file, spec) {
  const id = name.toLowerCase();
  return [
    tsunicorn(`${id}-tsu`, `${name} on tsunicorn async`, spec, 'async', APP_ONLY),
    rawCluster(`${id}-cluster`, `${name} on node:cluster SCHED_NONE`, 'none', APP_ONLY, file),
    Object.assign(
      tsunicorn(`${id}-tsu-aa`, `${name} on tsunicorn async, again (A/A control)`, spec, 'async', APP_ONLY, true),
      { pairOnly: true },
    ),
  ];
}

/**
 * tsunicorn serving `app` with WORKERS workers of `klass`; an A/A copy (`aaCopy`) runs build B when there is one.
 * @param {string} id @param {string} label @param {string} app @param {'async' | 'sync'} klass
 * @param {WorkloadId[]} workloads @param {boolean} [aaCopy]
 * @returns {ServerDef}
 */
function tsunicorn(id, label, app, klass, workloads, aaCopy = false) {
  const build = () => (aaCopy && BUILD_B.bin ? BUILD_B : null);
  return workersOf(id, label, workloads, {
    display: (port) => `node ${tsuArgs(app, klass, port, true, build()).join(' ')}`,
    start: (port) => spawnTree({ cmd: node, args: tsuArgs(app, klass, port, false, build()) }),
  });
}

/**
 * Raw node:cluster (cluster.mjs) with WORKERS workers and a scheduling policy, serving hello.mjs or `app`.
 * @param {string} id @param {string} label @param {'rr' | 'none'} policy @param {WorkloadId[]} workloads
 * @param {string} [app] a file in bench/apps
 * @returns {ServerDef}
 */
function rawCluster(id, label, policy, workloads, app) {
  const env = () => ({ ...(app ? { APP: app } : {}), NODE_CLUSTER_SCHED_POLICY: policy, WORKERS: String(WORKERS) });
  return workersOf(id, label, workloads, {
    display: (port) =>
      `PORT=${port} ${Object.entries(env())
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')} node bench/apps/cluster.mjs`,
    start: (port) => spawnTree({ cmd: node, args: ['bench/apps/cluster.mjs'], env: { PORT: String(port), ...env() } }),
  });
}

/**
 * A Node server of WORKERS serving processes, read when a round starts (--workers).
 * @param {string} id @param {string} label @param {WorkloadId[]} workloads
 * @param {Pick<ServerDef, 'display' | 'start'>} how
 * @returns {ServerDef}
 */
function workersOf(id, label, workloads, how) {
  return {
    id,
    label,
    runtime: 'node',
    get servingProcesses() {
      return WORKERS;
    },
    workloads,
    ...how,
  };
}

/**
 * @typedef {object} Running
 * @property {number} pid          root of the server's process tree (master, daemon or the one process)
 * @property {number} startedAt    performance.now() when the start command was spawned
 * @property {() => string} log    the tail of the server's stderr, for error messages
 * @property {() => Promise<void>} stop   graceful stop, then SIGKILL by pid past a deadline
 */

/**
 * @typedef {object} ServerDef
 * @property {string} id
 * @property {string} label
 * @property {'node' | 'python'} runtime
 * @property {number} servingProcesses   distinct pids that answer requests once fully up
 * @property {WorkloadId[]} workloads
 * @property {(port: number | string) => string} display   the command line, as the report prints it
 * @property {(port: number) => Promise<Running>} start
 * @property {string[]} [needs]   external programs this server needs (preflight)
 * @property {boolean} [pairOnly]   started only for the CPU pairs it is part of, never in a round's runs one at a time
 */

/** Worker processes per server (`run.js --workers`): every server gets the same number. */
let WORKERS = 2;

/** @param {number} n */
export function setWorkers(n) {
  WORKERS = n;
}

/**
 * Keeps the last few KB of a stream, so a crash can be explained without unbounded buffering.
 * @param {import('node:stream').Readable | null} stream
 */
function tail(stream) {
  let text = '';
  stream?.on('data', (/** @type {Buffer} */ c) => {
    text = (text + c).slice(-4096);
  });
  return () => text;
}

/**
 * Waits for a pid to disappear, polling, up to a deadline.
 * @param {number[]} pids
 * @param {number} ms
 */
async function waitGone(pids, ms) {
  const end = Date.now() + ms;
  while (pids.some(alive)) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** @param {number[]} pids @param {NodeJS.Signals} sig */
function signalAll(pids, sig) {
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      // Already gone.
    }
  }
}

/**
 * A server that is one foreground process tree: SIGTERM to its root stops it.
 * @param {{cmd: string, args: string[], env?: Record<string, string>}} c
 * @returns {Promise<Running>}
 */
async function spawnTree(c) {
  const startedAt = performance.now();
  const child = spawn(c.cmd, c.args, {
    cwd: ROOT,
    env: { ...process.env, ...c.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const log = tail(child.stderr);
  const pid = /** @type {number} */ (child.pid);
  const exited = new Promise((r) => child.once('exit', r));
  return {
    pid,
    startedAt,
    log,
    async stop() {
      // Remember the tree before the root goes: a stuck worker is killed by its pid too.
      const pids = tree(pid);
      signalAll([pid], 'SIGTERM');
      const ok = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 15_000))]);
      if (!ok) signalAll(pids, 'SIGKILL');
      await waitGone(pids, 5_000);
      if (pids.some(alive)) signalAll(pids, 'SIGKILL');
    },
  };
}

/**
 * Runs a command to completion, bounded in time.
 * @param {string} cmd @param {string[]} args @param {Record<string, string>} env @param {number} ms
 */
function runBounded(cmd, args, env, ms) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out = (out + c).slice(-4096)));
    child.stderr.on('data', (c) => (out = (out + c).slice(-4096)));
    const guard = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(guard);
      if (code === 0) resolve(out);
      else reject(new Error(`${path.basename(cmd)} ${args.join(' ')} exited with ${code}: ${out.trim()}`));
    });
  });
}

/**
 * PM2 cluster mode with a private PM2_HOME, so the bench never touches a user's PM2. The
 * tree's root is the God daemon (its workers are its children); `pm2 kill` stops it, and
 * every pid of the tree is killed as a fallback.
 * @param {number} port
 * @returns {Promise<Running>}
 */
async function startPm2(port) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-bench-pm2-'));
  const env = { PM2_HOME: home, PORT: String(port) };
  const startedAt = performance.now();
  try {
    await runBounded(PM2, ['start', 'bench/apps/serve.mjs', '-i', String(WORKERS), '--name', 'bench'], env, 60_000);
  } catch (e) {
    await runBounded(PM2, ['kill'], env, 30_000).catch(() => {});
    fs.rmSync(home, { recursive: true, force: true });
    throw e;
  }
  const pid = Number(fs.readFileSync(path.join(home, 'pm2.pid'), 'utf8').trim());
  return {
    pid,
    startedAt,
    log: () => {
      try {
        return fs.readFileSync(path.join(home, 'pm2.log'), 'utf8').slice(-4096);
      } catch {
        return '';
      }
    },
    async stop() {
      const pids = tree(pid);
      await runBounded(PM2, ['kill'], env, 30_000).catch(() => {});
      if (!(await waitGone(pids, 5_000))) signalAll(pids, 'SIGKILL');
      await waitGone(pids, 5_000);
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}

const node = process.execPath;

/** Where the bench runs tsunicorn from: the work tree, or a private copy of it (see freezeTsunicorn). */
export const TSUNICORN = { root: ROOT, bin: path.join(ROOT, 'bin/tsunicorn.js') };
/** Build B (--build-b): the bin of its private copy (see freezeBuildB); null without one. */
export const BUILD_B = { bin: /** @type {string | null} */ (null) };

/**
 * Copies bin/, dist/, package.json, examples/ and bench/hup-rollover.js to a temp dir
 * (node_modules linked) and runs tsunicorn from there, so a rebuild of dist/ during a
 * long run (others at work in the same tree; `npm test` builds) cannot mix two builds
 * in one set of results. hup-rollover.js finds bin/ relative to itself, so its copy
 * runs the frozen build unchanged.
 * @returns {() => void} removes the copy
 */
export function freezeTsunicorn() {
  const dir = copyBuild(ROOT);
  fs.mkdirSync(path.join(dir, 'bench'));
  fs.copyFileSync(path.join(ROOT, 'bench/hup-rollover.js'), path.join(dir, 'bench/hup-rollover.js'));
  TSUNICORN.root = dir;
  TSUNICORN.bin = path.join(dir, 'bin/tsunicorn.js');
  return () => {
    TSUNICORN.root = ROOT;
    TSUNICORN.bin = path.join(ROOT, 'bin/tsunicorn.js');
    fs.rmSync(dir, { recursive: true, force: true });
  };
}

/**
 * --build-b: the A/A copies (tsu-async-aa, express-tsu-aa, fastify-tsu-aa) run a private copy of the build in
 * `source` (another checkout, built), so that their pairs measure B against this tree in the same rounds.
 * @param {string} source @returns {() => void} removes the copy
 */
export function freezeBuildB(source) {
  const dir = copyBuild(source);
  BUILD_B.bin = path.join(dir, 'bin/tsunicorn.js');
  return () => {
    BUILD_B.bin = null;
    fs.rmSync(dir, { recursive: true, force: true });
  };
}

/** A temp copy of a tsunicorn tree's build (see freezeTsunicorn), node_modules linked from this one. */
function copyBuild(/** @type {string} */ source) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-bench-build-'));
  for (const d of ['bin', 'dist', 'examples']) {
    if (fs.existsSync(path.join(source, d))) fs.cpSync(path.join(source, d), path.join(dir, d), { recursive: true });
  }
  fs.copyFileSync(path.join(source, 'package.json'), path.join(dir, 'package.json'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return dir;
}

/**
 * The tsunicorn argument vector; `display` gives the command line the report prints.
 * @param {string} app @param {'async' | 'sync'} klass @param {number | string} port @param {boolean} [display]
 * @param {typeof BUILD_B | null} [build] build B's, instead of this tree's
 */
export const tsuArgs = (app, klass, port, display = false, build = null) => [
  display ? (build ? '$BUILD_B/bin/tsunicorn.js' : 'bin/tsunicorn.js') : (build?.bin ?? TSUNICORN.bin),
  app,
  '-w',
  String(WORKERS),
  '-k',
  klass,
  '-b',
  `127.0.0.1:${port}`,
];

/**
 * In the order each round measures them (forwards, then backwards): the servers a target compares are near
 * each other, and the A/A pair (tsu-async, tsu-async-aa) is further apart than any of them, so that its
 * resolution is no better than theirs.
 * @type {ServerDef[]}
 */
export const SERVERS = [
  {
    id: 'node-http',
    label: 'bare node:http (1 process)',
    runtime: 'node',
    servingProcesses: 1,
    workloads: NODE_WORKLOADS,
    display: (port) => `PORT=${port} node bench/apps/serve.mjs`,
    start: (port) => spawnTree({ cmd: node, args: ['bench/apps/serve.mjs'], env: { PORT: String(port) } }),
  },
  rawCluster('cluster-rr', 'node:cluster round-robin', 'rr', NODE_WORKLOADS),
  {
    id: 'pm2',
    label: 'PM2 cluster mode',
    runtime: 'node',
    get servingProcesses() {
      return WORKERS;
    },
    workloads: NODE_WORKLOADS,
    needs: ['pm2'],
    display: (port) => `PM2_HOME=$(mktemp -d) PORT=${port} pm2 start bench/apps/serve.mjs -i ${WORKERS} --name bench`,
    start: startPm2,
  },
  tsunicorn('tsu-async', 'tsunicorn async', 'bench/apps/hello.mjs', 'async', NODE_WORKLOADS),
  rawCluster('cluster-none', 'node:cluster SCHED_NONE', 'none', NODE_WORKLOADS),
  tsunicorn('tsu-fetch', 'tsunicorn async, fetch app', 'bench/apps/hello-fetch.mjs', 'async', NODE_WORKLOADS),
  // The A/A control: tsu-async again, the same command, at another place in the same round. The
  // two are the same server, so their per-round ratio shows what this box's noise and a server's
  // place in the round do on their own: the resolution of every ratio in the run (stats.js).
  tsunicorn('tsu-async-aa', 'tsunicorn async, again (A/A control)', 'bench/apps/hello.mjs', 'async', HELLO_ONLY, true),
  tsunicorn('tsu-sync', 'tsunicorn sync', 'bench/apps/hello.mjs', 'sync', NODE_WORKLOADS),
  {
    id: 'gunicorn-sync',
    label: 'Gunicorn sync',
    runtime: 'python',
    get servingProcesses() {
      return WORKERS;
    },
    workloads: HELLO_ONLY,
    needs: ['gunicorn'],
    display: (port) => `gunicorn --chdir bench/apps -w ${WORKERS} -k sync -b 127.0.0.1:${port} hello:app`,
    start: (port) =>
      spawnTree({
        cmd: 'gunicorn',
        args: ['--chdir', 'bench/apps', '-w', String(WORKERS), '-k', 'sync', '-b', `127.0.0.1:${port}`, 'hello:app'],
      }),
  },
  {
    id: 'gunicorn-gthread',
    label: 'Gunicorn gthread (4 threads)',
    runtime: 'python',
    get servingProcesses() {
      return WORKERS;
    },
    workloads: HELLO_ONLY,
    needs: ['gunicorn'],
    display: (port) =>
      `gunicorn --chdir bench/apps -w ${WORKERS} -k gthread --threads 4 -b 127.0.0.1:${port} hello:app`,
    start: (port) =>
      spawnTree({
        cmd: 'gunicorn',
        args: [
          '--chdir',
          'bench/apps',
          '-w',
          String(WORKERS),
          '-k',
          'gthread',
          '--threads',
          '4',
          '-b',
          `127.0.0.1:${port}`,
          'hello:app',
        ],
      }),
  },
  ...realApp('Express', 'express.mjs', 'bench/apps/express.mjs'),
  ...realApp('Fastify', 'fastify.mjs', 'bench/apps/fastify.mjs:create()'),
];

/** A free TCP port on 127.0.0.1 (bound, read, released; the server binds it right after). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = http.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = /** @type {import('node:net').AddressInfo} */ (s.address()).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * GET a path on a fresh connection; resolves with the status and body, or null on any error.
 * @param {number} port @param {string} p @param {number} timeoutMs
 * @returns {Promise<{status: number, body: string} | null>}
 */
export function get(port, p, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: p, agent: false, headers: { connection: 'close' }, timeout: timeoutMs },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', () => resolve(null));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

/**
 * Waits until the server answers, then until every serving process has answered
 * (bursts of parallel GET /pid on fresh connections), so the load never starts while
 * only one worker is listening and takes every keep-alive connection.
 * @param {ServerDef} def @param {Running} run @param {number} port @param {number} deadlineMs
 * @returns {Promise<{firstResponseMs: number, allServingMs: number | null}>}
 */
export async function waitServing(def, run, port, deadlineMs = 30_000) {
  const end = Date.now() + deadlineMs;
  let firstResponseMs = 0;
  for (;;) {
    const r = await get(port, '/pid', 500);
    if (r?.status === 200) {
      firstResponseMs = performance.now() - run.startedAt;
      break;
    }
    if (!alive(run.pid)) throw new Error(`${def.id} exited before answering:\n${run.log()}`);
    if (Date.now() > end) throw new Error(`${def.id} did not answer within ${deadlineMs} ms:\n${run.log()}`);
    await new Promise((r2) => setTimeout(r2, 5));
  }
  const seen = new Set();
  const allEnd = Math.min(end, Date.now() + 10_000);
  while (seen.size < def.servingProcesses) {
    if (Date.now() > allEnd) return { firstResponseMs, allServingMs: null };
    const burst = await Promise.all(Array.from({ length: 8 }, () => get(port, '/pid', 500)));
    for (const r of burst) if (r?.status === 200) seen.add(r.body.trim());
    if (seen.size < def.servingProcesses) await new Promise((r2) => setTimeout(r2, 5));
  }
  return { firstResponseMs, allServingMs: performance.now() - run.startedAt };
}
