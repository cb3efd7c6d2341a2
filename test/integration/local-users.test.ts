/**
 * Issue 16: what other local users can see or redirect. The process title a
 * sync worker shows (readable by everyone through ps) must not carry the query
 * string or userinfo of the request target.
 */
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanup, start, waitFor } from './harness.js';
import { sendRaw } from './raw.js';

afterAll(cleanup);

describe('process title (issue 16 item 10)', () => {
  it('a sync worker busy on a request shows its method and path, never its query string or userinfo', async () => {
    const s = start(['sync-app.mjs', '-k', 'sync', '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug']);
    const port = await s.port();
    await s.readyWorkers(1);
    const [worker] = s.workers();
    const titles = new Set<string>();
    const watch = async (target: string) => {
      const pending = sendRaw(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, { timeoutMs: 10_000 });
      const title = await waitFor(`worker ${worker} busy on ${target}`, () => {
        const t = fs.readFileSync(`/proc/${worker}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
        return / GET /.test(t) ? t : null;
      });
      titles.add(title);
      expect((await pending).statuses).toEqual([200]);
      return title;
    };
    expect(await watch('/wait?ms=800&token=hunter2')).toMatch(/^tsunicorn: worker \[sync-app\.mjs\] GET \/wait$/);
    expect(await watch(`http://alice:hunter2@127.0.0.1:${port}/wait?ms=800&token=hunter2`)).toMatch(/^tsunicorn: worker \[sync-app\.mjs\] GET \/wait$/);
    for (const t of titles) expect(t).not.toContain('hunter2');
  });
});
