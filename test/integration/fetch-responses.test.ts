/**
 * Every kind of Response a fetch app returns, served by the real server with the lightweight
 * global Response (fetchFastResponse, the default), without it, and with it while every
 * response closes its connection (--keep-alive 0). Requests share one keep-alive connection pool, so a wrong
 * Content-Length or framing shows up as a broken next response.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { type Server, cleanup, start } from './harness.js';
import { sendRaw } from './raw.js';

afterAll(cleanup);

describe.each([
  ['fetchFastResponse on (default)', [], true],
  ['--no-fetch-fast-response', ['--no-fetch-fast-response'], false],
  ['fetchFastResponse on, --keep-alive 0', ['--keep-alive', '0'], true],
])('%s', (_name, extra, light) => {
  let base = '';
  let agent: Agent;
  let server: Server;

  beforeAll(async () => {
    const s = (server = start([
      'fetch-responses.mjs',
      '-w',
      '1',
      '-b',
      '127.0.0.1:0',
      '--log-level',
      'debug',
      ...extra,
    ]));
    base = `http://127.0.0.1:${await s.port()}`;
    await s.readyWorkers(1);
    agent = new Agent({ connections: 2 });
  });
  afterAll(() => agent?.close());

  async function fetchIt(path: string, method = 'GET') {
    const res = await request(`${base}${path}`, { dispatcher: agent, method });
    const body = Buffer.from(await res.body.arrayBuffer());
    return { status: res.statusCode, headers: res.headers, body, text: body.toString() };
  }

  it('the global Response is the light one only when the setting is on; instanceof holds either way', async () => {
    const g = JSON.parse((await fetchIt('/global')).text);
    expect(g).toEqual({
      original: !light,
      lightInstanceof: true,
      fetchedInstanceof: true,
      realInstanceofReal: true,
      name: 'Response',
    });
  });

  it('string bodies: Content-Length in bytes, the implied or given Content-Type, status text', async () => {
    const s = await fetchIt('/string');
    expect([s.status, s.text, s.headers['content-length'], s.headers['content-type'], s.headers['x-kind']]).toEqual([
      200,
      'hello string',
      '12',
      'text/plain;charset=UTF-8',
      'string',
    ]);
    expect(s.headers['transfer-encoding']).toBeUndefined();
    const u = await fetchIt('/utf8');
    expect([u.text, u.headers['content-length']]).toEqual(['héllo ✓', String(Buffer.byteLength('héllo ✓'))]);
    const t = await fetchIt('/status-text');
    expect([t.status, t.text]).toEqual([418, 'teapot']);
  });

  it('Uint8Array and Buffer bodies, byte for byte', async () => {
    const b = await fetchIt('/bytes');
    expect([...b.body]).toEqual([0, 1, 2, 253, 254, 255]);
    expect([b.headers['content-length'], b.headers['content-type']]).toEqual(['6', 'application/octet-stream']);
    const buf = await fetchIt('/buffer');
    expect([buf.text, buf.headers['content-length'], buf.headers['content-type']]).toEqual([
      'from a Buffer',
      '13',
      undefined,
    ]);
  });

  it('Response.json', async () => {
    const j = await fetchIt('/json');
    expect([j.status, j.headers['content-type'], JSON.parse(j.text)]).toEqual([
      201,
      'application/json',
      { ok: true, list: [1, 2] },
    ]);
  });

  it('a streamed body', async () => {
    const s = await fetchIt('/stream');
    expect([s.status, s.text, s.headers['content-type']]).toEqual([200, 'chunk0;chunk1;chunk2;', 'text/plain']);
  });

  it('several Set-Cookie headers stay separate', async () => {
    const c = await fetchIt('/cookies');
    expect(c.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    expect([c.text, c.headers['x-kind']]).toEqual(['cookies', 'cookies']);
  });

  it('204 and 304 have no body and no framing headers; a null 200 body is Content-Length 0', async () => {
    const n = await fetchIt('/no-content');
    expect([
      n.status,
      n.text,
      n.headers['x-kind'],
      n.headers['content-length'],
      n.headers['transfer-encoding'],
    ]).toEqual([204, '', 'empty', undefined, undefined]);
    const m = await fetchIt('/not-modified');
    expect([m.status, m.text, m.headers.etag, m.headers['content-length'], m.headers['transfer-encoding']]).toEqual([
      304,
      '',
      '"v1"',
      undefined,
      undefined,
    ]);
    const e = await fetchIt('/empty');
    expect([e.status, e.text, e.headers['content-length']]).toEqual([200, '', '0']);
    // The connection is still good for the next response.
    expect((await fetchIt('/string')).text).toBe('hello string');
  });

  it('HEAD: the GET head with its Content-Length, no body', async () => {
    for (const path of ['/string', '/utf8', '/json', '/bytes', '/buffer', '/empty', '/no-content', '/not-modified']) {
      const get = await fetchIt(path);
      const head = await fetchIt(path, 'HEAD');
      expect([head.status, head.text, head.headers['content-length'], head.headers['content-type']]).toEqual([
        get.status,
        '',
        get.headers['content-length'],
        get.headers['content-type'],
      ]);
    }
    const stream = await fetchIt('/stream', 'HEAD');
    expect([stream.status, stream.text]).toEqual([200, '']);
  });

  it('headers changed after construction, a clone read by the app, a body already turned into a stream', async () => {
    const m = await fetchIt('/mutated');
    expect([m.text, m.headers['x-added'], m.headers['content-type']]).toEqual(['mutated', 'later', 'text/x-mutated']);
    const c = await fetchIt('/read-clone');
    expect([c.text, c.headers['x-clone-read']]).toEqual(['original body', 'original body']);
    const b = await fetchIt('/built');
    expect([b.text, b.headers['content-type']]).toEqual(['built body', 'text/plain;charset=UTF-8']);
  });

  it('a subclass of Response goes through the general path', async () => {
    const r = await fetchIt('/subclass');
    expect([r.status, r.text, r.headers['x-kind'], r.headers['content-length']]).toEqual([
      202,
      'from a subclass',
      'subclass',
      '15',
    ]);
  });

  it('a header node:http will not send is a logged 500, and the worker keeps serving', async () => {
    const r = await fetchIt('/bad-header');
    expect(r.status).toBe(500);
    await server.waitLog(/Error handling request GET \/bad-header/);
    expect((await fetchIt('/string')).status).toBe(200);
  });

  it('Node’s own Responses: Response.redirect and a fetch() result', async () => {
    const r = await fetchIt('/redirect');
    expect([r.status, r.headers.location]).toEqual([307, 'http://127.0.0.1/elsewhere']);
    const f = await fetchIt('/fetched');
    expect([f.status, f.text]).toEqual([200, 'from fetch']);
  });

  it('a Host that makes no URL is answered 400, also right after a good one', async () => {
    const port = Number(new URL(base).port);
    const get = (host: string) => sendRaw(port, `GET /string HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    for (const host of ['bad host', 'good.test:99999', 'a[b']) {
      expect((await get('good.test')).statuses).toEqual([200]);
      expect((await get(host)).statuses, host).toEqual([400]);
    }
  });

  it('many requests on kept-alive connections stay in step', async () => {
    const paths = ['/string', '/no-content', '/bytes', '/json', '/not-modified', '/stream', '/cookies', '/empty'];
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => fetchIt(paths[i % paths.length]!)));
    expect(results.map((r) => r.status)).toEqual(
      Array.from({ length: 40 }, (_, i) => [200, 204, 200, 201, 304, 200, 200, 200][i % 8]),
    );
  });
});
