/**
 * Streaming through both app interfaces, with the examples in examples/streaming/ under -w 2:
 * a 200 MB upload reaches the app as a stream (every worker's peak RSS stays far below the body
 * size), server-sent events reach the client one by one as they are produced, and a client that
 * goes away is noticed by the app (fetch: `request.signal` aborts). Small writes are not held back by
 * Nagle's algorithm.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, type Server, cleanup, median, notDelayedBound, start } from './harness.js';

afterEach(cleanup);

const UPLOAD_BYTES = 200 * 1024 * 1024;
const RSS_LIMIT_MB = 150;

/** Peak resident set of a process so far (VmHWM), in MiB. */
function peakRssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(status.match(/^VmHWM:\s+(\d+) kB/m)![1]);
  return kb / 1024;
}

async function serve(app: string): Promise<{ s: Server; port: number; workers: number[] }> {
  const s = start([app, '-w', '2', '-b', '127.0.0.1:0', '--log-level', 'debug'], { cwd: ROOT });
  const port = await s.port();
  await s.readyWorkers(2);
  return { s, port, workers: s.workers() };
}

/** POSTs `total` bytes as fast as the socket takes them, never holding more than one 64 KiB chunk; resolves with the JSON answer and the body's sha256. */
function upload(
  port: number,
  path: string,
  total: number,
): Promise<{ status: number; body: { bytes: number; chunks: number; sha256: string }; sha256: string }> {
  const chunk = Buffer.alloc(64 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 7919) & 0xff;
  const hash = createHash('sha256');
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path,
        headers: { 'content-length': total, 'content-type': 'application/octet-stream' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text), sha256: hash.digest('hex') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    let sent = 0;
    const write = (): void => {
      while (sent < total) {
        const part = sent + chunk.length <= total ? chunk : chunk.subarray(0, total - sent);
        sent += part.length;
        hash.update(part);
        if (!req.write(part)) {
          req.once('drain', write);
          return;
        }
      }
      req.end();
    };
    write();
  });
}

interface SseEvent {
  n: number;
  /** When the app produced it (its Date.now()). */
  t: number;
  /** When the client had it parsed. */
  received: number;
}

/** Reads an event stream to its end, time-stamping each event as it arrives. */
function readEvents(port: number, path: string): Promise<{ headers: http.IncomingHttpHeaders; events: SseEvent[] }> {
  return new Promise((resolve, reject) => {
    const events: SseEvent[] = [];
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buf += d;
          let end = buf.indexOf('\n\n');
          while (end >= 0) {
            const data = buf
              .slice(0, end)
              .split('\n')
              .find((l) => l.startsWith('data: '));
            if (data) events.push({ ...(JSON.parse(data.slice(6)) as { n: number; t: number }), received: Date.now() });
            buf = buf.slice(end + 2);
            end = buf.indexOf('\n\n');
          }
        });
        res.on('end', () => resolve({ headers: res.headers, events }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

describe.each([
  ['node', 'examples/streaming/node.mjs', /streaming: client went away from \/wait\?ms=30000 after \d+ ms/],
  [
    'fetch',
    'examples/streaming/fetch.mjs',
    /streaming: request\.signal aborted: client went away from \/wait after \d+ ms/,
  ],
])('%s interface, -w 2', (iface, app, goneRe) => {
  it(`a 200 MB upload reaches the app as a stream; worker peak RSS stays under ${RSS_LIMIT_MB} MB`, async () => {
    const { port, workers } = await serve(app);
    const before = workers.map(peakRssMb);
    // The app rests 5 ms after each MiB: a reader slower than loopback, so only backpressure keeps the
    // body from piling up in the worker.
    const res = await upload(port, '/upload?pause=5', UPLOAD_BYTES);
    expect(res.status).toBe(200);
    expect(res.body.bytes).toBe(UPLOAD_BYTES);
    expect(res.body.sha256).toBe(res.sha256);
    // Read chunk by chunk as it arrived (socket reads are at most 64 KiB), not as one buffer.
    expect(res.body.chunks).toBeGreaterThanOrEqual(UPLOAD_BYTES / (64 * 1024));
    const peaks = workers.map(peakRssMb);
    console.log(
      `${iface}: worker peak RSS before ${before.map((m) => m.toFixed(0)).join('/')} MB, after the 200 MB upload ${peaks.map((m) => m.toFixed(0)).join('/')} MB`,
    );
    for (const mb of peaks) expect(mb).toBeLessThan(RSS_LIMIT_MB);
  }, 60_000);

  it('server-sent events reach the client one by one, each before the app produced the next', async () => {
    const { port } = await serve(app);
    const t0 = Date.now();
    const { headers, events } = await readEvents(port, '/events?n=8&interval=100');
    expect(headers['content-type']).toBe('text/event-stream');
    expect(events.map((e) => e.n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // The first event is produced at once, the others every 100 ms: each must arrive before the next
    // exists, so nothing was held back to be sent with a later one.
    expect(events[0]!.received - t0).toBeLessThan(1000);
    for (let i = 0; i + 1 < events.length; i++) {
      expect(events[i]!.received, `event ${i + 1} arrived after event ${i + 2} was produced`).toBeLessThanOrEqual(
        events[i + 1]!.t,
      );
    }
  });

  it('a client that goes away mid-request is noticed by the app', async () => {
    const { s, port } = await serve(app);
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET /wait?ms=30000 HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await s.waitLog(/streaming: waiting on \/wait\?ms=30000/);
    socket.destroy();
    await s.waitLog(goneRe, 5000);
    // Leaving is not an app error.
    expect(s.log).not.toMatch(/Error handling request/);
  });
});

describe('small writes', () => {
  it('small writes are not held back by Nagle: every connection has TCP_NODELAY', async () => {
    // On Linux the arbiter sets it on the listener and connections inherit it (node-compat
    // setInheritedNoDelay); without it each of these responses waits ~40 ms for a delayed ACK.
    const s = start(['test/fixtures/small-writes.mjs', '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug'], {
      cwd: ROOT,
    });
    const port = await s.port();
    await s.readyWorkers(1);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const fetchBody = (path: string) =>
      new Promise<string>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path, agent }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (text += d));
            res.on('end', () => resolve(text));
          })
          .on('error', reject);
      });
    // Baseline: the same response written in one piece, on the same connection, sampled in turn with it.
    const pieces: number[] = [];
    const whole: number[] = [];
    try {
      for (let i = 0; i < 21; i++) {
        for (const [path, into] of [
          ['/', pieces],
          ['/one', whole],
        ] as const) {
          const t = performance.now();
          expect(await fetchBody(path)).toBe('abc');
          into.push(performance.now() - t);
        }
      }
    } finally {
      agent.destroy();
    }
    const [m, base] = [median(pieces), median(whole)];
    const why = `median ${m.toFixed(1)} ms in pieces, ${base.toFixed(1)} ms in one`;
    expect(m, why).toBeLessThanOrEqual(notDelayedBound(base, 40));
  });
});
