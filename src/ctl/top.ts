/**
 * `tsunicorn ctl top`: a live view of the arbiter and its workers, built from
 * `status` answers taken every interval. Workers send cumulative counters on
 * their beats (requests, event-loop time, latency buckets); rates over the last
 * interval are differences between two answers, timed by each worker's beat
 * (answer time minus beat age), so a beat that has not moved yet shows the
 * last rate rather than a dip to zero. The computation and the formatting are
 * pure (test/unit/ctl-top.test.ts); ctl/run-top.ts runs the loop and the terminal.
 */
import type { ArbiterStatus, WorkerStatus } from '../arbiter/control/protocol.js';
import { LATENCY_BUCKETS, bucketQuantile } from '../metrics/request-stats.js';

/** One `status` answer and when it arrived (ms, monotonic). */
export interface TopSample {
  status: ArbiterStatus;
  at: number;
}

interface TopRow {
  pid: number;
  generation: number;
  state: string;
  /** Over the last interval; null until two beats were seen. */
  reqPerSec: number | null;
  inFlight: number;
  /** Seconds; null with no request answered in the interval. */
  p50: number | null;
  p99: number | null;
  rss: number;
  heapUsed: number;
  /** Event-loop utilisation, 0..1. */
  elu: number | null;
  ageMs: number;
}

export interface TopView extends Pick<ArbiterStatus, 'pid' | 'name' | 'state' | 'generation' | 'target' | 'restarts'> {
  /** Sum over workers with a rate. */
  reqPerSec: number;
  rows: TopRow[];
}

interface Seen {
  beatAt: number;
  worker: WorkerStatus;
  row: Pick<TopRow, 'reqPerSec' | 'p50' | 'p99' | 'elu'>;
}

/** What ctl top remembers between answers: each worker's last beat seen and the rates computed then. */
export type TopMemory = Map<number, Seen>;

const NONE = { reqPerSec: null, p50: null, p99: null, elu: null };

function rates(prev: Seen | undefined, w: WorkerStatus, beatAt: number): Seen['row'] {
  if (!prev) return NONE;
  // No beat since the last answer: the rates of the last interval still stand.
  if (beatAt - prev.beatAt < 1) return prev.row;
  const seconds = (beatAt - prev.beatAt) / 1000;
  const before = prev.worker.load;
  const latency = w.load.latency.map((n, i) => Math.max(0, n - (before.latency[i] ?? 0)));
  const idle = w.load.loopIdleMs - before.loopIdleMs;
  const active = w.load.loopActiveMs - before.loopActiveMs;
  return {
    reqPerSec: Math.max(0, w.requests - prev.worker.requests) / seconds,
    p50: bucketQuantile(LATENCY_BUCKETS, latency, 0.5),
    p99: bucketQuantile(LATENCY_BUCKETS, latency, 0.99),
    elu: idle + active > 0 ? Math.min(1, Math.max(0, active / (idle + active))) : null,
  };
}

/** The view for a new answer; `memory` is updated for the next one (workers gone are forgotten). */
export function topView(sample: TopSample, memory: TopMemory): TopView {
  const s = sample.status;
  const seen = new Set<number>();
  const rows = s.workers.map((w): TopRow => {
    seen.add(w.pid);
    const beatAt = sample.at - w.beatAgeMs;
    const prev = memory.get(w.pid);
    const r = rates(prev, w, beatAt);
    if (!prev || beatAt - prev.beatAt >= 1) memory.set(w.pid, { beatAt, worker: w, row: r });
    return {
      pid: w.pid,
      generation: w.generation,
      state: w.state,
      inFlight: w.inFlight,
      rss: w.rss,
      heapUsed: w.load.heapUsed,
      ageMs: w.ageMs,
      ...r,
    };
  });
  for (const pid of memory.keys()) if (!seen.has(pid)) memory.delete(pid);
  return {
    pid: s.pid,
    name: s.name,
    state: s.state,
    generation: s.generation,
    target: s.target,
    restarts: s.restarts,
    reqPerSec: rows.reduce((sum, r) => sum + (r.reqPerSec ?? 0), 0),
    rows,
  };
}

/** 0.42ms, 4.2ms, 42ms, 1.2s; '-' for none. */
export function formatLatency(seconds: number | null): string {
  if (seconds === null) return '-';
  const ms = seconds * 1000;
  if (ms < 1) return `${ms.toFixed(2)}ms`;
  if (ms < 10) return `${ms.toFixed(1)}ms`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  return `${(ms / 1000).toFixed(1)}s`;
}

const formatMB = (bytes: number): string => (bytes > 0 ? `${(bytes / 1048576).toFixed(1)}M` : '-');
const formatRate = (r: number | null): string => (r === null ? '-' : r >= 100 ? String(Math.round(r)) : r.toFixed(1));
const formatElu = (e: number | null): string => (e === null ? '-' : `${Math.round(e * 100)}%`);

const COLUMNS = ['PID', 'GEN', 'STATE', 'REQ/S', 'IN-FLIGHT', 'P50', 'P99', 'RSS', 'HEAP', 'LOOP'] as const;
/** Right-aligned: the numbers. */
const RIGHT = new Set<string>(['REQ/S', 'IN-FLIGHT', 'P50', 'P99', 'RSS', 'HEAP', 'LOOP']);

/** The view as lines: a header for the arbiter, a column header, one row per worker (oldest first). */
export function formatTop(v: TopView, clock: string): string[] {
  const cells = v.rows.map((r) => [
    String(r.pid),
    String(r.generation),
    r.state,
    formatRate(r.reqPerSec),
    String(r.inFlight),
    formatLatency(r.p50),
    formatLatency(r.p99),
    formatMB(r.rss),
    formatMB(r.heapUsed),
    formatElu(r.elu),
  ]);
  const widths = COLUMNS.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (row: readonly string[]) =>
    row
      .map((c, i) => (RIGHT.has(COLUMNS[i]!) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const live = v.rows.filter((r) => r.state === 'ready' || r.state === 'booting').length;
  return [
    `master ${v.pid} [${v.name}] ${v.state}  generation ${v.generation}  workers ${live}/${v.target}  ` +
      `${formatRate(v.reqPerSec)} req/s  restarts ${v.restarts}  ${clock}`,
    line(COLUMNS),
    ...cells.map(line),
  ];
}

/** `--json`: one object per interval, numbers unformatted (seconds, bytes, fractions). */
export function topJson(v: TopView, time: string): string {
  return JSON.stringify({ time, ...v });
}
