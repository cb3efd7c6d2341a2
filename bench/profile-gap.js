#!/usr/bin/env node
// The keep-alive CPU gap, function by function: one tsunicorn async worker against one raw
// node:cluster SCHED_NONE worker on the same app, each profiled with --cpu-prof (cluster workers
// inherit the primary's execArgv) under the same wrk load, alternating for a few rounds. Prints
// each function's self time per request for both, largest differences first.
//   node bench/profile-gap.js [--rounds 3] [--seconds 5] [--close] [--top 25]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { summarise } from './profile.js';
import { ROOT, TSUNICORN, freePort, waitServing } from './servers.js';
import { runWrk } from './wrk.js';
import { numberOption } from './options.js';

const args = process.argv.slice(2);
const rounds = Math.min(10, numberOption('rounds', 3));
const seconds = Math.min(30, numberOption('seconds', 5));
const top = numberOption('top', 25);
const close = args.includes('--close');

/** @type {Record<string, {cmd: string[], env: Record<string, string>}>} */
const SERVERS = {
  tsunicorn: {
    cmd: [TSUNICORN.bin, 'bench/apps/hello.mjs', '-w', '1', '-k', 'async', '-b', '127.0.0.1:PORT'],
    env: {},
  },
  'cluster-none': {
    cmd: ['bench/apps/cluster.mjs'],
    env: { WORKERS: '1', NODE_CLUSTER_SCHED_POLICY: 'none', PORT: 'PORT' },
  },
};

/**
 * One profiled run: self µs per request of every function in the worker, under load only.
 * @param {string} name
 */
async function profileOnce(name) {
  const s = /** @type {{cmd: string[], env: Record<string, string>}} */ (SERVERS[name]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-bench-gap-'));
  const port = String(await freePort());
  const env = Object.fromEntries(Object.entries(s.env).map(([k, v]) => [k, v.replace('PORT', port)]));
  const startedAt = performance.now();
  const child = spawn(
    process.execPath,
    ['--cpu-prof', `--cpu-prof-dir=${dir}`, ...s.cmd.map((a) => a.replace('PORT', port))],
    {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let log = '';
  child.stderr.on('data', (c) => (log = (log + c).slice(-4096)));
  const exited = new Promise((r) => child.once('exit', r));
  const pid = /** @type {number} */ (child.pid);
  const window = { fromUs: 0, toUs: 0 };
  let requests = 0;
  try {
    const def = {
      id: name,
      label: '',
      runtime: 'node',
      servingProcesses: 1,
      workloads: [],
      display: () => '',
      start: () => Promise.reject(new Error('unused')),
    };
    await waitServing(/** @type {any} */ (def), { pid, startedAt, log: () => log, stop: async () => {} }, Number(port));
    const url = `http://127.0.0.1:${port}/`;
    await runWrk({ url, durationSec: 1, connections: 50, threads: 1, close }); // warm-up
    window.fromUs = Number(process.hrtime.bigint() / 1000n);
    const res = await runWrk({ url, durationSec: seconds, connections: 50, threads: 1, close });
    window.toUs = Number(process.hrtime.bigint() / 1000n);
    requests = res.requests;
  } finally {
    child.kill('SIGTERM');
    const ok = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 20_000))]);
    if (!ok) child.kill('SIGKILL');
  }
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile') && !f.includes(`.${pid}.`));
  if (files.length !== 1)
    throw new Error(`${name}: expected one worker profile in ${dir}, found ${files.length}:\n${log}`);
  const prof = summarise(JSON.parse(fs.readFileSync(path.join(dir, /** @type {string} */ (files[0])), 'utf8')), {
    window,
    top: 1000,
  });
  fs.rmSync(dir, { recursive: true, force: true });
  /** @type {Map<string, number>} */
  const perReq = new Map();
  for (const t of prof.top) perReq.set(`${t.fn}  ${t.where}`, (t.ms * 1000) / requests);
  return { busyUsPerReq: (prof.busyMs * 1000) / requests, perReq, rps: requests / seconds };
}

/** @type {Record<string, Awaited<ReturnType<typeof profileOnce>>[]>} */
const runs = { tsunicorn: [], 'cluster-none': [] };
for (let r = 0; r < rounds; r++) {
  for (const name of r % 2 ? ['cluster-none', 'tsunicorn'] : ['tsunicorn', 'cluster-none']) {
    const p = await profileOnce(name);
    runs[name]?.push(p);
    console.log(
      `round ${r + 1} ${name}: ${Math.round(p.rps)} req/s, worker busy ${p.busyUsPerReq.toFixed(2)} µs per request (profiled)`,
    );
  }
}
/** @param {number[]} xs */
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2
    ? /** @type {number} */ (v[m])
    : /** @type {number} */ (v[m - 1] + /** @type {number} */ (v[m])) / 2;
};
const keys = new Set(Object.values(runs).flatMap((rs) => rs.flatMap((p) => [...p.perReq.keys()])));
const rows = [...keys].map((k) => {
  const t = median(runs.tsunicorn.map((p) => p.perReq.get(k) ?? 0));
  const c = median(runs['cluster-none'].map((p) => p.perReq.get(k) ?? 0));
  return { k, t, c, d: t - c };
});
rows.sort((a, b) => Math.abs(b.d) - Math.abs(a.d));
const tb = median(runs.tsunicorn.map((p) => p.busyUsPerReq));
const cb = median(runs['cluster-none'].map((p) => p.busyUsPerReq));
console.log(
  `\nworker busy, µs per request (median of ${rounds}): tsunicorn ${tb.toFixed(2)}, cluster-none ${cb.toFixed(2)} (${(tb / cb).toFixed(3)}×)`,
);
console.log('self time per request, µs: tsunicorn, cluster-none, difference; largest differences first');
for (const r of rows.slice(0, top))
  console.log(
    `  ${r.t.toFixed(3).padStart(7)} ${r.c.toFixed(3).padStart(7)} ${(r.d >= 0 ? '+' : '') + r.d.toFixed(3)}  ${r.k}`,
  );
