/** The latency histogram `ctl top` reads on each beat: every request up to 256 per beat, then one in 16. */
import http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { defaults } from '../../src/config/settings.js';
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

/** `count` keep-alive requests on one connection, each answered ('close' emitted as Node does at its end). */
function serve(g: RequestGate, socket: net.Socket, count: number): void {
  for (let i = 0; i < count; i++) {
    const req = new http.IncomingMessage(socket);
    req.httpVersionMajor = 1;
    req.httpVersionMinor = 1;
    req.httpVersion = '1.1';
    req.method = 'GET';
    req.url = '/';
    req.rawHeaders = ['Host', 'localhost'];
    req.headers = { host: 'localhost' };
    const res = new http.ServerResponse(req);
    g.handleRequest(req, res);
    res.emit('close');
  }
}

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
});
