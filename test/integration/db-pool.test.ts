/**
 * Per-worker resources (examples/db-pool/): the config file's postWorkerInit opens a pool of file
 * handles in each worker, and workerExit closes it. Every worker opens exactly once and closes
 * exactly once, across a HUP reload and a TERM; the arbiter never holds one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, cleanup, get, start, tmpDir, waitFor } from './harness.js';

afterEach(cleanup);

const EXAMPLE = path.join(ROOT, 'examples', 'db-pool');

/** How many of a process's open fds point at `file`. */
function fdsOn(pid: number, file: string): number {
  let n = 0;
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === file) n++;
    } catch {
      // Closed meanwhile.
    }
  }
  return n;
}

describe('per-worker resources with postWorkerInit and workerExit', () => {
  it('each worker opens its pool once and closes it once, across HUP and TERM', async () => {
    const db = path.join(tmpDir(), 'db.jsonl');
    // The command line of docs/frameworks.md, with a free port instead of 8000.
    const s = start(['-b', '127.0.0.1:0', '--log-level', 'debug'], { cwd: EXAMPLE, env: { DB_FILE: db } });
    const port = await s.port();
    await s.readyWorkers(2);
    const first = s.workers();
    expect(first).toHaveLength(2);
    for (const pid of first) {
      await s.waitLog(new RegExp(`db-pool: worker ${pid} opened 4 handles on ${db}`));
      expect(fdsOn(pid, db)).toBe(4);
    }
    expect(fdsOn(s.pid, db)).toBe(0);

    // The app uses the pool.
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/items`, { method: 'POST', body: JSON.stringify({ n: i }) });
      expect(res.status).toBe(201);
    }
    const items = JSON.parse((await get(`http://127.0.0.1:${port}/items`)).body) as {
      item: { n: number };
      pid: number;
    }[];
    expect(items.map((r) => r.item.n).sort()).toEqual([0, 1, 2, 3, 4, 5]);

    // A reload: new workers open theirs, the old ones close theirs.
    s.signal('SIGHUP');
    await s.readyWorkers(4);
    await waitFor('the first workers to close their pools', () =>
      first.every((pid) => s.countLog(new RegExp(`db-pool: worker ${pid} closed its pool`)) === 1),
    );
    const second = await waitFor('2 new workers', () => {
      const w = s.workers().filter((p) => !first.includes(p));
      return w.length === 2 ? w : null;
    });

    s.signal('SIGTERM');
    expect((await s.waitExit()).code).toBe(0);
    for (const pid of [...first, ...second]) {
      expect(s.countLog(new RegExp(`db-pool: worker ${pid} opened `)), `worker ${pid} opened`).toBe(1);
      expect(s.countLog(new RegExp(`db-pool: worker ${pid} closed its pool`)), `worker ${pid} closed`).toBe(1);
    }
    expect(s.countLog(/db-pool: worker \d+ opened /)).toBe(4);
    expect(s.countLog(/db-pool: worker \d+ closed its pool/)).toBe(4);
    expect(s.log).not.toMatch(/Exception in hook/);
  });
});
