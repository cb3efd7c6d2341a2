/**
 * Node's HTTP server options added since Node 20, as tsunicorn leaves them (docs/design.md, "Newer
 * Node APIs"): `optimizeEmptyRequests` (24+) stays off, because with it a request without a body
 * never emits 'end', and an app that answers from there would hang.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, get, start } from './harness.js';

afterEach(cleanup);

describe("a request's stream ends on every Node line", () => {
  it('an app answering from req.on("end") answers a GET without a body', async () => {
    const s = start(['end-app.mjs', '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug']);
    const port = await s.port();
    await s.readyWorkers(1);
    const r = await get(`http://127.0.0.1:${port}/`);
    expect(r).toMatchObject({ status: 200, body: 'ended after 0 bytes\n' });
  });
});
