// From raw per-round runs to medians, ranges and per-round ratios, and the targets.
// Ratios are taken within a round (the box drifts between rounds) and then summarised.

/**
 * @typedef {{median: number, min: number, max: number, n: number, ci: {lo: number, hi: number} | null}} Stat
 * ci: a 90 % confidence interval for the median (medianCi); null when there are too few values for one.
 */

/** Confidence of the intervals in Stat.ci. */
export const CI_LEVEL = 0.9;

/**
 * A distribution-free confidence interval for the median of `sorted` (ascending): the k-th smallest
 * to the k-th largest value, with the largest k whose coverage, 1 − 2·P(Binomial(n, ½) < k), is at
 * least `level`. Assumes nothing about the shape of the noise, only that rounds are independent.
 * Null when even min–max falls short (under 5 values at 90 %).
 * @param {number[]} sorted @param {number} [level]
 * @returns {{lo: number, hi: number, coverage: number} | null}
 */
export function medianCi(sorted, level = CI_LEVEL) {
  const n = sorted.length;
  let k = 0;
  let coverage = 0;
  let pmf = 0.5 ** n; // P(B = j), from j = 0
  let below = 0; // P(B < j + 1)
  for (let j = 0; j < Math.floor(n / 2); j++) {
    below += pmf;
    if (1 - 2 * below < level) break;
    k = j + 1;
    coverage = 1 - 2 * below;
    pmf = (pmf * (n - j)) / (j + 1);
  }
  if (k === 0) return null;
  return { lo: /** @type {number} */ (sorted[k - 1]), hi: /** @type {number} */ (sorted[n - k]), coverage };
}

/** @param {number[]} xs @returns {Stat | null} */
export function stat(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  const median =
    v.length % 2
      ? /** @type {number} */ (v[mid])
      : /** @type {number} */ (v[mid - 1] + /** @type {number} */ (v[mid])) / 2;
  const ci = medianCi(v);
  return {
    median: round(median),
    min: round(/** @type {number} */ (v[0])),
    max: round(/** @type {number} */ (v.at(-1))),
    n: v.length,
    ci: ci && { lo: round(ci.lo), hi: round(ci.hi) },
  };
}

const round = (/** @type {number} */ x) => (Math.abs(x) >= 100 ? Math.round(x) : Math.round(x * 1000) / 1000);
const MB = 1024 * 1024;
const CLUSTER = ['cluster-rr', 'cluster-none'];
/** The A/A control's server id: tsu-async run twice per round (servers.js). */
const AA = 'tsu-async-aa';
/** A run during which other processes used less CPU than this (cores) counts as quiet. */
export const QUIET = 0.25;
/** @param {{foreignCpu?: number} | undefined} w */
const quiet = (w) => w !== undefined && (w.foreignCpu ?? 0) < QUIET;

/**
 * @typedef {{rps: number, latencyMs: Record<string, number>, socketErrors: Record<string, number>, non2xx: number,
 *   wrkCpu: number, foreignCpu?: number, serverCpu: number, rootCpu: number | null, cpuUsPerReq: number | null, busiestWorkerCpuShare: number | null,
 *   busiestWorkerConnShare: number | null, peakTotalRss: number, peakRootRss: number}} WorkloadRun
 * @typedef {{server: string, round: number, error?: string, firstResponseMs?: number, allServingMs?: number | null,
 *   rest?: {totalRss: number, rootRss: number, workerRss: number[], processes: number},
 *   results?: Record<string, WorkloadRun>}} Run
 */

/**
 * One server's two runs of a workload in a round (forwards, then backwards through the list) as one figure:
 * CPU per request over both runs' ticks and requests, so a steady drift of the box's speed during the pass
 * weighs on every server alike; rates, shares and latencies averaged; errors summed; peaks the higher.
 * @param {WorkloadRun & {requests: number, serverTicks: number}} a
 * @param {WorkloadRun & {requests: number, serverTicks: number}} b
 */
export function combineRuns(a, b) {
  const mean = (/** @type {number | null} */ x, /** @type {number | null} */ y) =>
    x === null || y === null ? (x ?? y) : round((x + y) / 2);
  const requests = a.requests + b.requests;
  /** @type {Record<string, number>} */
  const latencyMs = {};
  for (const k of Object.keys(a.latencyMs)) latencyMs[k] = mean(a.latencyMs[k] ?? null, b.latencyMs[k] ?? null) ?? 0;
  /** @type {Record<string, number>} */
  const socketErrors = {};
  for (const k of Object.keys(a.socketErrors)) socketErrors[k] = (a.socketErrors[k] ?? 0) + (b.socketErrors[k] ?? 0);
  return {
    ...a,
    rps: Math.round((a.rps + b.rps) / 2),
    latencyMs,
    socketErrors,
    non2xx: a.non2xx + b.non2xx,
    wrkCpu: mean(a.wrkCpu, b.wrkCpu) ?? 0,
    serverCpu: mean(a.serverCpu, b.serverCpu) ?? 0,
    rootCpu: mean(a.rootCpu, b.rootCpu),
    foreignCpu: mean(a.foreignCpu ?? 0, b.foreignCpu ?? 0) ?? 0,
    serverTicks: a.serverTicks + b.serverTicks,
    requests,
    cpuUsPerReq: requests > 0 ? round(((a.serverTicks + b.serverTicks) * 1e4) / requests) : null,
    busiestWorkerCpuShare: mean(a.busiestWorkerCpuShare, b.busiestWorkerCpuShare),
    busiestWorkerConnShare: mean(a.busiestWorkerConnShare, b.busiestWorkerConnShare),
    peakTotalRss: Math.max(a.peakTotalRss, b.peakTotalRss),
    peakRootRss: Math.max(a.peakRootRss, b.peakRootRss),
    runs: 2,
  };
}

/** @param {unknown[]} raw */
function asRuns(raw) {
  return /** @type {Run[]} */ (raw);
}

/** @param {number[]} xs */
const median = (xs) => stat(xs)?.median ?? Number.NaN;

/**
 * The per-round value of one server's workload, or undefined.
 * @param {Run[]} runs @param {string} server @param {number} r @param {string} wl
 */
function at(runs, server, r, wl) {
  return runs.find((x) => x.server === server && x.round === r)?.results?.[wl];
}

/**
 * Per workload, the raw node:cluster mode whose median of `pick` over the run is highest (or lowest).
 * @param {Run[]} runs @param {string[]} wls @param {(w: WorkloadRun) => number} pick @param {'max' | 'min'} want
 * @returns {Record<string, string>}
 */
export function bestModes(runs, wls, pick, want) {
  /** @type {Record<string, string>} */
  const out = {};
  for (const wl of wls) {
    let bestId = '';
    let bestV = Number.NaN;
    for (const id of CLUSTER) {
      const v = median(
        runs
          .filter((r) => r.server === id && r.results?.[wl])
          .map((r) => pick(/** @type {WorkloadRun} */ (r.results?.[wl]))),
      );
      if (!Number.isFinite(v)) continue;
      if (!bestId || (want === 'max' ? v > bestV : v < bestV)) [bestId, bestV] = [id, v];
    }
    if (bestId) out[wl] = bestId;
  }
  return out;
}

/**
 * @param {unknown[]} rawRuns
 * @param {string[]} order
 */
export function summarise(rawRuns, order) {
  const runs = asRuns(rawRuns);
  const roundsOf = [...new Set(runs.map((r) => r.round))].sort((a, b) => a - b);
  /**
   * The best raw node:cluster mode per workload, chosen once by its median over the run (highest req/s, and
   * lowest CPU per request): picking the better of two noisy runs in each round would favour cluster by its noise.
   */
  const bestCluster = bestModes(runs, ['ka', 'close', 'io', 'cpu'], (w) => w.rps, 'max');
  const bestClusterCpu = bestModes(runs, ['ka', 'close', 'io', 'cpu'], (w) => w.cpuUsPerReq ?? Number.NaN, 'min');
  /**
   * Per-round ratios of a server's figure to a baseline's; with quietOnly, only rounds where
   * neither run shared the box with other work.
   * @param {string} server @param {string} wl @param {(w: WorkloadRun) => number} pick
   * @param {(r: number) => WorkloadRun | undefined} base @param {boolean} [quietOnly]
   */
  const ratios = (server, wl, pick, base, quietOnly = false) =>
    roundsOf
      .map((r) => {
        const a = at(runs, server, r, wl);
        const b = base(r);
        if (quietOnly && !(quiet(a) && quiet(b))) return Number.NaN;
        return a && b ? pick(a) / pick(b) : Number.NaN;
      })
      .filter(Number.isFinite);
  const best =
    (/** @type {string} */ wl, byCpu = false) =>
    (/** @type {number} */ r) => {
      const id = (byCpu ? bestClusterCpu : bestCluster)[wl];
      return id ? at(runs, id, r, wl) : undefined;
    };

  /** @type {Record<string, any>} */
  const servers = {};
  for (const id of order) {
    const mine = runs.filter((r) => r.server === id);
    if (mine.length === 0) continue;
    const ok = mine.filter((r) => !r.error);
    /** @type {Record<string, any>} */
    const workloads = {};
    const wls = [...new Set(ok.flatMap((r) => Object.keys(r.results ?? {})))];
    for (const wl of wls) {
      const ws = /** @type {WorkloadRun[]} */ (ok.map((r) => r.results?.[wl]).filter(Boolean));
      const sumErr = (/** @type {WorkloadRun} */ w) => Object.values(w.socketErrors).reduce((a, b) => a + b, 0);
      workloads[wl] = {
        rps: stat(ws.map((w) => w.rps)),
        p50: stat(ws.map((w) => w.latencyMs.p50 ?? Number.NaN)),
        p99: stat(ws.map((w) => w.latencyMs.p99 ?? Number.NaN)),
        vsCluster: stat(ratios(id, wl, (w) => w.rps, best(wl))),
        vsPm2: stat(
          ratios(
            id,
            wl,
            (w) => w.rps,
            (r) => at(runs, 'pm2', r, wl),
          ),
        ),
        p99VsCluster: stat(ratios(id, wl, (w) => w.latencyMs.p99 ?? Number.NaN, best(wl))),
        quiet: {
          rps: stat(ws.filter(quiet).map((w) => w.rps)),
          vsCluster: stat(ratios(id, wl, (w) => w.rps, best(wl), true)),
          vsPm2: stat(
            ratios(
              id,
              wl,
              (w) => w.rps,
              (r) => at(runs, 'pm2', r, wl),
              true,
            ),
          ),
          p99VsCluster: stat(ratios(id, wl, (w) => w.latencyMs.p99 ?? Number.NaN, best(wl), true)),
        },
        serverCpu: stat(ws.map((w) => w.serverCpu)),
        cpuUsPerReq: stat(ws.map((w) => w.cpuUsPerReq ?? Number.NaN)),
        cpuPerReqVsCluster: stat(ratios(id, wl, (w) => w.cpuUsPerReq ?? Number.NaN, best(wl, true))),
        cpuPerReqVsPm2: stat(
          ratios(
            id,
            wl,
            (w) => w.cpuUsPerReq ?? Number.NaN,
            (r) => at(runs, 'pm2', r, wl),
          ),
        ),
        rootCpu: stat(ws.map((w) => w.rootCpu ?? Number.NaN)),
        wrkCpu: stat(ws.map((w) => w.wrkCpu)),
        foreignCpu: stat(ws.map((w) => w.foreignCpu ?? Number.NaN)),
        busiestWorkerCpuShare: stat(ws.map((w) => w.busiestWorkerCpuShare ?? Number.NaN)),
        busiestWorkerConnShare: stat(ws.map((w) => w.busiestWorkerConnShare ?? Number.NaN)),
        peakTotalRss: stat(ws.map((w) => w.peakTotalRss)),
        peakRootRss: stat(ws.map((w) => w.peakRootRss)),
        socketErrors: ws.reduce((a, w) => a + sumErr(w), 0),
        non2xx: ws.reduce((a, w) => a + w.non2xx, 0),
      };
    }
    servers[id] = {
      rounds: mine.length,
      errors: mine.filter((r) => r.error).map((r) => `round ${r.round}: ${r.error}`),
      firstResponseMs: stat(ok.map((r) => r.firstResponseMs ?? Number.NaN)),
      allServingMs: stat(ok.map((r) => r.allServingMs ?? Number.NaN)),
      rest: {
        totalRss: stat(ok.map((r) => r.rest?.totalRss ?? Number.NaN)),
        rootRss: stat(ok.map((r) => r.rest?.rootRss ?? Number.NaN)),
        workerRss: stat(ok.map((r) => median(r.rest?.workerRss ?? []))),
      },
      workloads,
    };
  }
  return { rounds: roundsOf.length, bestCluster, bestClusterCpu, servers };
}

/**
 * @typedef {{server: string, workloads: string[]}} Need
 * A server, and the workloads of it, that a target's figure is taken from (none: only its RSS at rest).
 * @typedef {'PASS' | 'FAIL' | 'UNDECIDED' | 'SKIP'} Status
 * @typedef {{id: string, name: string, status: Status, actual: number | null, actualText: string,
 *   target: number, targetText: string, quietText: string, rounds: number, ciText: string | null, decided: boolean, needs: Need[],
 *   pairs?: PairKey[], resolution?: number, resolutionText?: string}} Check
 * status: UNDECIDED when a ratio's median is within the A/A resolution of its goal, or the A/A control has no
 *   resolution (not run, or under 5 rounds); only a FAIL fails the run.
 * decided: a verdict, and the goal outside the median's confidence interval: more rounds would hardly change it.
 * needs: the runs one server at a time its figure comes from; pairs: the pairs loaded at once it comes from instead.
 * resolution: the A/A control's reach from 1.00× for the metric and workload the ratio is taken under.
 */

/**
 * The verdict on a target's median. A ratio target (`resolution` given, or undefined when no A/A control
 * measured it) is UNDECIDED while the median lies within that relative distance of its goal; an absolute
 * target (`resolution` null) is judged on the median alone.
 * @param {number | null | undefined} median @param {'>=' | '<='} op @param {number} goal
 * @param {number | null | undefined} resolution
 * @returns {Status}
 */
export function verdict(median, op, goal, resolution) {
  if (median === null || median === undefined || !Number.isFinite(median)) return 'SKIP';
  if (resolution === undefined) return 'UNDECIDED';
  if (resolution !== null && Math.abs(median / goal - 1) <= resolution) return 'UNDECIDED';
  return (op === '>=' ? median >= goal : median <= goal) ? 'PASS' : 'FAIL';
}

/** What a target compares: these servers, under one workload. @param {string[]} servers @param {string} wl @returns {Need[]} */
const under = (servers, wl) => servers.map((server) => ({ server, workloads: [wl] }));

/** Per-run figures a ratio target can take. @type {Record<'cpu' | 'rps', (w: WorkloadRun) => number>} */
const METRIC = { cpu: (w) => w.cpuUsPerReq ?? Number.NaN, rps: (w) => w.rps };

const CPU = 'CPU per request';
const HOW = { ka: 'keep-alive', close: 'Connection: close' };
/**
 * The CPU-per-request targets: `num` over `den` under `wl`, at most `goal`. A real app's target has an A/A
 * control of its own (`aa`): its CPU per request, and so its noise, is not hello world's.
 * @type {{id: string, name: string, num: string, den: string, wl: string, goal: number, aa?: AppPairKey}[]}
 */
const CPU_TARGETS = [
  .../** @type {const} */ (['ka', 'close']).flatMap((wl) => [
    {
      id: `cpu-${wl}-vs-none`,
      name: `tsunicorn async vs node:cluster SCHED_NONE, ${HOW[wl]} ${CPU}`,
      num: 'tsu-async',
      den: 'cluster-none',
      wl,
      goal: 1.02,
    },
    {
      id: `cpu-${wl}-vs-rr`,
      name: `tsunicorn async vs node:cluster round-robin, ${HOW[wl]} ${CPU}`,
      num: 'tsu-async',
      den: 'cluster-rr',
      wl,
      goal: 1.02,
    },
    {
      id: `cpu-${wl}-vs-pm2`,
      name: `tsunicorn async vs PM2 cluster, ${HOW[wl]} ${CPU}`,
      num: 'tsu-async',
      den: 'pm2',
      wl,
      goal: 1.0,
    },
  ]),
  {
    id: 'cpu-fetch-vs-node',
    name: `tsunicorn fetch interface vs node interface, keep-alive ${CPU}`,
    num: 'tsu-fetch',
    den: 'tsu-async',
    wl: 'ka',
    goal: 1.1,
  },
  {
    id: 'cpu-express',
    name: `Express 5 JSON route, tsunicorn vs node:cluster SCHED_NONE, keep-alive ${CPU}`,
    num: 'express-tsu',
    den: 'express-cluster',
    wl: 'ka',
    goal: 1.03,
    aa: { app: 'Express 5 JSON route', num: 'express-tsu-aa', den: 'express-tsu', wl: 'ka' },
  },
  {
    id: 'cpu-fastify',
    name: `Fastify 5 route, tsunicorn vs node:cluster SCHED_NONE, keep-alive ${CPU}`,
    num: 'fastify-tsu',
    den: 'fastify-cluster',
    wl: 'ka',
    goal: 1.03,
    aa: { app: 'Fastify 5 route', num: 'fastify-tsu-aa', den: 'fastify-tsu', wl: 'ka' },
  },
  {
    id: 'cpu-sync-vs-gunicorn',
    name: `tsunicorn sync vs Gunicorn sync, Connection: close ${CPU}`,
    num: 'tsu-sync',
    den: 'gunicorn-sync',
    wl: 'close',
    goal: 1.3,
  },
];

/** @typedef {{num: string, den: string, wl: string}} PairKey */
/** @typedef {PairKey & {app: string}} AppPairKey an A/A pair of a real app's two tsunicorn copies */

/** The A/A control's pair under `wl`. @param {string} wl @returns {PairKey} */
const aaPair = (wl) => ({ num: AA, den: 'tsu-async', wl });

/**
 * The pairs run.js loads at the same time for CPU per request: every CPU target's, and the A/A controls'.
 * @type {PairKey[]}
 */
export const PAIRS = [
  ...CPU_TARGETS.map(({ num, den, wl }) => ({ num, den, wl })),
  aaPair('ka'),
  aaPair('close'),
  ...CPU_TARGETS.flatMap(({ aa }) => (aa ? [{ num: aa.num, den: aa.den, wl: aa.wl }] : [])),
];

/**
 * @typedef {{round: number, num: string, den: string, wl: string, numUs: number, denUs: number}} Pair
 * One round's simultaneous runs of a pair (PAIRS): each server's CPU per request over them.
 */

/**
 * The targets of issue 20, on CPU per request (req/s for one), each a median of per-round ratios judged
 * against the A/A control's resolution; and the RSS targets of issue 8, on medians.
 * @param {unknown[]} rawRuns
 * @param {ReturnType<typeof summarise>} summary
 * @param {Pair[]} [pairs] CPU per request of pairs loaded at the same time: where a pair has them, its ratios
 *   come from these, not from runs one after the other
 */
export function evaluate(rawRuns, summary, pairs = []) {
  const runs = asRuns(rawRuns);
  // An extra round may have run pairs only.
  const rounds = [...new Set([...runs.map((r) => r.round), ...pairs.map((p) => p.round)])].sort((a, b) => a - b);
  /** @param {string} num @param {string} den @param {string} wl */
  const paired = (num, den, wl) => pairs.some((q) => q.num === num && q.den === den && q.wl === wl);
  /**
   * Per-round ratio of two servers' figures.
   * @param {'cpu' | 'rps'} metric @param {string} num @param {string} den @param {string} wl @param {boolean} [quietOnly]
   */
  const perRound = (metric, num, den, wl, quietOnly = false) =>
    stat(
      rounds.map((r) => {
        const n = at(runs, num, r, wl);
        const d = at(runs, den, r, wl);
        if (quietOnly && !(quiet(n) && quiet(d))) return Number.NaN;
        const p =
          metric === 'cpu' ? pairs.find((q) => q.round === r && q.num === num && q.den === den && q.wl === wl) : null;
        if (p) return p.numUs / p.denUs;
        return n && d ? METRIC[metric](n) / METRIC[metric](d) : Number.NaN;
      }),
    );
  /** @type {{metric: string, app?: string, workload: string, stat: Stat | null, floor: number | undefined}[]} */
  const control = [
    ...aaControl({ ka: perRound('cpu', AA, 'tsu-async', 'ka'), close: perRound('cpu', AA, 'tsu-async', 'close') }).map(
      (k) => ({ metric: 'cpu', ...k }),
    ),
    ...aaControl({ ka: perRound('rps', AA, 'tsu-async', 'ka'), close: perRound('rps', AA, 'tsu-async', 'close') }).map(
      (k) => ({ metric: 'rps', ...k }),
    ),
  ];
  // A real app's own control, for CPU per request under its workload.
  for (const t of CPU_TARGETS) {
    if (!t.aa) continue;
    const [k] = aaControl({ [t.aa.wl]: perRound('cpu', t.aa.num, t.aa.den, t.aa.wl) });
    control.push({ metric: 'cpu', app: t.aa.app, .../** @type {NonNullable<typeof k>} */ (k) });
  }
  const floor = (/** @type {string} */ metric, /** @type {string} */ wl, /** @type {string} */ app = '') =>
    control.find((k) => k.metric === metric && k.workload === wl && (k.app ?? '') === app)?.floor;

  /** @type {Check[]} */
  const checks = [];
  /**
   * @param {string} id @param {string} name @param {Stat | null | undefined} v
   * @param {'>=' | '<='} op @param {number} target @param {(x: number) => string} fmt
   * @param {Need[]} needs the runs the figure comes from
   * @param {number | null | undefined} resolution see verdict
   * @param {Stat | null | undefined} [q] the same figure over quiet rounds only, for reading, not judging
   * @param {PairKey[]} [pairKeys] the pairs the figure comes from, if it does (then `needs` is empty)
   */
  const check = (id, name, v, op, target, fmt, needs, resolution, q, pairKeys) => {
    const from = pairKeys ? { needs, pairs: pairKeys } : { needs };
    const quietText = q
      ? `${fmt(q.median)}${q.n > 1 ? ` (${fmt(q.min)}–${fmt(q.max)})` : ''}, ${q.n} round${q.n === 1 ? '' : 's'}`
      : '—';
    const targetText = `${op === '>=' ? '≥' : '≤'} ${fmt(target)}`;
    const res =
      resolution === null
        ? {}
        : {
            resolution,
            resolutionText:
              resolution === undefined ? 'none (A/A control under 5 rounds)' : `±${(resolution * 100).toFixed(1)} %`,
          };
    const status = verdict(v?.median, op, target, resolution);
    if (!v || status === 'SKIP') {
      checks.push({
        id,
        name,
        status: 'SKIP',
        actual: null,
        actualText: 'not measured',
        target,
        targetText,
        quietText,
        rounds: 0,
        ciText: null,
        decided: true,
        ...from,
        ...res,
      });
      return;
    }
    checks.push({
      id,
      name,
      status,
      actual: v.median,
      actualText: `${fmt(v.median)}${v.n > 1 ? ` (${fmt(v.min)}–${fmt(v.max)})` : ''}`,
      target,
      targetText,
      quietText,
      rounds: v.n,
      ciText: v.ci ? `${fmt(v.ci.lo)}–${fmt(v.ci.hi)}` : null,
      decided: status !== 'UNDECIDED' && v.ci !== null && (target < v.ci.lo || target > v.ci.hi),
      ...from,
      ...res,
    });
  };
  const x = (/** @type {number} */ v) => `${v.toFixed(2)}×`;
  const mb = (/** @type {number} */ v) => `${(v / MB).toFixed(1)} MB`;
  /**
   * A ratio target: num's figure over den's, per round, under wl, with the A/A resolution of that metric and workload,
   * or of the app's own A/A pair (`aa`).
   * @param {string} id @param {string} name @param {'cpu' | 'rps'} metric @param {string} num @param {string} den
   * @param {string} wl @param {'>=' | '<='} op @param {number} goal @param {AppPairKey} [aa]
   */
  const ratio = (id, name, metric, num, den, wl, op, goal, aa) => {
    // From pairs, its own and the A/A control's, when the run loaded it in pairs.
    const fromPairs = metric === 'cpu' && paired(num, den, wl);
    const aaKey = aa ? { num: aa.num, den: aa.den, wl } : aaPair(wl);
    check(
      id,
      name,
      perRound(metric, num, den, wl),
      op,
      goal,
      x,
      // An app's own control is loaded in pairs only.
      fromPairs ? [] : under(aa ? [num, den] : [num, den, AA, 'tsu-async'], wl),
      floor(metric, wl, aa?.app),
      perRound(metric, num, den, wl, true),
      fromPairs ? [{ num, den, wl }, aaKey] : undefined,
    );
  };

  for (const t of CPU_TARGETS) ratio(t.id, t.name, 'cpu', t.num, t.den, t.wl, '<=', t.goal, t.aa);
  ratio(
    'rps-sync-vs-gunicorn',
    'tsunicorn sync vs Gunicorn sync, Connection: close req/s',
    'rps',
    'tsu-sync',
    'gunicorn-sync',
    'close',
    '>=',
    0.8,
  );

  // Master RSS: the larger of at rest and under load, per round.
  const masterRss = stat(
    runs
      .filter((r) => r.server === 'tsu-async' && !r.error)
      .map((r) => Math.max(r.rest?.rootRss ?? 0, ...Object.values(r.results ?? {}).map((w) => w.peakRootRss))),
  );
  check(
    'master-rss',
    'tsunicorn master RSS (max of at rest and under load)',
    masterRss,
    '<=',
    60 * MB,
    mb,
    under(['tsu-async'], 'ka'),
    null,
  );
  // A tsunicorn worker at rest minus a bare node:http process serving the same app at rest, same round.
  const overBare = stat(
    rounds.map((r) => {
      const t = runs.find((q) => q.server === 'tsu-async' && q.round === r && !q.error)?.rest;
      const b = runs.find((q) => q.server === 'node-http' && q.round === r && !q.error)?.rest;
      return t && b ? median(t.workerRss) - b.rootRss : Number.NaN;
    }),
  );
  check(
    'worker-rss',
    'tsunicorn worker RSS over a bare node:http process (at rest)',
    overBare,
    '<=',
    10 * MB,
    mb,
    [
      { server: 'tsu-async', workloads: [] },
      { server: 'node-http', workloads: [] },
    ],
    null,
  );

  /** @type {{id: string, name: string, value: number | null, text: string}[]} */
  const info = [];
  /** @param {string} id @param {string} name @param {Stat | null | undefined} v */
  const inform = (id, name, v) =>
    info.push({
      id,
      name,
      value: v?.median ?? null,
      text: v ? `${x(v.median)}${v.n > 1 ? ` (${x(v.min)}–${x(v.max)})` : ''}` : 'not measured',
    });
  const a = summary.servers['tsu-async']?.workloads;
  inform(
    'ka-vs-none',
    'tsunicorn async vs node:cluster SCHED_NONE (keep-alive req/s)',
    perRound('rps', 'tsu-async', 'cluster-none', 'ka'),
  );
  inform(
    'ka-vs-rr',
    'tsunicorn async vs node:cluster round-robin (keep-alive req/s)',
    perRound('rps', 'tsu-async', 'cluster-rr', 'ka'),
  );
  inform('ka-vs-pm2', 'tsunicorn async vs PM2 cluster (keep-alive req/s)', perRound('rps', 'tsu-async', 'pm2', 'ka'));
  inform(
    'close-vs-none',
    'tsunicorn async vs node:cluster SCHED_NONE (Connection: close req/s)',
    perRound('rps', 'tsu-async', 'cluster-none', 'close'),
  );
  inform(
    'close-vs-rr',
    'tsunicorn async vs node:cluster round-robin (Connection: close req/s)',
    perRound('rps', 'tsu-async', 'cluster-rr', 'close'),
  );
  inform(
    'close-vs-pm2',
    'tsunicorn async vs PM2 cluster (Connection: close req/s)',
    perRound('rps', 'tsu-async', 'pm2', 'close'),
  );
  inform(
    'p99-vs-cluster',
    'tsunicorn async vs the best raw node:cluster mode by median (keep-alive p99 latency)',
    a?.ka?.p99VsCluster,
  );
  inform(
    'fetch-vs-node',
    'tsunicorn fetch vs node interface (keep-alive req/s)',
    perRound('rps', 'tsu-fetch', 'tsu-async', 'ka'),
  );
  inform(
    'express-rps',
    'Express 5 on tsunicorn vs on node:cluster SCHED_NONE (keep-alive req/s)',
    perRound('rps', 'express-tsu', 'express-cluster', 'ka'),
  );
  inform(
    'fastify-rps',
    'Fastify 5 on tsunicorn vs on node:cluster SCHED_NONE (keep-alive req/s)',
    perRound('rps', 'fastify-tsu', 'fastify-cluster', 'ka'),
  );
  inform(
    'sync-vs-async',
    'tsunicorn sync vs tsunicorn async (Connection: close req/s)',
    perRound('rps', 'tsu-sync', 'tsu-async', 'close'),
  );
  inform(
    'fetch-vs-node-io',
    'tsunicorn fetch vs node interface (1 ms I/O req/s)',
    perRound('rps', 'tsu-fetch', 'tsu-async', 'io'),
  );
  inform(
    'fetch-vs-node-cpu',
    'tsunicorn fetch vs node interface (1 ms CPU req/s)',
    perRound('rps', 'tsu-fetch', 'tsu-async', 'cpu'),
  );
  return { checks, info, control };
}

/**
 * The A/A control: the per-round ratio of two copies of the same server. Identical servers should give
 * 1.00×; what the run shows instead is this box's noise plus the effect of a server's place in the round.
 * The floor is how far from 1.00× that ratio's 90 % confidence interval reaches: a ratio target nearer its goal
 * than that cannot be told from it. Under 5 rounds there is no interval, and two or three ratios that happen to
 * agree would claim a resolution the box does not have: no floor then, and every ratio target stays UNDECIDED.
 * @param {Record<string, Stat | null>} byWorkload
 * @returns {{workload: string, stat: Stat | null, floor: number | undefined}[]}
 */
export function aaControl(byWorkload) {
  return Object.entries(byWorkload).map(([workload, v]) => {
    const reach = v?.ci ? Math.max(0, v.ci.hi - 1, 1 - v.ci.lo) : undefined;
    return { workload, stat: v, floor: reach === undefined ? undefined : round(reach) };
  });
}

/**
 * What another round should run while some target is undecided: per server, the workloads those targets need
 * run one server at a time (an empty list: start it and measure its RSS at rest), and the pairs they need loaded
 * at once. Both empty when every target is decided.
 * @param {Check[]} checks
 * @returns {{servers: Map<string, Set<string>>, pairs: PairKey[]}}
 */
export function undecidedNeeds(checks) {
  /** @type {Map<string, Set<string>>} */
  const servers = new Map();
  /** @type {Map<string, PairKey>} */
  const pairs = new Map();
  for (const c of checks) {
    if (c.decided) continue;
    for (const n of c.needs) {
      const set = servers.get(n.server) ?? new Set();
      for (const wl of n.workloads) set.add(wl);
      servers.set(n.server, set);
    }
    for (const p of c.pairs ?? []) pairs.set(`${p.num}/${p.den}/${p.wl}`, p);
  }
  return { servers, pairs: [...pairs.values()] };
}
