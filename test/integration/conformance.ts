/**
 * Runs the conformance table (test/fixtures/conformance/cases.ts) against one
 * tsunicorn target and, in the same test, bare node:http serving the same app.
 *
 * Each case is sent on a fresh connection. Its responses are parsed as they
 * arrive (every read has a deadline); then, if the case expects the connection
 * to persist, a follow-up request must be answered on it, else the server must
 * close it. What the app was given is read from its JSON answers and from its
 * request counter (so a request the app ran but never answered shows too).
 */
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CASES } from '../fixtures/conformance/cases.js';
import {
  type ConformanceCase,
  type Outcome,
  type Seen,
  type Target,
  expectedOutcome,
} from '../fixtures/conformance/outcomes.js';
import { FIXTURES, type Server, cleanup, start } from './harness.js';

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
/** Every wait on the network ends by this deadline. */
const READ_MS = 5000;
const FOLLOW_UP = 'GET /follow-up HTTP/1.1\r\nHost: x\r\n\r\n';

interface Response {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

interface Observed {
  responses: Response[];
  /** The follow-up request was answered 200 on the same connection. */
  open: boolean;
  /** The server closed (or reset) the connection. */
  closed: boolean;
  /** The deadline passed while waiting for a response or a close. */
  hung: boolean;
}

/** Parses complete responses off the front of `buf`; `heads` says which requests are HEADs (no body). */
function parseResponses(buf: Buffer, heads: boolean[]): { responses: Response[]; used: number } {
  const responses: Response[] = [];
  let at = 0;
  let finals = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const head = buf.subarray(at, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0]!);
    if (!m) throw new Error(`not a status line: ${JSON.stringify(head[0])}`);
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (const l of head.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    let next = end + 4;
    let body: Buffer = Buffer.alloc(0);
    const bodiless = status < 200 || status === 204 || status === 304 || heads[finals] === true;
    if (!bodiless) {
      if (headers['transfer-encoding'] === 'chunked') {
        const parts: Buffer[] = [];
        let p = next;
        let done = false;
        for (;;) {
          const eol = buf.indexOf('\r\n', p);
          if (eol < 0) break;
          const size = parseInt(buf.subarray(p, eol).toString('latin1'), 16);
          if (size === 0) {
            const fin = buf.indexOf('\r\n\r\n', eol - 2);
            if (fin >= 0) {
              p = fin + 4;
              done = true;
            }
            break;
          }
          if (buf.length < eol + 2 + size + 2) break;
          parts.push(buf.subarray(eol + 2, eol + 2 + size));
          p = eol + 2 + size + 2;
        }
        if (!done) break;
        body = Buffer.concat(parts);
        next = p;
      } else {
        const length = Number(headers['content-length'] ?? 0);
        if (buf.length < next + length) break;
        body = buf.subarray(next, next + length);
        next += length;
      }
    }
    responses.push({ status, headers, body });
    if (status >= 200) finals++;
    at = next;
  }
  return { responses, used: at };
}

/** Which of the requests in `bytes` are HEADs, in order (good enough for the table's pipelines). */
function headFlags(bytes: string): boolean[] {
  const lines = bytes.matchAll(/(?:^|\r\n\r\n|\n\n)(HEAD|[A-Z]+) [^\r\n]* HTTP\/1\.[01]\r\n/g);
  return [...lines].map((m) => m[1] === 'HEAD');
}

const finalCount = (rs: Response[]) => rs.filter((r) => r.status >= 200).length;

/** Sends one case on a fresh connection and observes the answers, the connection and (if expected) a follow-up. */
async function exchange(
  port: number,
  bytes: string,
  opts: { halfClose?: boolean; finals: number; tryFollowUp: boolean },
): Promise<Observed> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.on('error', () => {});
  let buf = Buffer.alloc(0);
  let closed = false;
  let wake: (() => void) | null = null;
  const poke = () => wake?.();
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    poke();
  });
  socket.on('end', () => {
    closed = true;
    poke();
  });
  socket.on('close', () => {
    closed = true;
    poke();
  });
  const heads = headFlags(bytes);
  const parse = () => parseResponses(buf, heads).responses;
  /** Waits until `done()` or a close; false if the deadline passed first. */
  const until = async (done: () => boolean): Promise<boolean> => {
    const deadline = Date.now() + READ_MS;
    while (!done() && !closed) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return true;
  };
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write(Buffer.from(bytes, 'latin1'));
    if (opts.halfClose) socket.end();
    let hung = !(await until(() => finalCount(parse()) >= opts.finals));
    const responses = parse();
    let open = false;
    if (!hung && opts.tryFollowUp && !closed && !opts.halfClose) {
      const before = buf.length;
      heads.push(false);
      socket.write(FOLLOW_UP);
      hung = !(await until(() => finalCount(parseResponses(buf.subarray(before), []).responses) >= 1));
      const follow = parseResponses(buf.subarray(before), []).responses;
      const last = follow.at(-1);
      open = last?.status === 200 && (JSON.parse(last.body.toString()) as AppView).count !== undefined;
    } else if (!hung && !closed) {
      // Not expected to persist: the server must close it.
      hung = !(await until(() => false));
    }
    return { responses, open, closed, hung };
  } finally {
    socket.destroy();
  }
}

/** Lower-case name → values joined with ', ', from [name, value] pairs. */
function fieldMap(pairs: [string, string][]): Record<string, string> {
  const m: Record<string, string> = {};
  for (const [k, v] of pairs) {
    const n = k.toLowerCase();
    m[n] = n in m ? `${m[n]}, ${v}` : v;
  }
  return m;
}

interface AppView {
  method: string;
  target?: string;
  url?: string;
  fields: [string, string][];
  body: string;
  trailers?: [string, string][];
  count: number;
}

/** What of `want` (in the shape `wanted` gives it) the app's answer shows; unset expectations are unchecked. */
function project(view: AppView | null, want: Seen, fetch: boolean): Seen {
  // A request answered by an error, or a HEAD: no body to read, only the counter shows it ran.
  if (!view) return want;
  const got: Seen = {};
  if (want.method !== undefined) got.method = view.method;
  if (fetch) {
    if (want.url !== undefined) got.url = view.url;
  } else if (want.target !== undefined) {
    got.target = view.target;
  }
  if (want.body !== undefined) got.body = view.body;
  if (want.fields) {
    const m = fieldMap(view.fields);
    got.fields = Object.fromEntries(Object.keys(want.fields).map((k) => [k, m[k] ?? null]));
  }
  if (want.trailers && !fetch) {
    const m = fieldMap(view.trailers ?? []);
    got.trailers = Object.fromEntries(Object.keys(want.trailers).map((k) => [k, m[k] ?? null]));
  }
  return got;
}

/** The fetch URL of an origin-form target: the case's Host (tsunicorn's default name without one). */
function defaultUrl(s: Seen, host: string): string | undefined {
  if (s.target === undefined || !s.target.startsWith('/')) return undefined;
  return `http://${host}${s.target}`;
}

/** The first Host field's value in the raw request, trimmed; 'localhost' without one. */
function hostOf(bytes: string): string {
  return /\r\nhost:[ \t]*([^\r\n]*?)[ \t]*\r\n/i.exec(bytes)?.[1] ?? 'localhost';
}

/** The expected outcome in the shape it is checked in. */
function wanted(o: Outcome, fetch: boolean, host: string): { statuses: number[]; open: boolean; seen: Seen[] } {
  return {
    statuses: o.statuses,
    open: o.open,
    seen: o.seen.map((s) => {
      const w: Seen = { ...s };
      if (fetch) {
        delete w.target;
        delete w.trailers;
        const url = s.url === undefined ? defaultUrl(s, host) : s.url;
        if (url === null || url === undefined) delete w.url;
        else w.url = url;
      } else {
        delete w.url;
      }
      return w;
    }),
  };
}

interface Endpoint {
  port: number;
  /** The app's request counter, read with a request of its own. */
  count(): Promise<number>;
}

async function readCount(port: number): Promise<number> {
  const counter = 'GET /count HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
  const o = await exchange(port, counter, { finals: 1, tryFollowUp: false });
  const r = o.responses[0];
  if (r?.status !== 200) throw new Error(`counter request failed: ${JSON.stringify(o)}`);
  return (JSON.parse(r.body.toString()) as AppView).count;
}

/** Runs one case on `port` and checks it against `expected`. */
async function check(ep: Endpoint, c: ConformanceCase, want: Outcome, fetch: boolean, label: string): Promise<void> {
  const before = await ep.count();
  const o = await exchange(ep.port, c.send, {
    halfClose: c.halfClose,
    finals: want.statuses.filter((s) => s >= 200).length,
    tryFollowUp: want.open,
  });
  const ran = (await ep.count()) - before - 1 - (o.open ? 1 : 0);
  const views: (AppView | null)[] = o.responses
    .filter((r) => r.status === 200)
    .map((r) => (r.body.length ? (JSON.parse(r.body.toString('utf8')) as AppView) : null));
  const shaped = wanted(want, fetch, hostOf(c.send));
  const got = {
    statuses: o.responses.map((r) => r.status),
    open: o.open,
    seen: shaped.seen.map((s, i) => project(views[i] ?? null, s, fetch)),
  };
  const text = o.responses.map((r) => `${r.status} ${r.body.toString('latin1').slice(0, 200)}`).join(' | ');
  expect(o.hung, `${label}: no answer or close within ${READ_MS} ms (got: ${text})`).toBe(false);
  expect(got, `${label}: ${text}`).toEqual(shaped);
  expect(ran, `${label}: requests the app was given`).toBe(want.seen.length);
  // Every error answer is complete and says it closes.
  for (const r of o.responses.filter((x) => x.status >= 400 && x.status !== 417)) {
    expect(r.headers.connection, `${label}: ${r.status} without Connection: close`).toMatch(/close/i);
  }
}

/** bare node:http with the node-interface echo app, in this process. */
async function startNodeHttp(): Promise<{ ep: Endpoint; server: http.Server }> {
  const app = (await import(path.join(FIXTURES, 'conformance', 'echo-node.mjs'))).default as http.RequestListener;
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return { ep: { port, count: () => readCount(port) }, server };
}

/** Runs the whole table against `target` and bare node:http side by side. */
export function conformanceSuite(target: Exclude<Target, 'node-http'>): void {
  const [cls, iface] = target.split('-') as ['async' | 'sync', 'node' | 'fetch'];
  const fetch = iface === 'fetch';
  let s: Server;
  let ts: Endpoint;
  let bare: { ep: Endpoint; server: http.Server };
  let pid: number;

  describe(`HTTP conformance: tsunicorn ${cls} worker, ${iface} interface, and bare node:http`, () => {
    beforeAll(async () => {
      const app = path.join('conformance', fetch ? 'echo-fetch.mjs' : 'echo-node.mjs');
      s = start([app, '-k', cls, '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug']);
      const port = await s.port();
      await s.readyWorkers(1);
      pid = s.workers()[0]!;
      ts = { port, count: () => readCount(port) };
      bare = await startNodeHttp();
    });
    afterAll(async () => {
      await cleanup();
      bare?.server.closeAllConnections();
      await new Promise((r) => bare?.server.close(r));
    });

    it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
      // Both run to the end before the test fails, so no exchange outlives its case.
      const results = await Promise.allSettled([
        check(ts, c, expectedOutcome(c, target, NODE_MAJOR), fetch, `tsunicorn ${target}`),
        check(bare.ep, c, expectedOutcome(c, 'node-http', NODE_MAJOR), false, 'node:http'),
      ]);
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed.length) throw new Error(failed.map((r) => (r.reason as Error).message).join('\n'));
    });

    it('the worker never crashed or was replaced, and nothing was logged as an error', () => {
      expect(s.workers()).toEqual([pid]);
      expect(s.countLog(/Booting worker/)).toBe(1);
      expect(s.log).not.toMatch(/Uncaught|unhandled error|exited with code|was sent SIG|Error handling request/);
    });
  });
}
