/**
 * HTTP upgrades: WebSockets through tsunicorn with the `ws` package (examples/websocket/), the app's
 * `upgrade` and `shutdown` exports, graceful stops with upgraded connections open, and upgrade
 * requests to apps that have no upgrade handler.
 */
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FIXTURES, ROOT, type Server, cleanup, get, start, waitFor } from './harness.js';

afterEach(cleanup);

interface Client {
  ws: WebSocket;
  /** The worker pid from the app's greeting. */
  pid: number;
  /** Sends a text message and resolves with the next message received. */
  ask(text: string): Promise<string>;
  closed: Promise<{ code: number; reason: string; at: number }>;
}

async function connect(url: string): Promise<Client> {
  const ws = new WebSocket(url);
  const inbox: string[] = [];
  const waiting: ((m: string) => void)[] = [];
  ws.on('message', (data) => {
    const text = String(data);
    const w = waiting.shift();
    if (w) w(text);
    else inbox.push(text);
  });
  const next = (): Promise<string> =>
    new Promise((resolve) => (inbox.length ? resolve(inbox.shift()!) : waiting.push(resolve)));
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason), at: Date.now() }));
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('error', () => {});
  const hello = JSON.parse(await next()) as { pid: number };
  return {
    ws,
    pid: hello.pid,
    ask: (text) => {
      ws.send(text);
      return next();
    },
    closed,
  };
}

async function serve(args: string[]): Promise<{ s: Server; port: number }> {
  const s = start([...args, '-b', '127.0.0.1:0', '--log-level', 'debug'], { cwd: ROOT });
  const port = await s.port();
  return { s, port };
}

/** Opens WebSockets until both workers have some (at most 60), then keeps them all open. */
async function connectToBoth(port: number, workers: number[]): Promise<Client[]> {
  const clients: Client[] = [];
  const pids = new Set<number>();
  while (pids.size < 2 && clients.length < 60) {
    const c = await connect(`ws://127.0.0.1:${port}/ws`);
    clients.push(c);
    pids.add(c.pid);
  }
  expect([...pids].sort()).toEqual([...workers].sort());
  return clients;
}

describe.each([
  ['node app with an upgrade export', 'examples/websocket/app.mjs'],
  ['fetch app object with upgrade beside fetch', 'examples/websocket/fetch.mjs'],
])('%s, -w 2', (_name, app) => {
  it('WebSockets open on both workers and exchange messages; plain HTTP still works', async () => {
    const { s, port } = await serve([app, '-w', '2']);
    await s.readyWorkers(2);
    const clients = await connectToBoth(port, s.workers());
    for (const [i, c] of clients.entries()) expect(await c.ask(`hi ${i}`)).toBe(`echo: hi ${i}`);
    // Binary frames pass untouched.
    const bin = await new Promise<Buffer>((resolve) => {
      clients[0]!.ws.once('message', (d) => resolve(d as Buffer));
      clients[0]!.ws.send(Buffer.from([0, 1, 2, 255]));
    });
    expect([...bin]).toEqual([0, 1, 2, 255]);
    const res = await get(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/WebSocket endpoint/);
    // The app's upgrade() answers what it does not serve.
    const other = new WebSocket(`ws://127.0.0.1:${port}/elsewhere`);
    const status = await new Promise<number>((resolve) =>
      other.on('unexpected-response', (_req, r) => resolve(r.statusCode!)),
    );
    expect(status).toBe(404);
    other.on('error', () => {});
    other.terminate();
    for (const c of clients) c.ws.close();
  });

  it('TERM with WebSockets open: shutdown() sends close frames, the master exits 0 well before --graceful-timeout', async () => {
    const { s, port } = await serve([app, '-w', '2', '--graceful-timeout', '10']);
    await s.readyWorkers(2);
    const clients = await connectToBoth(port, s.workers());
    const t0 = Date.now();
    s.signal('SIGTERM');
    const closes = await Promise.all(clients.map((c) => c.closed));
    for (const c of closes) expect(c).toMatchObject({ code: 1001, reason: 'server going away' });
    expect((await s.waitExit(10_000)).code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(s.log).not.toMatch(/did not finish within the graceful timeout|SIGKILL/);
  });
});

describe('graceful stop without shutdown()', () => {
  it('upgraded connections are closed at the graceful deadline, the worker exits by itself, the master exits 0', async () => {
    const { s, port } = await serve([`${FIXTURES}/ws-no-shutdown.mjs`, '-w', '1', '--graceful-timeout', '3']);
    await s.readyWorkers(1);
    const c = await connect(`ws://127.0.0.1:${port}/ws`);
    expect(await c.ask('still here?')).toBe('echo: still here?');
    // An idle keep-alive HTTP connection to the same worker, to try an upgrade on during the stop.
    const raw = net.connect(port, '127.0.0.1');
    let rawText = '';
    raw.on('data', (d) => (rawText += d.toString('latin1')));
    raw.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await waitFor('first response on the keep-alive connection', () => /\r\n\r\n.*WebSocket endpoint/s.test(rawText));

    const t0 = Date.now();
    s.signal('SIGTERM');
    await s.waitLog(/Worker exiting/);
    // The WebSocket carries on while the worker drains.
    expect(await c.ask('and now?')).toBe('echo: and now?');
    // A new upgrade while draining goes elsewhere: 503 and close.
    rawText = '';
    raw.write(
      'GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    await waitFor('503 to an upgrade during the stop', () => rawText.startsWith('HTTP/1.1 503 '));

    const closed = await c.closed;
    const elapsed = closed.at - t0;
    expect(closed.code).toBe(1006); // No close frame: the app did not send one; the worker closed the socket.
    // Closed by the worker a tenth of --graceful-timeout before the arbiter's deadline (2.7 s of 3 s).
    expect(elapsed).toBeGreaterThan(2300);
    expect(elapsed).toBeLessThan(3300);
    expect((await s.waitExit(5000)).code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(3000 + 3000);
    expect(s.log).toMatch(/did not finish within the graceful timeout; closing its connections/);
    expect(s.log).not.toMatch(/SIGKILL/);
    raw.destroy();
  });
});

describe('apps without an upgrade handler, and failing upgrade handlers', () => {
  it('an upgrade request is served by the app as an ordinary request: a WebSocket client gets its answer, h2c is ignored', async () => {
    const { s, port } = await serve(['examples/express/app.mjs:app', '-w', '2']);
    await s.readyWorkers(2);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    ws.on('error', () => {});
    const status = await new Promise<number>((resolve) =>
      ws.on('unexpected-response', (_req, r) => resolve(r.statusCode!)),
    );
    expect(status).toBe(404);
    ws.terminate();
    // curl --http2 on http:// sends Upgrade: h2c; the server may ignore it (RFC 9110 §7.8) and answers in HTTP/1.1.
    const h2c = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const headers = {
        connection: 'Upgrade, HTTP2-Settings',
        upgrade: 'h2c',
        'http2-settings': 'AAMAAABkAARAAAAAAAIAAAAA',
      };
      http
        .get({ host: '127.0.0.1', port, path: '/', headers, agent: false }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        })
        .on('error', reject);
    });
    expect(h2c.status).toBe(200);
    expect(JSON.parse(h2c.body).framework).toBe('express');
  });

  it('an upgrade handler that throws: 500 and a logged error; one that fails after writing: the socket is closed', async () => {
    const { s, port } = await serve([`${FIXTURES}/ws-throws.mjs`, '-w', '1']);
    await s.readyWorkers(1);
    const exchange = (path: string) =>
      new Promise<string>((resolve) => {
        let text = '';
        const sock = net.connect(port, '127.0.0.1', () =>
          sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`),
        );
        sock.on('data', (d) => (text += d.toString('latin1')));
        sock.on('error', () => {});
        sock.on('close', () => resolve(text));
      });
    expect(await exchange('/x')).toMatch(/^HTTP\/1\.1 500 Internal Server Error\r\n/);
    await s.waitLog(/\[ERROR\] Error handling upgrade GET \/x: upgrade boom/);
    expect(await exchange('/late')).toMatch(/^HTTP\/1\.1 101 /);
    await s.waitLog(/\[ERROR\] Error handling upgrade GET \/late: upgrade rejected late/);
    // The worker carries on.
    expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(200);
    expect(s.countLog(/Booting worker/)).toBe(1);
  });
});
