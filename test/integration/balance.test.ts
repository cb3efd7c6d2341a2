/**
 * Keep-alive balance (src/arbiter/decisions/balance.ts): connections already open on
 * one worker are spread to a worker added later. Without it a TTIN under
 * keep-alive load gives the new worker nothing: every client keeps its
 * connection to the first worker.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from 'undici';
import { cleanup, start, waitFor } from './harness.js';

afterEach(cleanup);

const CLIENTS = 24;
const BOUND_MS = 20_000;

describe('keep-alive balance between async workers', () => {
  it('TTIN under keep-alive load: the new worker gets its share of the open connections, with no failed request', async () => {
    const s = start(['node-app.mjs', '-w', '1', '-k', 'async', '-b', '127.0.0.1:0', '--log-level', 'debug']);
    const origin = `http://127.0.0.1:${await s.port()}`;
    await s.readyWorkers(1);
    const [first] = s.workers();

    // CLIENTS sequential clients, one keep-alive connection each (undici reconnects after Connection: close).
    const served: number[] = [];
    const failures: string[] = [];
    let connects = 0;
    let stop = false;
    const deadline = Date.now() + BOUND_MS;
    const clients = Array.from({ length: CLIENTS }, () =>
      new Client(origin, { pipelining: 1 }).on('connect', () => connects++),
    );
    const loops = clients.map(async (c) => {
      while (!stop && Date.now() < deadline) {
        try {
          const r = await c.request({ path: '/slow?ms=5', method: 'GET' });
          const body = await r.body.text();
          if (r.statusCode !== 200) failures.push(`status ${r.statusCode}`);
          served.push(Number(body.split(' ')[1]));
        } catch (err) {
          failures.push(String(err));
        }
      }
    });
    try {
      await waitFor('every client connected to the first worker', () => served.length >= 4 * CLIENTS, 10_000);
      expect(new Set(served)).toEqual(new Set([first]));
      expect(connects).toBe(CLIENTS);

      s.signal('SIGTTIN');
      await s.readyWorkers(2);
      const second = await waitFor('the second worker', () => s.workers().find((p) => p !== first));
      // The newest CLIENTS * 4 responses: the second worker serves at least a quarter of them.
      await waitFor(
        `the second worker to serve its share (served so far: ${served.filter((p) => p === second).length})`,
        () => {
          const recent = served.slice(-4 * CLIENTS);
          return recent.filter((p) => p === second).length >= recent.length / 4;
        },
        10_000,
      );
    } finally {
      stop = true;
      await Promise.all(loops);
      await Promise.all(clients.map((c) => c.close()));
    }
    expect(failures).toEqual([]);
    // Some clients reconnected, and not every one: only the excess was shed.
    expect(connects).toBeGreaterThan(CLIENTS);
    expect(s.log).not.toMatch(/\[ERROR\]/);
  }, 40_000);
});
