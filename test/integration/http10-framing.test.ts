/**
 * HTTP/1.0 has no Transfer-Encoding (RFC 9112 §6.1): such a request is answered 400 and the
 * connection closed before the app runs, on both worker classes and both interfaces, the same way
 * other malformed requests are (client-errors.ts); a request pipelined behind it never reaches the
 * app. HTTP/1.0 with Content-Length and HTTP/1.1 chunked bodies are served as before.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, WORKER_CLASSES, cleanup, start, tmpDir, waitFor } from './harness.js';
import { type RawResult, sendRaw } from './raw.js';

afterAll(cleanup);

const CHUNKED = '5\r\nhello\r\n0\r\n\r\n';

/** A complete error response that says it closes: a length and that many body bytes. */
function expectClosingError(r: RawResult, status: number): void {
  expect(r.statuses, r.text.slice(0, 300)).toEqual([status]);
  expect(r.closed).toBe(true);
  expect(r.text).toMatch(/\r\nconnection: close\r\n/i);
  const length = Number(/\r\ncontent-length: (\d+)\r\n/i.exec(r.text)?.[1]);
  expect(Buffer.byteLength(r.text.slice(r.text.indexOf('\r\n\r\n') + 4), 'latin1')).toBe(length);
}

describe.each(WORKER_CLASSES.flatMap((cls) => (['node', 'fetch'] as const).map((iface) => ({ cls, iface }))))(
  '$cls worker, $iface interface',
  ({ cls, iface }) => {
    let s: Server;
    let port: number;
    let access: string;
    const accessLines = () => fs.readFileSync(access, 'utf8').split('\n').filter(Boolean);

    beforeAll(async () => {
      access = path.join(tmpDir(), 'access.log');
      const app = iface === 'fetch' ? 'target-echo-fetch.mjs' : 'target-echo.mjs';
      const logArgs = ['--access-logfile', access, '--access-logformat', '%(s)s %(r)s', '--log-level', 'debug'];
      s = start([app, '-k', cls, '-w', '1', '-b', '127.0.0.1:0', ...logArgs]);
      port = await s.port();
      await s.readyWorkers(1);
    });

    it('POST HTTP/1.0 with Transfer-Encoding: chunked is 400 and closed; the app never sees it', async () => {
      const r = await sendRaw(port, `POST /echo HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${CHUNKED}`);
      expectClosingError(r, 400);
      expect(r.text).toContain('Transfer-Encoding in an HTTP/1.0 request');
      // Logged like the other requests the worker refuses before the app (here: two Host fields).
      const other = await sendRaw(port, 'GET /two-hosts HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n');
      expectClosingError(other, 400);
      const ok = await sendRaw(port, 'GET /after HTTP/1.0\r\n\r\n');
      expect(ok.statuses).toEqual([200]);
      await waitFor('the access line of GET /after', () => accessLines().some((l) => l.includes('/after')));
      expect(accessLines()).toEqual(['200 GET /after HTTP/1.0']);
      expect(s.countLog(/app saw POST/)).toBe(0);
    });

    it('other spellings and codings, keep-alive with a request behind: 400, close, the app sees none', async () => {
      const sends = [
        `POST /echo HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n${CHUNKED}`,
        'POST /echo HTTP/1.0\r\nTransfer-Encoding: identity\r\n\r\n',
        `POST /echo HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n${CHUNKED}` +
          'GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
        // The body says to end, then a request follows inside what a proxy took for this one's body.
        `POST /echo HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n` +
          'GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
      ];
      for (const bytes of sends) expectClosingError(await sendRaw(port, bytes), 400);
      expect(s.countLog(/app saw (POST|GET \S*smuggled)/)).toBe(0);
      expect(s.workers()).toHaveLength(1);
    });

    it('HTTP/1.0 with Content-Length and HTTP/1.1 chunked are served', async () => {
      const r10 = await sendRaw(port, 'POST /echo HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello');
      expect(r10.statuses).toEqual([200]);
      expect(r10.text).toContain('"body":"hello"');
      const chunked11 = `POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`;
      const r11 = await sendRaw(port, chunked11 + CHUNKED);
      expect(r11.statuses).toEqual([200]);
      expect(r11.text).toContain('"body":"hello"');
      expect(r11.text).toContain('"te":"chunked"');
    });
  },
);
