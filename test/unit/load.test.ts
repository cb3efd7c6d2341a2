/**
 * Tests for the integration-test load generator (test/integration/load.ts)
 * against in-process node:http servers on 127.0.0.1:0.
 */
import fs from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type LoadResult, describeFailures, runLoad, startLoad } from '../integration/load.js';

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

interface TestServer {
  server: http.Server;
  url: string;
  /** Requests that reached the handler. */
  requests: number;
  /** Connections accepted. */
  connections: number;
  /** Client port of every request (TCP only). */
  ports: Set<number>;
  /** Sockets currently open on the server side. */
  open: Set<Socket>;
  /** Requests whose socket the handler destroyed. */
  destroyed: number;
}

const servers: TestServer[] = [];
const tmpDirs: string[] = [];

const hello: Handler = (_req, res) => res.end(`node ${process.pid}\n`);

async function startServer(handler: Handler = hello, listen: { path?: string } = {}): Promise<TestServer> {
  const t: TestServer = {
    server: http.createServer(),
    url: '',
    requests: 0,
    connections: 0,
    ports: new Set(),
    open: new Set(),
    destroyed: 0,
  };
  t.server.on('connection', (s: Socket) => {
    t.connections++;
    t.open.add(s);
    s.on('close', () => t.open.delete(s));
  });
  t.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    t.requests++;
    if (req.socket.remotePort !== undefined) t.ports.add(req.socket.remotePort);
    handler(req, res, t.requests);
  });
  servers.push(t);
  await new Promise<void>((resolve, reject) => {
    t.server.once('error', reject);
    if (listen.path) t.server.listen(listen.path, resolve);
    else t.server.listen(0, '127.0.0.1', resolve);
  });
  t.url = listen.path ? 'http://localhost/' : `http://127.0.0.1:${(t.server.address() as AddressInfo).port}/`;
  return t;
}

afterEach(async () => {
  for (const t of servers.splice(0)) {
    t.server.closeAllConnections();
    await new Promise<void>((r) => t.server.close(() => r()));
  }
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** Polls until `check()` is true; fails at the deadline. */
async function waitUntil(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function sum(o: Record<string, number>): number {
  return Object.values(o).reduce((a, b) => a + b, 0);
}

/** total is exactly the responses plus the errors. */
function expectConsistent(r: LoadResult): void {
  expect(r.total, describeFailures(r)).toBe(sum(r.statuses) + sum(r.errors));
}

describe('runLoad', () => {
  it('keep-alive: every client reuses one connection; counts add up; sockets are closed afterwards', async () => {
    const srv = await startServer();
    const r = await runLoad({ url: srv.url, concurrency: 10, durationMs: 10_000, maxRequests: 500, keepAlive: true });
    expect(r.errors, describeFailures(r)).toEqual({});
    expect(r.ok).toBe(500);
    expect(r.total).toBe(500);
    expect(r.statuses).toEqual({ 200: 500 });
    expect(r.bodies).toEqual(new Map([[`node ${process.pid}`, 500]]));
    expectConsistent(r);
    expect(srv.requests).toBe(500);
    expect(srv.ports.size).toBe(10);
    expect(srv.connections).toBe(10);
    expect(r.connections).toBe(10);
    await waitUntil('the generator to close its connections', () => srv.open.size === 0);
  });

  it('close mode: one connection per request, each with Connection: close', async () => {
    let closeHeaders = 0;
    const srv = await startServer((req, res) => {
      if (req.headers.connection === 'close') closeHeaders++;
      res.end('x');
    });
    const r = await runLoad({ url: srv.url, concurrency: 10, durationMs: 10_000, maxRequests: 300, keepAlive: false });
    expect(r.errors, describeFailures(r)).toEqual({});
    expect(r.ok).toBe(300);
    expectConsistent(r);
    expect(closeHeaders).toBe(300);
    expect(srv.connections).toBe(300);
    expect(srv.ports.size).toBe(300);
    expect(r.connections).toBe(300);
    await waitUntil('all connections to close', () => srv.open.size === 0);
  });

  it('keep-alive still reuses connections when the server advertises Keep-Alive: timeout=2', async () => {
    const srv = await startServer();
    srv.server.keepAliveTimeout = 2000;
    const r = await runLoad({ url: srv.url, concurrency: 5, durationMs: 10_000, maxRequests: 200, keepAlive: true });
    expect(r.errors, describeFailures(r)).toEqual({});
    expect(r.ok).toBe(200);
    expect(srv.connections).toBe(5);
  });

  it('a server answering Connection: close is not an error; the client reconnects', async () => {
    let closes = 0;
    const srv = await startServer((_req, res, n) => {
      if (n % 5 === 0) {
        closes++;
        res.setHeader('connection', 'close');
      }
      res.end('ok');
    });
    const r = await runLoad({ url: srv.url, concurrency: 10, durationMs: 10_000, maxRequests: 500, keepAlive: true });
    expect(r.errors, describeFailures(r)).toEqual({});
    expect(r.ok).toBe(500);
    expect(closes).toBe(100);
    // 10 initial connections plus one per close, except the clients' last responses.
    expect(srv.connections).toBeGreaterThanOrEqual(100);
    expect(srv.connections).toBeLessThanOrEqual(110);
    expect(r.connections).toBe(srv.connections);
  });

  for (const keepAlive of [true, false]) {
    it(`counts requests whose socket the server destroys, without retrying them (keepAlive ${keepAlive})`, async () => {
      const srv = await startServer((req, res, n) => {
        if (n % 10 === 0) {
          srv.destroyed++;
          req.socket.destroy();
        } else {
          res.end(`node ${process.pid}`);
        }
      });
      const r = await runLoad({
        url: srv.url,
        concurrency: 10,
        durationMs: 10_000,
        maxRequests: 400,
        keepAlive,
        errorBackoffMs: 0,
      });
      expectConsistent(r);
      expect(r.total).toBe(400);
      // Every request the generator counts reached the server exactly once: nothing was re-sent.
      expect(srv.requests).toBe(r.total);
      expect(srv.destroyed).toBe(40);
      expect(sum(r.errors), describeFailures(r)).toBe(40);
      expect(r.ok).toBe(360);
      for (const code of Object.keys(r.errors)) expect(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']).toContain(code);
      expect(r.errorSamples.length).toBeGreaterThan(0);
      expect(describeFailures(r)).toMatch(/40 failed/);
      if (keepAlive) {
        // Each failure replaced the client's connection.
        expect(srv.connections).toBeGreaterThanOrEqual(10 + 40 - 10);
        expect(srv.connections).toBeLessThanOrEqual(10 + 40);
      } else {
        expect(srv.connections).toBe(400);
      }
      await waitUntil('all connections to close', () => srv.open.size === 0);
    });
  }

  it('respects durationMs', async () => {
    const srv = await startServer();
    const t0 = performance.now();
    const r = await runLoad({ url: srv.url, concurrency: 5, durationMs: 300, keepAlive: true });
    const wall = performance.now() - t0;
    expect(r.errors, describeFailures(r)).toEqual({});
    expect(r.total).toBeGreaterThan(0);
    expect(r.total).toBe(srv.requests);
    expect(r.durationMs).toBeGreaterThanOrEqual(299);
    expect(wall).toBeLessThan(300 + 1500);
  });

  it('durationMs 0 starts nothing', async () => {
    const srv = await startServer();
    const r = await runLoad({ url: srv.url, concurrency: 5, durationMs: 0, keepAlive: true });
    expect(r.total).toBe(0);
    expect(srv.requests).toBe(0);
  });

  it('respects maxRequests exactly', async () => {
    const srv = await startServer();
    const r = await runLoad({ url: srv.url, concurrency: 50, durationMs: 10_000, maxRequests: 37, keepAlive: true });
    expect(r.total).toBe(37);
    expect(r.ok).toBe(37);
    expect(srv.requests).toBe(37);
    expect(r.connections).toBeLessThanOrEqual(37);
  });

  it('counts connection refusals and settles', async () => {
    const srv = await startServer();
    const url = srv.url;
    await new Promise<void>((r) => srv.server.close(() => r()));
    servers.splice(servers.indexOf(srv), 1);
    const r = await runLoad({ url, concurrency: 2, durationMs: 200, keepAlive: true });
    expect(r.total).toBeGreaterThan(0);
    expect(r.ok).toBe(0);
    expect(r.errors).toEqual({ ECONNREFUSED: r.total });
    expect(r.connections).toBe(0);
    expect(describeFailures(r)).toMatch(/ECONNREFUSED×/);
  });

  it('keep-alive clients whose server went away count their failed reconnects', async () => {
    const srv = await startServer((_req, res, n) => {
      if (n === 100) {
        srv.server.close();
        srv.server.closeAllConnections(); // includes this request's socket
        return;
      }
      res.end('ok');
    });
    const r = await runLoad({ url: srv.url, concurrency: 5, durationMs: 10_000, maxRequests: 300, keepAlive: true });
    expectConsistent(r);
    expect(r.total).toBe(300);
    expect(r.ok).toBe(99);
    expect(r.errors.ECONNREFUSED, describeFailures(r)).toBeGreaterThan(0);
    // Apart from refusals, at most one request per client failed: the one in flight when its connection was closed
    // (reaching the handler or still unparsed in the server's socket buffer).
    const socketErrors = r.total - r.ok - r.errors.ECONNREFUSED!;
    expect(socketErrors, describeFailures(r)).toBeGreaterThanOrEqual(1);
    expect(socketErrors, describeFailures(r)).toBeLessThanOrEqual(5);
    expect(srv.requests).toBe(100);
  });

  it('aborts requests still hanging drainMs after the end and counts them', async () => {
    const srv = await startServer(() => {
      /* never answers */
    });
    const t0 = performance.now();
    const r = await runLoad({ url: srv.url, concurrency: 3, durationMs: 100, drainMs: 200, keepAlive: true });
    expect(performance.now() - t0).toBeLessThan(100 + 200 + 1500);
    expect(r.total).toBe(3);
    expect(r.errors).toEqual({ LOAD_DRAIN_TIMEOUT: 3 });
    await waitUntil('all connections to close', () => srv.open.size === 0);
  });

  it('works over a unix socket', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsu-load-'));
    tmpDirs.push(dir);
    const sock = path.join(dir, 's.sock');
    const srv = await startServer((req, res) => res.end(`${req.url}`), { path: sock });
    const r = await runLoad({
      url: 'http://localhost/ping?x=1',
      socketPath: sock,
      concurrency: 4,
      durationMs: 10_000,
      maxRequests: 100,
      keepAlive: true,
    });
    expect(r.errors, describeFailures(r)).toEqual({});
    expect(r.bodies).toEqual(new Map([['/ping?x=1', 100]]));
    expect(srv.connections).toBe(4);
  });
});

describe('startLoad', () => {
  it('stop() ends a long run early, is idempotent, and loses no request', async () => {
    const srv = await startServer();
    const load = startLoad({ url: srv.url, concurrency: 20, durationMs: 60_000, keepAlive: true });
    await waitUntil('load to reach the server', () => srv.requests >= 200);
    const t0 = performance.now();
    const r = await load.stop();
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(await load.stop()).toBe(r);
    expect(await load.result).toBe(r);
    expect(r.errors, describeFailures(r)).toEqual({});
    expect(r.total).toBeGreaterThanOrEqual(200);
    expect(r.total).toBe(srv.requests);
    expect(r.ok).toBe(r.total);
    expect(r.durationMs).toBeLessThan(60_000);
    await waitUntil('all connections to close', () => srv.open.size === 0);
  });

  it('an abort signal stops the run', async () => {
    const ac = new AbortController();
    const srv = await startServer((_req, res, n) => {
      if (n === 50) ac.abort();
      res.end('ok');
    });
    const load = startLoad({ url: srv.url, concurrency: 10, durationMs: 60_000, keepAlive: false, signal: ac.signal });
    const r = await load.result;
    expect(r.errors, describeFailures(r)).toEqual({});
    expect(r.total).toBeGreaterThanOrEqual(50);
    expect(r.total).toBeLessThan(50 + 10 + 1);
    expect(r.total).toBe(srv.requests);
  });

  it('an already-aborted signal starts nothing', async () => {
    const srv = await startServer();
    const r = await runLoad({
      url: srv.url,
      concurrency: 10,
      durationMs: 60_000,
      keepAlive: true,
      signal: AbortSignal.abort(),
    });
    expect(r.total).toBe(0);
    expect(srv.requests).toBe(0);
  });
});
