/** The StatsD client: prefix joining, batching under 512 bytes, summed counters, and never throwing. */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_DATAGRAM, StatsdClient, normalizePrefix } from '../../src/metrics/statsd.js';

const sockets: dgram.Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

async function receiver(): Promise<{ port: number; datagrams: string[] }> {
  const socket = dgram.createSocket('udp4');
  sockets.push(socket);
  const datagrams: string[] = [];
  socket.on('message', (m) => datagrams.push(m.toString('utf8')));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return { port: (socket.address() as AddressInfo).port, datagrams };
}

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('StatsD client', () => {
  it('joins the prefix with one dot, as Gunicorn', () => {
    expect(normalizePrefix(null)).toBe('');
    expect(normalizePrefix('')).toBe('');
    expect(normalizePrefix('a')).toBe('a.');
    expect(normalizePrefix('myapp')).toBe('myapp.');
    expect(normalizePrefix('myapp...')).toBe('myapp.');
  });

  it('batches metrics into datagrams of at most 512 bytes, counters summed, timers and gauges line by line', async () => {
    const r = await receiver();
    const c = new StatsdClient({ target: { host: '127.0.0.1', port: r.port, family: 4 }, prefix: 'p', flushMs: 20 });
    for (let i = 0; i < 100; i++) {
      c.increment('tsunicorn.requests');
      c.timing('tsunicorn.request.duration', i + 0.12345);
    }
    c.gauge('tsunicorn.workers', 3);
    await until(() => r.datagrams.join('\n').includes('p.tsunicorn.requests:100|c'));
    const lines = r.datagrams.flatMap((d) => d.split('\n'));
    expect(lines.filter((l) => /^p\.tsunicorn\.request\.duration:\d+\.\d+\|ms$/.test(l))).toHaveLength(100);
    expect(lines).toContain('p.tsunicorn.request.duration:0.123|ms');
    expect(lines).toContain('p.tsunicorn.workers:3|g');
    expect(lines.filter((l) => l.startsWith('p.tsunicorn.requests:'))).toEqual(['p.tsunicorn.requests:100|c']);
    for (const d of r.datagrams) expect(Buffer.byteLength(d)).toBeLessThanOrEqual(MAX_DATAGRAM);
    expect(r.datagrams.length).toBeLessThan(20);
    c.close();
  });

  it('flushes on close, and neither throws nor blocks when nothing listens or the host does not resolve', async () => {
    const r = await receiver();
    const c = new StatsdClient({
      target: { host: '127.0.0.1', port: r.port, family: 4 },
      prefix: null,
      flushMs: 60_000,
    });
    await c.ready;
    c.increment('x');
    c.close();
    c.increment('after-close');
    await until(() => r.datagrams.includes('x:1|c'));

    const errors: string[] = [];
    const dead = dgram.createSocket('udp4');
    await new Promise<void>((res) => dead.bind(0, '127.0.0.1', res));
    const port = (dead.address() as AddressInfo).port;
    dead.close(); // Now nothing listens there: ECONNREFUSED on the connected socket.
    const d = new StatsdClient({
      target: { host: '127.0.0.1', port, family: 4 },
      prefix: null,
      flushMs: 5,
      onError: (m) => errors.push(m),
    });
    for (let i = 0; i < 5; i++) {
      d.increment('y');
      await new Promise((res) => setTimeout(res, 20));
    }
    d.close();
    const n = new StatsdClient({
      target: { host: 'no-such-host.invalid', port: 8125, family: 0 },
      prefix: null,
      onError: (m) => errors.push(m),
    });
    n.increment('z');
    await until(() => errors.some((e) => /cannot resolve/.test(e)));
    n.close();
    expect(errors.filter((e) => /ECONNREFUSED/.test(e)).length).toBeLessThanOrEqual(1);
  });
});
