#!/usr/bin/env node
// What the worker's request gate (src/worker/http/request-gate.ts) costs per request, without sockets or
// wrk: the same request and response objects go either through the gate or straight to the app, in
// alternating batches, and the user CPU time per request of each is compared. Run `npm run build` first.
// A keep-alive request costs ~5 µs of user time in a worker under wrk, and run-to-run noise there is
// ±0.4 µs; here the batches of one run agree to a few hundredths of a µs (separate runs drift by ~0.05).
//   node bench/gate-cost.js [--batches 21] [--per-batch 100000]
import http from 'node:http';
import net from 'node:net';
import { defaults } from '../dist/config/settings.js';
import { callThroughEmit } from '../dist/worker/app/app-call.js';
import { RequestGate } from '../dist/worker/http/request-gate.js';
import { numberOption } from './options.js';

const batches = Math.min(101, Math.floor(numberOption('batches', 21)));
const perBatch = Math.min(1_000_000, Math.floor(numberOption('per-batch', 100_000)));

/** The bench app's answer, without writing anything: the gate's work is what is measured. */
const app = (/** @type {http.IncomingMessage} */ _req, /** @type {http.ServerResponse} */ _res) => {};
const log = { exception() {}, error() {}, warning() {}, info() {}, debug() {} };
// As the worker builds it (request-chain.ts composeApp): the app called through an emit.
const gate = new RequestGate({
  settings: defaults({}),
  // @ts-expect-error only the methods the gate calls on an app error
  log,
  app: callThroughEmit(app),
  maxRequests: 0,
  onMaxRequests() {},
});
const bare = (/** @type {http.IncomingMessage} */ req, /** @type {http.ServerResponse} */ res) => app(req, res);

// One connection, many requests on it, as under keep-alive.
const socket = new net.Socket();

/** A parsed `GET / HTTP/1.1` with wrk's headers, and its response. */
function exchange() {
  const req = new http.IncomingMessage(socket);
  req.httpVersionMajor = 1;
  req.httpVersionMinor = 1;
  req.httpVersion = '1.1';
  req.method = 'GET';
  req.url = '/';
  req.rawHeaders = ['Host', '127.0.0.1:8000'];
  req.headers = { host: '127.0.0.1:8000' };
  const res = new http.ServerResponse(req);
  return { req, res };
}

/** User CPU µs per request of one batch through `handler`, 'close' emitted as Node does when a response ends. */
function batch(/** @type {(req: http.IncomingMessage, res: http.ServerResponse) => void} */ handler) {
  const t0 = process.cpuUsage();
  for (let i = 0; i < perBatch; i++) {
    const { req, res } = exchange();
    handler(req, res);
    res.emit('close');
  }
  return process.cpuUsage(t0).user / perBatch;
}

const median = (/** @type {number[]} */ xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

// Warm-up: both paths optimized before anything counts.
batch(gate.handleRequest);
batch(bare);
const through = [];
const direct = [];
for (let i = 0; i < batches; i++) {
  through.push(batch(gate.handleRequest));
  direct.push(batch(bare));
}
const diffs = through.map((t, i) => t - /** @type {number} */ (direct[i]));
console.log(
  JSON.stringify({
    node: process.version,
    batches,
    perBatch,
    gateUs: median(through),
    directUs: median(direct),
    gateCostUs: median(diffs),
    gateCostRangeUs: [Math.min(...diffs), Math.max(...diffs)],
  }),
);
