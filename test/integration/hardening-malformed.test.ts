/**
 * The malformed-request corpus (test/fixtures/malformed/cases.ts) against one
 * async worker, with a well-formed keep-alive client running alongside the
 * whole time: each case gets its expected statuses and a close, the worker
 * pid never changes, and the other client sees only 200s.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CASES } from '../fixtures/malformed/cases.js';
import { type Server, cleanup, start } from './harness.js';
import { type LoadResult, describeFailures, failedCount, startLoad } from './load.js';
import { sendRaw } from './raw.js';

describe('malformed-request corpus', () => {
  let s: Server;
  let port: number;
  let pid: number;
  let load: { stop(): Promise<LoadResult> };

  beforeAll(async () => {
    s = start(['hardening-app.mjs', '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug']);
    port = await s.port();
    await s.readyWorkers(1);
    pid = s.workers()[0]!;
    load = startLoad({ url: `http://127.0.0.1:${port}/`, concurrency: 2, keepAlive: true, durationMs: 120_000 });
  });
  afterAll(cleanup);

  it.each(CASES)('$name → $expect', async (c) => {
    const r = await sendRaw(port, c.send, { halfClose: c.halfClose });
    expect(r.closed, `connection left open; got ${JSON.stringify(r.text.slice(0, 300))}`).toBe(true);
    expect(r.statuses, r.text.slice(0, 300)).toEqual(c.expect);
    // Every error response is complete (a length and a body) and says it closes.
    const last = r.text.slice(r.text.lastIndexOf('HTTP/1.1 '));
    if (c.expect.length && c.expect.at(-1)! >= 400) {
      expect(last).toMatch(/\r\nconnection: close\r\n/i);
      const length = Number(/\r\ncontent-length: (\d+)\r\n/i.exec(last)?.[1]);
      expect(length).toBeGreaterThan(0);
      expect(Buffer.byteLength(last.slice(last.indexOf('\r\n\r\n') + 4), 'latin1')).toBe(length);
    }
    expect(s.workers()).toEqual([pid]);
  });

  it('the well-formed client running alongside saw only 200s, and the worker was never replaced', async () => {
    const r = await load.stop();
    expect(failedCount(r), describeFailures(r)).toBe(0);
    expect(r.total).toBeGreaterThan(100);
    expect(s.countLog(/Booting worker/)).toBe(1);
    expect(s.log).not.toMatch(/Uncaught|exited with code|was sent SIG/);
  });
});
