#!/usr/bin/env node
// docs/benchmarks.md and its SVG charts, generated from a results JSON. The hand-written
// analysis between the notes markers of the existing page is kept.
//   node bench/report.js [bench/results/latest.json]     regenerate the page from a run
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from './servers.js';
import { QUIET, evaluate, summarise } from './stats.js';

const DOC = path.join(ROOT, 'docs/benchmarks.md');
const CHART_DIR = path.join(ROOT, 'bench/results');
const NOTES_START = '<!-- notes:start (hand-written; kept when bench/report.js regenerates this page) -->';
const NOTES_END = '<!-- notes:end -->';
const MB = 1024 * 1024;

// ---------------------------------------------------------------- SVG

/** @param {string} s */
const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * A round axis step for a maximum value: 1, 2 or 5 × 10^k, about 5 ticks.
 * @param {number} max
 */
function niceStep(max) {
  const raw = max / 5;
  const p = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/**
 * A grouped bar chart with min–max whiskers.
 * @param {{title: string, unit: string, groups: {label: string, values: ({median: number, min: number, max: number} | null)[]}[], series: {label: string, color: string}[]}} c
 */
export function barChart(c) {
  const W = 960;
  const H = 440;
  const m = { top: 56, right: 20, bottom: 96, left: 72 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const max = Math.max(1, ...c.groups.flatMap((g) => g.values.map((v) => v?.max ?? 0)));
  const step = niceStep(max);
  const top = Math.ceil(max / step) * step;
  const y = (/** @type {number} */ v) => m.top + ph - (v / top) * ph;
  const gw = pw / c.groups.length;
  const bw = Math.min(34, (gw * 0.8) / c.series.length);
  const fmt = (/** @type {number} */ v) =>
    v >= 1000 ? `${(v / 1000).toFixed(v >= 10_000 ? 0 : 1)}k` : String(Math.round(v));
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">${esc(c.title)}</text>`,
  ];
  // Legend.
  let lx = m.left;
  for (const s of c.series) {
    out.push(
      `<rect x="${lx}" y="34" width="12" height="12" fill="${s.color}"/>`,
      `<text x="${lx + 17}" y="44">${esc(s.label)}</text>`,
    );
    lx += 30 + s.label.length * 6.5;
  }
  out.push(
    `<text x="${W - m.right}" y="44" text-anchor="end" fill="#555">bars: median; whiskers: min–max over rounds</text>`,
  );
  // Grid and y axis.
  for (let v = 0; v <= top + 1e-9; v += step) {
    out.push(
      `<line x1="${m.left}" x2="${W - m.right}" y1="${y(v)}" y2="${y(v)}" stroke="${v === 0 ? '#333' : '#e3e3e3'}"/>`,
    );
    out.push(`<text x="${m.left - 6}" y="${y(v) + 4}" text-anchor="end" fill="#333">${fmt(v)}</text>`);
  }
  out.push(
    `<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(c.unit)}</text>`,
  );
  c.groups.forEach((g, gi) => {
    const gx = m.left + gi * gw + (gw - bw * c.series.length) / 2;
    g.values.forEach((v, si) => {
      if (!v) return;
      const x = gx + si * bw;
      const s = /** @type {{color: string, label: string}} */ (c.series[si]);
      out.push(
        `<rect x="${x + 1}" y="${y(v.median)}" width="${bw - 2}" height="${y(0) - y(v.median)}" fill="${s.color}"><title>${esc(`${g.label}, ${s.label}: ${Math.round(v.median)} (${Math.round(v.min)}–${Math.round(v.max)})`)}</title></rect>`,
      );
      const cx = x + bw / 2;
      out.push(
        `<path d="M${cx} ${y(v.min)}V${y(v.max)}M${cx - 4} ${y(v.min)}H${cx + 4}M${cx - 4} ${y(v.max)}H${cx + 4}" stroke="#222" stroke-width="1"/>`,
      );
    });
    // Group label, wrapped on spaces to at most 3 lines.
    const words = g.label.split(' ');
    /** @type {string[]} */
    const lines = [];
    for (const w of words) {
      const last = lines.at(-1);
      if (last !== undefined && `${last} ${w}`.length <= Math.max(10, gw / 6.5))
        lines[lines.length - 1] = `${last} ${w}`;
      else lines.push(w);
    }
    for (const [li, l] of lines.slice(0, 4).entries()) {
      out.push(
        `<text x="${m.left + gi * gw + gw / 2}" y="${y(0) + 16 + li * 14}" text-anchor="middle">${esc(l)}</text>`,
      );
    }
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------- markdown

/** @param {number | null | undefined} v */
const int = (v) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : Math.round(v).toLocaleString('en-US'));
/** @param {{median: number, min: number, max: number, n: number} | null | undefined} s @param {(v: number) => string} f */
const range = (s, f) => (!s ? '—' : s.n > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median));
const ratio = (/** @type {number} */ v) => `${v.toFixed(2)}×`;
const ms = (/** @type {number} */ v) => (v < 10 ? `${v.toFixed(2)}` : `${v.toFixed(1)}`);
const mb = (/** @type {number} */ v) => `${(v / MB).toFixed(1)}`;
const pct = (/** @type {number} */ v) => `${Math.round(v * 100)} %`;
const cores = (/** @type {number} */ v) => v.toFixed(2);

/**
 * @param {any} res the results JSON
 * @param {string} notes the hand-written block (without markers)
 */
export function renderMarkdown(res, notes) {
  const { meta, config, summary, targets } = res;
  const S = summary.servers;
  const ids = config.order.filter((/** @type {string} */ id) => S[id]);
  const label = (/** @type {string} */ id) =>
    config.servers.find((/** @type {{id: string}} */ s) => s.id === id)?.label ?? id;
  const L = [];
  L.push('# Benchmarks', '');
  L.push(
    `Generated by \`npm run bench\` (\`bench/run.js\`) on ${meta.date.slice(0, 10)}; raw figures in` +
      ` [\`${config.out}\`](../${config.out}). \`node bench/report.js\` regenerates this page from that file;` +
      ' the notes at the end are hand-written and kept. The box is noisy: compare figures only within one run.',
    '',
  );
  L.push('## Running it', '');
  L.push('```sh');
  L.push('npm run build                       # the bench serves dist/');
  L.push(
    'npm run bench                       # full run: 5 rounds, then up to 15 while a target is within noise; 20–30 min',
  );
  L.push('npm run bench -- --quick            # smoke run, under 2 min; writes bench/results/tmp/quick.json only');
  L.push('node bench/run.js --list            # the servers; --only ID,ID / --skip ID,ID pick some');
  L.push('node bench/run.js --rounds 8 --duration 10 --connections 50 --threads 1');
  L.push('node bench/run.js --workers 2       # 2 workers per server (1 by default), for the balance between them');
  L.push(
    'node bench/run.js --build-b DIR --only fastify-tsu,fastify-cluster,fastify-tsu-aa --workloads ka --rounds 12' +
      '   # another build (DIR, built) against this tree: the A/A copies run it',
  );
  L.push('node bench/profile.js [--app FILE] [--path /cpu] [--close]   # CPU profile of a worker under load');
  L.push('node bench/hup-rollover.js          # HUP rollover only');
  L.push(
    'node bench/profile-gap.js [--close]  # self time per request: one tsunicorn worker vs one raw SCHED_NONE worker',
  );
  L.push('```', '');
  L.push(
    'Needs `wrk` and `gunicorn` (Debian packages; the bench installs them with `apt-get install -y` when run as' +
      " root, and otherwise says how) and PM2 (a devDependency). It exits non-zero when a target is missed by more than the A/A control's resolution (a decided FAIL). CI" +
      ' never runs it.',
    '',
  );

  L.push('## Machine', '');
  L.push('| | |', '|---|---|');
  L.push(`| CPU | ${meta.cpuModel}, ${meta.nproc} cores (nproc), ${meta.memoryGB} GB |`);
  L.push(`| kernel | Linux ${meta.kernel} |`);
  L.push(`| Node.js | ${meta.node} |`);
  L.push(`| wrk | ${meta.wrk} |`);
  L.push(
    `| CPU pinning | ${meta.pinned ? `servers on CPU ${meta.pinned.servers}, wrk on CPU ${meta.pinned.wrk} (\`--pin\`)` : 'none: wrk and the servers share every core'} |`,
  );
  if (meta.pm2) L.push(`| PM2 | ${meta.pm2} |`);
  if (meta.gunicorn) L.push(`| Gunicorn | ${meta.gunicorn} (${meta.python}) |`);
  L.push(`| tsunicorn | ${meta.tsunicorn} at ${meta.gitHead}${meta.gitDirty ? ' (src/ modified)' : ''} |`);
  L.push(
    `| load average per round (1, 5, 15 min) | ${res.rounds.map((/** @type {any} */ r) => `${r.round}: ${r.loadBefore.split(' ')[0]}→${r.loadAfter.split(' ')[0]}`).join(', ')} |`,
  );
  const foreign = res.runs
    .flatMap((/** @type {any} */ r) => Object.values(r.results ?? {}).map((/** @type {any} */ w) => w.foreignCpu))
    .filter((/** @type {unknown} */ v) => typeof v === 'number');
  if (foreign.length) {
    foreign.sort((/** @type {number} */ a, /** @type {number} */ b) => a - b);
    const busyRuns = foreign.filter((/** @type {number} */ v) => v >= 0.25).length;
    L.push(
      `| other processes' CPU during the runs | median ${foreign[foreign.length >> 1].toFixed(2)} cores, max ${foreign.at(-1).toFixed(2)}; ${busyRuns} of ${foreign.length} runs shared the box with ≥ 0.25 cores of other work |`,
    );
  }
  L.push(`| elapsed | ${Math.round(res.elapsedSeconds / 60)} min${res.interrupted ? ' (interrupted)' : ''} |`);
  L.push('');

  const extraRounds = res.rounds.filter((/** @type {any} */ r) => r.extra).length;
  L.push('## Method', '');
  L.push(
    `- ${res.rounds.length - extraRounds} rounds, each with every server up side by side: all are started (and warmed` +
      ' up), then each workload runs on each server in turn, then all are stopped. The runs a ratio compares are so' +
      " seconds apart, not minutes: this box's speed drifts by ~10 % between runs minutes apart (see the notes). The" +
      ' list runs forwards in odd rounds and backwards in even ones, so each of two servers goes first equally often;' +
      ' it is ordered so that the servers a target compares are neighbours, and the A/A pair is further apart than any' +
      ' of them. Figures are medians over rounds with min–max; a ratio is taken within each round and then its median' +
      ' reported.',
    ...((config.maxRounds ?? 0) > config.rounds
      ? [
          `- Then ${extraRounds} extra rounds (at most ${config.maxRounds - config.rounds}) of only what a still` +
            ' unsettled target compares, the A/A control included: the pairs of a CPU target, the servers and workloads' +
            ' (one at a time) of the others. A target is' +
            ' unsettled while it is UNDECIDED or its goal lies inside the 90 % confidence interval of its median' +
            ' (distribution-free: from the k-th smallest to the k-th largest per-round figure). The extra rounds stop once' +
            ' every target is settled. One run of a server varies' +
            " a lot on this box (the A/A control measures how much), so a figure near its goal needs many rounds to settle. The tables below take each server's" +
            ' figures over all the rounds it ran in, so those servers have more rounds behind them than the rest.',
        ]
      : []),
    '- Every server runs the same app (`bench/apps/hello.mjs`; `hello.py` for Gunicorn) with' +
      ` ${config.workers} worker${config.workers === 1 ? '' : 's'}` +
      ' (bare node:http: one process), on a fresh free port on 127.0.0.1. The app answers `/` with 14 bytes, `/io` after' +
      ' a 1 ms timer, `/cpu` after ~1 ms of CPU, `/pid` with its pid.',
    '- Ready: the first `GET /pid` that answers (time from spawn to first response), then bursts of `GET /pid` on fresh' +
      ' connections until every worker has answered (time to all serving), so no load starts while only one worker' +
      ' listens. Readiness is polled with deadlines; no fixed sleeps.',
    `- Per server and round: RSS at rest once all workers answer, ${config.warmupSec} s of warm-up load, then two` +
      ' wrk runs per workload (there and back).' +
      ' RSS is VmRSS from `/proc` summed over the process tree (master + workers; for PM2 the God daemon + workers);' +
      ' under load it is the peak of samples every 250 ms.',
    "- CPU per request: utime + stime + cutime + cstime summed over every process of the server's tree (the" +
      ' arbiter, the PM2 daemon and the raw cluster primary included; zombies too), read from `/proc/PID/stat` right' +
      ' before and right after the wrk run, over the requests wrk reports. A worker that exits and is reaped during the' +
      " run keeps counting, through its reaper's cutime/cstime. Clock ticks are 10 ms: two" +
      ` ${config.durationSec} s runs at ~1 core` +
      ` read ~${200 * config.durationSec} ticks, so rounding costs under 1 %. Ticks are sampled (the kernel charges` +
      ' the whole tick to whichever process it finds running), which averages out over that many.',
    '- **CPU per request, for the targets:** in every round, after those runs, the two servers of each CPU target' +
      ' (and the A/A pair) are started afresh for that pair alone, warmed up, and loaded at the same time, each by its' +
      ` own wrk with half the connections: ${res.pairs?.[0]?.warmupRuns ?? 0} runs not counted, then` +
      ` ${res.pairs?.[0]?.runs ?? 0} runs of` +
      ` ${config.durationSec} s; each server's CPU per request over them, and` +
      " their ratio. One server's figure moves by 10–25 % between runs a minute apart on this box; two loaded" +
      ' together see the same box and move together (see the notes). Every other figure on this page comes from' +
      ' the runs one server at a time.',
    '- The real apps: an Express 5 JSON route (`bench/apps/express.mjs`) and a Fastify 5 route' +
      ' (`bench/apps/fastify.mjs`, its `app.routing` handler), each under tsunicorn async and under raw' +
      ' node:cluster SCHED_NONE (`serve.mjs` with `APP=`), keep-alive only.',
    '- The targets compare tsunicorn with each raw node:cluster mode separately. In the tables, "× cluster" is' +
      ' against the one mode that is best by its median over the whole run (highest req/s; lowest CPU per request),' +
      ' per workload: taking the better of the two modes in each round would favour cluster by its noise (~5 %).',
    '- An A/A control: tsunicorn async runs twice in every round, the second copy at another place in the round' +
      ' (and in every extra round that runs the first). The ratio of the two is what noise and place alone do to' +
      ' identical servers; it gives each ratio target its resolution, for CPU per request and for req/s alike (see "A/A control" under Targets).' +
      " Each real app has an A/A control of its own for its CPU target, a second tsunicorn copy of it loaded in a pair with the first: an app's CPU per request is not hello world's, and neither is its noise.",
    `- wrk shares the ${res.meta.nproc} cores with the servers. With one worker per server` +
      ' (`--workers`, 1 by default) no' +
      ' core is oversubscribed while wrk runs, so CPU per request is what the server spends, not what the scheduler' +
      ' made of two workers and wrk sharing two cores (the A/A spread of that was ±6 %; see the notes). With one' +
      ' worker there is no balance between workers to show: `--workers 2` gives that table.',
    `- Before each workload's turn the harness waits up to ${config.quietWaitSec ?? 0} s for other processes (the idle` +
      ' servers included) to leave the CPU (under 0.25 cores over 1 s); the CPU they used during each run is recorded.',
    '',
  );
  L.push('| server | command |', '|---|---|');
  for (const s of config.servers) L.push(`| ${s.label} | \`${s.command}\` |`);
  L.push('');
  L.push('| workload | wrk command |', '|---|---|');
  for (const [, w] of Object.entries(config.wrk))
    L.push(`| ${/** @type {any} */ (w).label} | \`${/** @type {any} */ (w).command}\` |`);
  if (config.warmupCommand) L.push(`| warm-up (not recorded) | \`${config.warmupCommand}\` |`);
  L.push('');

  L.push('## Targets', '');
  L.push(
    'Each ratio target is the median over rounds of a per-round ratio (the server over its baseline, in the same' +
      ' round). It is **UNDECIDED** while that median lies within the A/A resolution of its goal (relative distance),' +
      ' or when the A/A control has no resolution for its metric and workload (not run, or under 5 rounds); only a decided **FAIL** makes the bench exit' +
      ' non-zero. The RSS targets are absolute and judged on the median. The 90 % confidence interval of the median' +
      ' says whether more rounds could move it across the goal. The last column repeats the figure over the rounds in' +
      ` which neither compared run shared the box with other work (under ${QUIET} cores of other processes' CPU), for` +
      ' reading the result, not for judging it.',
    '',
  );
  L.push(
    '| target | result: median (min–max over rounds) | 90 % CI of the median, rounds | goal | A/A resolution | | quiet rounds only |',
    '|---|---|---|---|--:|---|---|',
  );
  for (const t of targets.checks) {
    const ci = t.status === 'SKIP' || t.rounds === undefined ? '—' : `${t.ciText ?? 'too few rounds'}, ${t.rounds}`;
    L.push(
      `| ${t.name} | ${t.actualText} | ${ci} | ${t.targetText} | ${t.resolutionText ?? '—'} | **${t.status}** | ${t.quietText ?? '—'} |`,
    );
  }
  L.push('');
  if (targets.control?.some((/** @type {any} */ k) => k.stat)) {
    L.push('### A/A control', '');
    L.push(
      'tsunicorn async runs twice in every round, the same command at two places in the round; for CPU per request' +
        ' the two are loaded at the same time, as every target pair is, and each real app is loaded twice under tsunicorn, in a pair of its own,' +
        " for its target's resolution. Identical servers" +
        " should give 1.00×; what this run shows instead is the box's noise plus the effect of a server's place in" +
        ' the round. The resolution is how far from 1.00× the 90 % confidence interval of that ratio reaches (none' +
        ' under 5 rounds, which leaves every ratio target UNDECIDED): a ratio target whose median is nearer its goal than that is UNDECIDED, since this' +
        ' run cannot tell the result from the goal.',
      '',
    );
    L.push(
      '| metric | workload | second copy / first, median (min–max) | 90 % CI, rounds | resolution |',
      '|---|---|---|---|--:|',
    );
    for (const k of targets.control) {
      const v = k.stat;
      L.push(
        `| ${k.metric === 'rps' ? 'req/s' : 'CPU per request'} | ${k.app ? `${k.app}, ${(config.wrk[k.workload]?.label ?? k.workload).replace(/^hello, /, '')}` : (config.wrk[k.workload]?.label ?? k.workload)} | ${v ? range(v, ratio) : 'not measured'} | ${v ? `${v.ci ? `${ratio(v.ci.lo)}–${ratio(v.ci.hi)}` : 'too few rounds'}, ${v.n}` : '—'} | ${k.floor === undefined ? '—' : `±${(k.floor * 100).toFixed(1)} %`} |`,
      );
    }
    L.push('');
  }
  L.push('Informational:', '');
  L.push('| comparison | median (min–max) |', '|---|---|');
  for (const i of targets.info) L.push(`| ${i.name} | ${i.text} |`);
  L.push('');

  L.push('## Results', '');
  L.push('![Requests per second, hello world, keep-alive and Connection: close](../bench/results/hello.svg)', '');
  L.push('### Hello world', '');
  L.push('| server | keep-alive req/s | × cluster | p99 ms | `Connection: close` req/s | × cluster | p99 ms |');
  L.push('|---|--:|--:|--:|--:|--:|--:|');
  for (const id of ids) {
    const w = S[id].workloads;
    L.push(
      `| ${label(id)} | ${range(w.ka?.rps, int)} | ${range(w.ka?.vsCluster, ratio)} | ${range(w.ka?.p99, ms)} | ${range(w.close?.rps, int)} | ${range(w.close?.vsCluster, ratio)} | ${range(w.close?.p99, ms)} |`,
    );
  }
  L.push('');
  const nodeIds = ids.filter((/** @type {string} */ id) => S[id].workloads.io || S[id].workloads.cpu);
  if (nodeIds.length) {
    L.push('### 1 ms awaited I/O and ~1 ms CPU (keep-alive)', '');
    L.push('![Requests per second, 1 ms I/O and 1 ms CPU](../bench/results/io-cpu.svg)', '');
    L.push('| server | `/io` req/s | × cluster | p99 ms | `/cpu` req/s | × cluster | p99 ms |');
    L.push('|---|--:|--:|--:|--:|--:|--:|');
    for (const id of nodeIds) {
      const w = S[id].workloads;
      L.push(
        `| ${label(id)} | ${range(w.io?.rps, int)} | ${range(w.io?.vsCluster, ratio)} | ${range(w.io?.p99, ms)} | ${range(w.cpu?.rps, int)} | ${range(w.cpu?.vsCluster, ratio)} | ${range(w.cpu?.p99, ms)} |`,
      );
    }
    L.push('');
  }
  L.push('### Memory and start-up', '');
  L.push(
    '| server | processes | tree RSS at rest, MB | tree RSS under load, MB | master RSS at rest, MB | worker RSS at rest, MB | start → first response, ms | start → all workers serving, ms |',
  );
  L.push('|---|--:|--:|--:|--:|--:|--:|--:|');
  for (const id of ids) {
    const s = S[id];
    const load = s.workloads.ka?.peakTotalRss;
    const multi = id !== 'node-http';
    L.push(
      `| ${label(id)} | ${res.runs.find((/** @type {any} */ r) => r.server === id && r.rest)?.rest.processes ?? '—'} | ${range(s.rest.totalRss, mb)} | ${range(load, mb)} | ${multi ? range(s.rest.rootRss, mb) : '—'} | ${range(s.rest.workerRss, mb)} | ${range(s.firstResponseMs, int)} | ${range(s.allServingMs, int)} |`,
    );
  }
  L.push('');
  L.push('### CPU per request', '');
  L.push(
    'CPU in cores (1.00 = one core busy for the whole run), from `/proc/PID/stat`. "CPU per request" is the whole' +
      " server tree's CPU time divided by the requests served. When the host throttles the VM or other work shares" +
      ' the box, req/s swings far more than CPU per request, so it is the steadier figure for comparing overheads' +
      ' here. "Other processes" is the CPU that neither the server, wrk nor the harness used during the run.',
    '',
  );
  L.push(
    '| server | keep-alive: µs per request | × cluster | × PM2 | close: µs per request | × cluster | × PM2 | keep-alive: server CPU | master CPU | wrk CPU | other processes | close: server CPU | master CPU |',
  );
  L.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  const us = (/** @type {number} */ v) => v.toFixed(1);
  for (const id of ids) {
    const k = S[id].workloads.ka;
    const c = S[id].workloads.close;
    L.push(
      `| ${label(id)} | ${range(k?.cpuUsPerReq, us)} | ${range(k?.cpuPerReqVsCluster, ratio)} | ${range(k?.cpuPerReqVsPm2, ratio)} | ${range(c?.cpuUsPerReq, us)} | ${range(c?.cpuPerReqVsCluster, ratio)} | ${range(c?.cpuPerReqVsPm2, ratio)} | ${range(k?.serverCpu, cores)} | ${range(k?.rootCpu, cores)} | ${range(k?.wrkCpu, cores)} | ${range(k?.foreignCpu, cores)} | ${range(c?.serverCpu, cores)} | ${range(c?.rootCpu, cores)} |`,
    );
  }
  L.push('');
  L.push('### Balance between workers (hello world)', '');
  if (config.workers < 2) {
    L.push(
      `One worker per server in this run: nothing to balance (\`node bench/run.js --workers 2\` measures it).`,
      '',
    );
  } else {
    L.push(
      "The busiest worker's share of the keep-alive connections (counted mid-run from `/proc/PID/fd`) and of all" +
        " workers' CPU time; 50 % is even with 2 workers. Before each run the harness waits until the previous run's" +
        ' connections are closed on the server side.',
      '',
    );
    L.push('| server | keep-alive: connections | keep-alive: CPU | close: CPU |', '|---|--:|--:|--:|');
    for (const id of ids.filter((/** @type {string} */ id) => id !== 'node-http')) {
      const k = S[id].workloads.ka;
      const c = S[id].workloads.close;
      L.push(
        `| ${label(id)} | ${range(k?.busiestWorkerConnShare, pct)} | ${range(k?.busiestWorkerCpuShare, pct)} | ${range(c?.busiestWorkerCpuShare, pct)} |`,
      );
    }
    L.push('');
  }
  const errs = ids.filter(
    (/** @type {string} */ id) =>
      S[id].errors.length || Object.values(S[id].workloads).some((/** @type {any} */ w) => w.socketErrors || w.non2xx),
  );
  if (errs.length) {
    L.push('Errors seen by wrk (summed over rounds) or by the harness:', '');
    for (const id of errs) {
      const w = Object.entries(S[id].workloads)
        .filter(([, v]) => /** @type {any} */ (v).socketErrors || /** @type {any} */ (v).non2xx)
        .map(
          ([k, v]) =>
            `${k}: ${/** @type {any} */ (v).socketErrors} socket errors, ${/** @type {any} */ (v).non2xx} non-2xx`,
        );
      L.push(`- ${label(id)}: ${[...w, ...S[id].errors].join('; ')}`);
    }
    L.push('');
  }

  L.push('## HUP rollover', '');
  const hup = res.hup;
  if (hup && !hup.error) {
    L.push(
      `\`${hup.command}\` — 4 workers on \`examples/hello.js\`; time from \`HUP\` until all four new workers are ready and` +
        ` all four old ones have exited; ${hup.rounds} rounds (${hup.node}).`,
      '',
    );
    L.push('| figure | result | target |', '|---|---|---|');
    L.push(`| median | ${hup.medianMs} ms (min ${hup.minMs}, max ${hup.maxMs}) | < 1500 ms |`, '');
    L.push(
      'Most of it is the new workers booting (fork, Node start-up, app import, listen); the rollover replaces workers' +
        ' one for one as each new one reports ready, so the four boots overlap, on 2 cores.',
      '',
    );
  } else {
    L.push(
      hup?.error
        ? `The HUP rollover run failed: \`${hup.error.split('\n')[0]}\``
        : 'Not measured in this run (`--hup-rounds 0`).',
      '',
    );
  }

  L.push('## CPU profile of a worker', '');
  if (res.profiles?.length) {
    const p0 = res.profiles[0];
    L.push(
      `\`${p0.command}\` (node:cluster workers inherit the master's \`execArgv\`; Node 20 refuses \`--cpu-prof\` in` +
        ` \`NODE_OPTIONS\`), loaded with \`${p0.load}\`, stopped with \`SIGTERM\`; the busiest worker's profile,` +
        ' counting only samples taken under load, summarised by `bench/profile.js`. Percentages are of the' +
        " worker's busy (non-idle) time.",
      '',
    );
    for (const p of res.profiles) {
      L.push(`### ${p.app}`, '');
      L.push(
        `${int(p.rps)} req/s while profiling; under load the worker was busy ${int(p.busyMs)} ms of ${int(p.totalMs)} ms.`,
        '',
      );
      L.push('| where the time goes (self time) | % of busy |', '|---|--:|');
      for (const c of p.categories) L.push(`| ${c.category} | ${c.pctBusy.toFixed(1)} |`);
      L.push('');
      L.push('| top functions by self time | location | % of busy |', '|---|---|--:|');
      for (const t of p.top.slice(0, 15))
        L.push(`| \`${t.fn}\` | ${t.where ? `\`${t.where}\`` : '(native)'} | ${t.pctBusy.toFixed(1)} |`);
      L.push('');
      L.push('| inclusive (with callees) | % of busy |', '|---|--:|');
      for (const t of p.inclusive) L.push(`| ${t.fn} | ${t.pctBusy.toFixed(1)} |`);
      L.push('');
    }
  } else {
    L.push('Not profiled in this run (`--no-profile` or `--quick`); `node bench/profile.js` profiles on its own.', '');
  }

  L.push('## Notes', '');
  L.push(NOTES_START);
  L.push(notes.trim() ? notes.trim() : '_No notes yet: add the analysis of this run here._');
  L.push(NOTES_END, '');
  return L.join('\n');
}

/** The hand-written block of the current page, if any. */
function existingNotes() {
  try {
    const doc = fs.readFileSync(DOC, 'utf8');
    const a = doc.indexOf(NOTES_START);
    const b = doc.indexOf(NOTES_END);
    return a >= 0 && b > a ? doc.slice(a + NOTES_START.length, b) : '';
  } catch {
    return '';
  }
}

/**
 * Writes docs/benchmarks.md and the charts; returns the files written.
 * @param {any} res
 */
export function writeReport(res) {
  const S = res.summary.servers;
  const ids = res.config.order.filter((/** @type {string} */ id) => S[id]);
  // Chart labels wrap on spaces: keep every label free of tokens wider than a bar group.
  const label = (/** @type {string} */ id) =>
    res.config.servers.find((/** @type {{id: string}} */ s) => s.id === id)?.label ?? id;
  const hello = barChart({
    title:
      `Hello world, req/s (wrk -t${res.config.threads} -c${res.config.connections},` +
      ` ${res.config.workers} worker${res.config.workers === 1 ? '' : 's'}, ${res.meta.nproc} cores, Node ${res.meta.node})`,
    unit: 'requests per second',
    series: [
      { label: 'keep-alive', color: '#3b6fb6' },
      { label: 'Connection: close', color: '#e08a2c' },
    ],
    groups: ids.map((/** @type {string} */ id) => ({
      label: label(id),
      values: [S[id].workloads.ka?.rps ?? null, S[id].workloads.close?.rps ?? null],
    })),
  });
  const nodeIds = ids.filter((/** @type {string} */ id) => S[id].workloads.io || S[id].workloads.cpu);
  const ioCpu = barChart({
    title: 'Awaited 1 ms I/O and ~1 ms CPU per request, keep-alive, req/s',
    unit: 'requests per second',
    series: [
      { label: '/io (1 ms timer)', color: '#4c9a5b' },
      { label: '/cpu (~1 ms CPU)', color: '#a34f8f' },
    ],
    groups: nodeIds.map((/** @type {string} */ id) => ({
      label: label(id),
      values: [S[id].workloads.io?.rps ?? null, S[id].workloads.cpu?.rps ?? null],
    })),
  });
  fs.mkdirSync(CHART_DIR, { recursive: true });
  const files = [path.join(CHART_DIR, 'hello.svg'), path.join(CHART_DIR, 'io-cpu.svg'), DOC];
  fs.writeFileSync(/** @type {string} */ (files[0]), hello);
  fs.writeFileSync(/** @type {string} */ (files[1]), ioCpu);
  fs.writeFileSync(DOC, renderMarkdown(res, existingNotes()));
  return files;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // The raw runs are the source of truth: summary and targets are recomputed from them (and
  // written back), so a change to bench/stats.js shows without running the bench again.
  const file = path.resolve(process.argv[2] ?? path.join(ROOT, 'bench/results/latest.json'));
  const res = JSON.parse(fs.readFileSync(file, 'utf8'));
  res.summary = summarise(res.runs, res.config.order);
  res.targets = evaluate(res.runs, res.summary, res.pairs ?? []);
  fs.writeFileSync(file, `${JSON.stringify(res, null, 2)}\n`);
  const written = writeReport(res);
  console.log(`wrote ${[file, ...written].map((f) => path.relative(ROOT, f)).join(', ')}`);
}
