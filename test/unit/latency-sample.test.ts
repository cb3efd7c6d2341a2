/** The latency histogram `ctl top` reads on each beat: every request up to 256 per beat, then one in 16. */
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaults } from '../../src/config/settings.js';
import { LATENCY_BUCKETS } from '../../src/metrics/request-stats.js';
import { RequestGate } from '../../src/worker/http/request-gate.js';

const log = { exception() {}, error() {}, warning() {}, info() {}, debug() {} };

function gate() {
  return new RequestGate({
    settings: defaults({}),
    log: log as never,
    app: () => {},
    maxRequests: 0,
    onMaxRequests() {},
  });
}

/** A parsed `GET /` on `socket`, and its response. */
function exchange(socket: net.Socket): { req: http.IncomingMessage; res: http.ServerResponse } {
  const req = new http.IncomingMessage(socket);
  req.httpVersionMajor = 1;
  req.httpVersionMinor = 1;
  req.httpVersion = '1.1';
  req.method = 'GET';
  req.url = '/';
  req.rawHeaders = ['Host', 'localhost'];
  req.headers = { host: 'localhost' };
  return { req, res: new http.ServerResponse(req) };
}

/** `count` keep-alive requests on one connection, each answered ('close' emitted as Node does at its end). */
function serve(g: RequestGate, socket: net.Socket, count: number): void {
  for (let i = 0; i < count; i++) {
    const { req, res } = exchange(socket);
    g.handleRequest(req, res);
    res.emit('close');
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

const total = (counts: number[]) => counts.reduce((a, b) => a + b, 0);

describe('latency sample', () => {
  it('times every request up to 256 per beat, then one in 16; each beat starts the sample over', () => {
    const g = gate();
    const socket = new net.Socket();
    serve(g, socket, 100);
    expect(total(g.latencyCounts())).toBe(100);
    // 256 timed, then requests 272, 288 and 304 of this beat.
    serve(g, socket, 310);
    expect(total(g.latencyCounts())).toBe(100 + 256 + 3);
    serve(g, socket, 5);
    expect(total(g.latencyCounts())).toBe(100 + 259 + 5);
    expect(g.requests).toBe(415);
  });

  it('records durations, not start times: fast requests fall in the first bucket', () => {
    const g = gate();
    serve(g, new net.Socket(), 50);
    expect(g.latencyCounts()[0]).toBe(50);
  });

  it('times each pipelined request from its own start, not from the one ahead of it', () => {
    const clock = vi.spyOn(performance, 'now');
    const g = gate();
    const socket = new net.Socket();
    const [a, b, c] = [exchange(socket), exchange(socket), exchange(socket)];
    // (A start time of 0 means "not timed".)
    clock.mockReturnValue(1000);
    g.handleRequest(a.req, a.res);
    clock.mockReturnValue(1900);
    g.handleRequest(b.req, b.res);
    clock.mockReturnValue(2800);
    g.handleRequest(c.req, c.res);
    // Answered in order, each 1 ms after the last: a took 1.801 s, b 0.902 s, c 3 ms.
    for (const [at, { res }] of [
      [2801, a],
      [2802, b],
      [2803, c],
    ] as const) {
      clock.mockReturnValue(at);
      res.emit('close');
    }
    const counts = g.latencyCounts();
    const bucketOf = (seconds: number) => LATENCY_BUCKETS.findIndex((le) => seconds <= le);
    const expected = new Array<number>(counts.length).fill(0);
    for (const seconds of [1.801, 0.902, 0.003]) expected[bucketOf(seconds)]! += 1;
    expect(counts).toEqual(expected);
  });
});
