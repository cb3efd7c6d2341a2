/**
 * The access log's %({name})o shows the response headers that were sent, whatever API set them:
 * setHeader, writeHead with an object, nested pairs or a flat list, flushHeaders, a fetch Response's
 * headers (the light path and Node's Response), for 304 and HEAD answers too; on both worker classes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, WORKER_CLASSES, cleanup, start, tmpDir, waitFor } from './harness.js';
import { sendRaw } from './raw.js';

afterAll(cleanup);

const LOGGED = ['content-type', 'x-kind', 'etag', 'set-cookie', 'content-length'];
const FORMAT = ['%(m)s %(U)s %(s)s', ...LOGGED.map((h) => `%({${h}}o)s`)].join('|');

type Case = [method: string, target: string, line: string];

const NODE_CASES: Case[] = [
  ['GET', '/set', 'GET /set 200|text/set|set|-|-|3'],
  ['GET', '/object', 'GET /object 200|text/object|object|-|-|-'],
  ['HEAD', '/object', 'HEAD /object 200|text/object|object|-|-|-'],
  ['GET', '/pairs', 'GET /pairs 200|text/pairs|pairs|-|-|-'],
  ['GET', '/flat', 'GET /flat 200|text/flat|flat|-|a=1, b=2|-'],
  ['GET', '/flushed', 'GET /flushed 200|text/flushed|flushed|-|-|-'],
  ['GET', '/mixed', 'GET /mixed 200|text/mixed|mixed|-|-|-'],
  ['GET', '/not-modified', 'GET /not-modified 304|-|not-modified|\\"v1\\"|-|-'],
];

const FETCH_CASES: Case[] = [
  ['GET', '/string', 'GET /string 200|text/plain;charset=UTF-8|string|-|-|12'],
  ['HEAD', '/string', 'HEAD /string 200|text/plain;charset=UTF-8|string|-|-|12'],
  ['GET', '/json', 'GET /json 201|application/json|-|-|-|24'],
  ['GET', '/cookies', 'GET /cookies 200|text/plain;charset=UTF-8|cookies|-|a=1; Path=/, b=2; HttpOnly|7'],
  ['GET', '/not-modified', 'GET /not-modified 304|-|-|\\"v1\\"|-|-'],
];

const SERVERS = WORKER_CLASSES.flatMap((cls) => [
  { cls, name: 'node app', app: 'response-headers.mjs', extra: [] as string[], cases: NODE_CASES },
  { cls, name: 'fetch app, light Response', app: 'fetch-responses.mjs', extra: [], cases: FETCH_CASES },
  {
    cls,
    name: "fetch app, Node's Response",
    app: 'fetch-responses.mjs',
    extra: ['--no-fetch-fast-response'],
    cases: FETCH_CASES,
  },
]);

describe.each(SERVERS)('$cls worker, $name', ({ cls, app, extra, cases }) => {
  let s: Server;
  let port: number;
  let access: string;
  const accessLines = () => fs.readFileSync(access, 'utf8').split('\n').filter(Boolean);

  beforeAll(async () => {
    access = path.join(tmpDir(), 'access.log');
    const logArgs = ['--access-logfile', access, '--access-logformat', FORMAT, '--log-level', 'debug'];
    s = start([app, '-k', cls, '-w', '1', '-b', '127.0.0.1:0', ...logArgs, ...extra]);
    port = await s.port();
    await s.readyWorkers(1);
  });

  it('each response header as it went out', async () => {
    for (const [method, target, line] of cases) {
      const r = await sendRaw(port, `${method} ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
      expect(r.statuses, `${method} ${target}: ${r.text}`).toEqual([Number(line.split(/[ |]/)[2])]);
      // Repeated fields reach the client one by one (a sync worker's Connection: close must not merge them).
      if (target === '/flat') expect(r.text).toMatch(/\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n/);
      const cookies = /\r\nset-cookie: a=1; Path=\/\r\nset-cookie: b=2; HttpOnly\r\n/i;
      if (target === '/cookies') expect(r.text).toMatch(cookies);
    }
    await waitFor(`${cases.length} access lines`, () => accessLines().length >= cases.length);
    expect(accessLines()).toEqual(cases.map((c) => c[2]));
  });
});
