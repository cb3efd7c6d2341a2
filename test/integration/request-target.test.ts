/**
 * Request targets in origin and absolute form (RFC 9112 §3.2), sent as raw bytes to the real server on
 * both worker classes and both interfaces: the node app gets Node's `req.url` as sent; the fetch app's
 * Request URL takes the absolute target's authority over Host and keeps the connection's scheme; the
 * access log's %(U)s and %(q)s show the target's path and query in both forms.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, WORKER_CLASSES, cleanup, start, tmpDir, waitFor } from './harness.js';
import { type RawResult, sendRaw } from './raw.js';

afterAll(cleanup);

/** The JSON the fixture answered with: what the app saw. */
function appSaw(r: RawResult): { method: string; url: string; host: string | null; body: string } {
  return JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4));
}

const get = (target: string, host: string | null) =>
  `GET ${target} HTTP/1.1\r\n${host === null ? '' : `Host: ${host}\r\n`}Connection: close\r\n\r\n`;

describe.each(WORKER_CLASSES.flatMap((cls) => (['node', 'fetch'] as const).map((iface) => ({ cls, iface }))))(
  '$cls worker, $iface interface',
  ({ cls, iface }) => {
    let s: Server;
    let port: number;
    let access: string;
    const fetch = iface === 'fetch';
    const accessLines = () => fs.readFileSync(access, 'utf8').split('\n').filter(Boolean);
    /** The access-log line of the n-th request (1-based), once written. */
    const logLine = (n: number) => waitFor(`access line ${n}`, () => accessLines()[n - 1]);
    let sent = 0;
    async function send(bytes: string, opts = {}): Promise<RawResult> {
      sent++;
      return sendRaw(port, bytes, opts);
    }

    beforeAll(async () => {
      access = path.join(tmpDir(), 'access.log');
      const app = fetch ? 'target-echo-fetch.mjs' : 'target-echo.mjs';
      const format = '%(s)s|%(U)s|%(q)s|%(r)s';
      const logArgs = ['--access-logfile', access, '--access-logformat', format, '--log-level', 'debug'];
      s = start([app, '-k', cls, '-w', '1', '-b', '127.0.0.1:0', ...logArgs]);
      port = await s.port();
      await s.readyWorkers(1);
    });

    it('origin form: the app sees the target, the log its path and query', async () => {
      const r = await send(get('/p/a?q=1&r=2', 'good.example'));
      expect(r.statuses).toEqual([200]);
      expect(appSaw(r).url).toBe(fetch ? 'http://good.example/p/a?q=1&r=2' : '/p/a?q=1&r=2');
      expect(await logLine(sent)).toBe('200|/p/a|q=1&r=2|GET /p/a?q=1&r=2 HTTP/1.1');
    });

    it("absolute form: the target's authority wins over Host; the log shows the target's path and query", async () => {
      const r = await send(get('http://other.example/p?q=1', 'good.example'));
      expect(r.statuses).toEqual([200]);
      const saw = appSaw(r);
      expect(saw.url).toBe('http://other.example/p?q=1');
      expect(saw.host).toBe('good.example');
      expect(await logLine(sent)).toBe('200|/p|q=1|GET http://other.example/p?q=1 HTTP/1.1');
    });

    it('absolute form with a port in Host, or in the target, or an upper-case scheme, or no path', async () => {
      const cases: [string, string, string, string][] = [
        // target, Host, fetch Request URL, %(U)s|%(q)s
        ['http://other.example/p?q=1', 'good.example:8080', 'http://other.example/p?q=1', '/p|q=1'],
        ['http://other.example:8081/p', 'good.example', 'http://other.example:8081/p', '/p|'],
        ['HTTP://Other.Example/P', 'good.example', 'http://other.example/P', '/P|'],
        ['http://other.example', 'good.example', 'http://other.example/', '/|'],
        ['http://other.example?x=1', 'good.example', 'http://other.example/?x=1', '/|x=1'],
      ];
      for (const [target, host, url, logged] of cases) {
        const r = await send(get(target, host));
        expect(r.statuses, `${target} with Host ${host}: ${r.text.slice(0, 200)}`).toEqual([200]);
        expect(appSaw(r).url).toBe(fetch ? url : target);
        expect(await logLine(sent)).toBe(`200|${logged}|GET ${target} HTTP/1.1`);
      }
    });

    it("an https:// target over plain http: the fetch Request URL keeps the connection's scheme", async () => {
      const r = await send(get('https://other.example/s', 'good.example'));
      expect(r.statuses).toEqual([200]);
      expect(appSaw(r).url).toBe(fetch ? 'http://other.example/s' : 'https://other.example/s');
    });

    it('a target with userinfo or no host is 400 for a fetch app; the node app gets req.url as sent', async () => {
      for (const target of ['http://user:pw@other.example/', 'http:///nohost']) {
        const r = await send(get(target, 'good.example'));
        if (fetch) {
          expect(r.statuses, target).toEqual([400]);
          expect(r.closed).toBe(true);
        } else {
          expect(r.statuses, target).toEqual([200]);
          expect(appSaw(r).url).toBe(target);
        }
      }
      expect(s.countLog(/app saw .*(user:pw|nohost)/)).toBe(fetch ? 0 : 2);
    });

    it('HTTP/1.0 absolute form without Host; OPTIONS * (no Request URL: 400 for a fetch app)', async () => {
      const r10 = await send('GET http://other.example/old?v=1 HTTP/1.0\r\n\r\n');
      expect(r10.statuses).toEqual([200]);
      expect(appSaw(r10).url).toBe('http://other.example/old?v=1');
      expect(await logLine(sent)).toBe('200|/old|v=1|GET http://other.example/old?v=1 HTTP/1.0');
      const star = await send('OPTIONS * HTTP/1.1\r\nHost: good.example\r\nConnection: close\r\n\r\n');
      if (fetch) expect(star.statuses).toEqual([400]);
      else expect(appSaw(star).url).toBe('*');
      expect(await logLine(sent)).toBe(`${fetch ? 400 : 200}|*||OPTIONS * HTTP/1.1`);
    });

    it('after an absolute-form request the connection carries on (async keeps it alive, sync closes)', async () => {
      const one = 'GET http://other.example/one HTTP/1.1\r\nHost: good.example\r\n\r\n';
      const two = `${one}GET /two HTTP/1.1\r\nHost: good.example\r\n\r\n`;
      sent += 2;
      const r = await sendRaw(port, two, cls === 'async' ? { untilStatuses: 2 } : {});
      if (cls === 'async') {
        expect(r.statuses).toEqual([200, 200]);
        expect(r.closed).toBe(false);
        expect(r.text).toContain('"url":"http://other.example/one"');
        expect(r.text).toContain(fetch ? '"url":"http://good.example/two"' : '"url":"/two"');
      } else {
        // A sync worker answers one request per connection.
        expect(r.statuses).toEqual([200]);
        expect(r.closed).toBe(true);
        sent--;
      }
    });
  },
);
