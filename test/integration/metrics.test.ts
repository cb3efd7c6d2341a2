/**
 * Metrics: StatsD datagrams received by a UDP socket in the test, with
 * Gunicorn's names under `tsunicorn.`; and the arbiter's Prometheus /metrics,
 * valid exposition text whose request count equals the requests made, with
 * worker restarts counted by reason.
 */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Server, cleanup, get, start, waitFor } from './harness.js';

afterEach(cleanup);

/** A StatsD daemon stand-in: every line of every datagram, and the datagram sizes. */
async function udpReceiver(): Promise<{ port: number; lines: string[]; sizes: number[]; close(): void }> {
  const socket = dgram.createSocket('udp4');
  const lines: string[] = [];
  const sizes: number[] = [];
  socket.on('message', (msg) => {
    sizes.push(msg.length);
    lines.push(...msg.toString('utf8').split('\n'));
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: (socket.address() as AddressInfo).port, lines, sizes, close: () => socket.close() };
}

/** Sum of the counter `name` over all its lines (`name:N|c`, batched counts included). */
function counted(lines: string[], name: string): number {
  let n = 0;
  for (const l of lines) {
    const m = /^(.+):(\d+)\|c(?:\|@[\d.]+)?$/.exec(l);
    if (m && m[1] === name) n += Number(m[2]);
  }
  return n;
}

describe('StatsD (--statsd-host)', () => {
  it("sends Gunicorn's metrics as tsunicorn.*: requests, request.duration (ms), request.status.NNN, workers gauge, log.* counters", async () => {
    const udp = await udpReceiver();
    try {
      const s = start([
        'node-app.mjs',
        '-w',
        '2',
        '-b',
        '127.0.0.1:0',
        '--log-level',
        'debug',
        '--statsd-host',
        `127.0.0.1:${udp.port}`,
        '--statsd-prefix',
        'myapp.',
      ]);
      const port = await s.port();
      await s.readyWorkers(2);
      for (let i = 0; i < 5; i++) expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(200);
      expect((await get(`http://127.0.0.1:${port}/boom`)).status).toBe(500);

      const p = 'myapp.tsunicorn';
      await waitFor(
        `StatsD metrics for 6 requests (got:\n${udp.lines.join('\n')})`,
        () =>
          counted(udp.lines, `${p}.requests`) === 6 &&
          counted(udp.lines, `${p}.request.status.200`) === 5 &&
          counted(udp.lines, `${p}.request.status.500`) === 1 &&
          udp.lines.filter((l) => l.startsWith(`${p}.request.duration:`)).length === 6 &&
          counted(udp.lines, `${p}.log.error`) >= 1 &&
          counted(udp.lines, `${p}.log.exception`) === 1 &&
          udp.lines.includes(`${p}.workers:2|g`),
      );
      for (const l of udp.lines.filter((x) => x.startsWith(`${p}.request.duration:`))) {
        expect(l).toMatch(/^myapp\.tsunicorn\.request\.duration:\d+(\.\d+)?\|ms$/);
      }

      // The arbiter counts its own error-log lines: a worker killed outright is logged at ERROR by it.
      const before = counted(udp.lines, `${p}.log.error`);
      process.kill(s.workers()[0]!, 'SIGKILL');
      await s.waitLog(/was sent SIGKILL/);
      await waitFor('the arbiter’s log.error', () => counted(udp.lines, `${p}.log.error`) > before);

      // Well-formed StatsD lines, batched into datagrams of at most 512 bytes.
      for (const l of udp.lines) expect(l).toMatch(/^[A-Za-z0-9_.-]+:\d+(\.\d+)?\|(c|ms|g)$/);
      expect(Math.max(...udp.sizes)).toBeLessThanOrEqual(512);
      // Fewer datagrams than metrics: 6 requests × 3 metrics would be 18 datagrams unbatched.
      expect(udp.sizes.length).toBeLessThan(udp.lines.length);
    } finally {
      udp.close();
    }
  });
});

// ── Prometheus ──────────────────────────────────────────────────────────────

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\.)*"';
const VALUE = '[-+]?(?:\\d+(?:\\.\\d*)?(?:[eE][-+]?\\d+)?|\\.\\d+(?:[eE][-+]?\\d+)?|Inf|NaN)';
const SAMPLE = new RegExp(`^(${NAME})(\\{(?:${LABEL}(?:,${LABEL})*,?)?\\})? (${VALUE})(?: -?\\d+)?$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const HELP = new RegExp(`^# HELP (${NAME}) .*$`);

/**
 * Checks the Prometheus text exposition format (0.0.4) line by line: every
 * line is a HELP, TYPE or sample line; every sample belongs to a family
 * declared by an earlier TYPE line (histograms: _bucket, _sum, _count).
 * Returns the samples as `name{labels}` → value.
 */
function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  expect(text.endsWith('\n'), 'ends with a newline').toBe(true);
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = TYPE.exec(line);
    if (type) {
      expect(types.has(type[1]!), `one TYPE line for ${type[1]}`).toBe(false);
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('#')) {
      expect(line, 'a comment is HELP or TYPE').toMatch(HELP);
      continue;
    }
    const m = SAMPLE.exec(line);
    expect(m, `exposition line: ${JSON.stringify(line)}`).not.toBeNull();
    const name = m![1]!;
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    expect(types.has(family), `a TYPE line before ${name}`).toBe(true);
    if (family !== name) expect(types.get(family)).toBe('histogram');
    samples.set(`${name}${m![2] ?? ''}`, Number(m![3]!.replace(/^\+?Inf$/, 'Infinity')));
  }
  expect(types.size).toBeGreaterThan(0);
  return samples;
}

function sumOf(samples: Map<string, number>, prefix: string): number {
  let n = 0;
  for (const [k, v] of samples) if (k.startsWith(prefix)) n += v;
  return n;
}

async function scrape(url: string): Promise<Map<string, number>> {
  const res = await get(url);
  expect(res.status).toBe(200);
  expect(String(res.headers['content-type'])).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(res.body);
}

async function metricsUrl(s: Server): Promise<string> {
  return (await s.waitLog(/Serving metrics at: (http:\S+)/))[1]!;
}

describe('Prometheus (--metrics-bind)', () => {
  it('serves valid exposition text whose request count equals the requests made, and counts restarts by reason', async () => {
    const s = start([
      'node-app.mjs',
      '-w',
      '2',
      '-b',
      '127.0.0.1:0',
      '--metrics-bind',
      '127.0.0.1:0',
      '--log-level',
      'debug',
    ]);
    const port = await s.port();
    const url = await metricsUrl(s);
    await s.readyWorkers(2);

    // 36 successes and one 500, over fresh connections (spread over both workers).
    for (let i = 0; i < 36; i++) expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(200);
    expect((await get(`http://127.0.0.1:${port}/boom`)).status).toBe(500);
    // Counts arrive on heartbeats (≤ 1 s apart): poll until they match, then they must match exactly.
    let m = await waitFor('37 requests in /metrics', async () => {
      const x = await scrape(url);
      return sumOf(x, 'tsunicorn_http_requests_total{') >= 37 &&
        x.get('tsunicorn_http_request_duration_seconds_count') === 37
        ? x
        : null;
    });
    expect(sumOf(m, 'tsunicorn_http_requests_total{')).toBe(37);
    expect(m.get('tsunicorn_http_requests_total{status="200"}')).toBe(36);
    expect(m.get('tsunicorn_http_requests_total{status="500"}')).toBe(1);
    expect(m.get('tsunicorn_http_request_duration_seconds_bucket{le="+Inf"}')).toBe(37);
    expect(m.get('tsunicorn_http_request_duration_seconds_sum')).toBeGreaterThan(0);
    // Buckets are cumulative.
    const buckets = [...m]
      .filter(([k]) => k.startsWith('tsunicorn_http_request_duration_seconds_bucket'))
      .map(([, v]) => v);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
    expect(m.get('tsunicorn_http_requests_in_flight')).toBe(0);
    expect(m.get('tsunicorn_workers')).toBe(2);
    // Three requests held by the app count as in flight until they are answered.
    const held = Array.from({ length: 3 }, () => get(`http://127.0.0.1:${port}/slow?ms=2500`));
    await waitFor(
      '3 requests in flight',
      async () => (await scrape(url)).get('tsunicorn_http_requests_in_flight') === 3,
    );
    for (const r of await Promise.all(held)) expect(r.status).toBe(200);
    await waitFor('none in flight', async () => (await scrape(url)).get('tsunicorn_http_requests_in_flight') === 0);
    m = await scrape(url);
    const rssPids = () =>
      [...m.keys()]
        .flatMap((k) => /^tsunicorn_worker_resident_memory_bytes\{pid="(\d+)"\}$/.exec(k)?.[1] ?? [])
        .map(Number);
    expect(rssPids().sort()).toEqual(s.workers().sort());

    // kill -9 of a worker: a crash; its requests stay counted.
    const victim = s.workers()[0]!;
    process.kill(victim, 'SIGKILL');
    m = await waitFor('a crash restart', async () => {
      const x = await scrape(url);
      return x.get('tsunicorn_worker_restarts_total{reason="crash"}') === 1 ? x : null;
    });
    expect(sumOf(m, 'tsunicorn_http_requests_total{')).toBe(40);

    // HUP: both workers are replaced for a reload.
    await s.readyWorkers(3);
    s.signal('SIGHUP');
    m = await waitFor(
      '2 reload restarts',
      async () => {
        const x = await scrape(url);
        return x.get('tsunicorn_worker_restarts_total{reason="reload"}') === 2 ? x : null;
      },
      15_000,
    );
    expect(m.get('tsunicorn_worker_restarts_total{reason="crash"}')).toBe(1);
    expect(m.get('tsunicorn_worker_restarts_total{reason="timeout"}')).toBe(0);
    expect(sumOf(m, 'tsunicorn_http_requests_total{')).toBe(40);
    // The live workers' memory, by pid, follows the workers.
    await waitFor('rss gauges for the new workers only', async () => {
      m = await scrape(url);
      return rssPids().sort().join() === s.workers().sort().join() && rssPids().length === 2;
    });

    // Only /metrics is served.
    expect((await get(url.replace(/\/metrics$/, '/'))).status).toBe(404);
    s.signal('SIGTERM');
    expect((await s.waitExit()).code).toBe(0);
  }, 45_000);

  it('counts requests served right before a graceful retirement (last beat on exit)', async () => {
    const s = start([
      'node-app.mjs',
      '-w',
      '1',
      '-b',
      '127.0.0.1:0',
      '--metrics-bind',
      '127.0.0.1:0',
      '--max-requests',
      '5',
      '--log-level',
      'debug',
    ]);
    const port = await s.port();
    const url = await metricsUrl(s);
    await s.readyWorkers(1);
    for (let i = 0; i < 12; i++) expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(200);
    const m = await waitFor('12 requests and max-requests restarts', async () => {
      const x = await scrape(url);
      return sumOf(x, 'tsunicorn_http_requests_total{') === 12 &&
        (x.get('tsunicorn_worker_restarts_total{reason="max-requests"}') ?? 0) >= 2
        ? x
        : null;
    });
    expect(m.get('tsunicorn_http_requests_total{status="200"}')).toBe(12);
  });

  it('a taken --metrics-bind address is a one-line error, exit 1, before any worker starts', async () => {
    const first = start(['node-app.mjs', '-b', '127.0.0.1:0', '--metrics-bind', '127.0.0.1:0']);
    const taken = new URL(await metricsUrl(first)).port;
    const s = start(['node-app.mjs', '-b', '127.0.0.1:0', '--metrics-bind', `127.0.0.1:${taken}`]);
    const exit = await s.waitExit();
    expect(exit.code).toBe(1);
    expect(s.log).toMatch(
      new RegExp(`cannot serve metrics on 127\\.0\\.0\\.1:${taken} \\(--metrics-bind\\): EADDRINUSE`),
    );
    expect(s.log).not.toMatch(/Booting worker/);
  });
});
