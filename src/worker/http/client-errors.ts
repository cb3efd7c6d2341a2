/**
 * Answering what never becomes a request for the app (malformed bytes, heads over the limits, slow clients),
 * on the offending connection alone: a short response, then a close (docs/security.md).
 *
 * - Garbage after valid pipelined requests is answered after their responses, in order; an error inside the
 *   body being served is answered at once, or the connection just closed if its response already started.
 * - The close is FIN, not RST: a socket closed with unread input makes the kernel send RST, and a client that
 *   gets RST may drop the response it had not read yet. So input is read and dropped until the client closes,
 *   for at most LINGER_MS (Apache's lingering close).
 *
 * Each connection's state here also serves the gate (request-gate.ts): its requests in flight, the response a
 * graceful stop closes the connection after, and when each request started.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { closeAfterResponse } from '../../node-compat.js';

/** How long a rejected connection is kept half-open for the client to read its response. */
const LINGER_MS = 2000;

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
  // An app or upgrade handler that threw (request-gate.ts, app-extras.ts).
  500: 'Internal Server Error',
  // An upgrade during a graceful stop.
  503: 'Service Unavailable',
  // A sync worker's request past --timeout.
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

interface ConnState {
  /** Requests on this connection whose response has not closed yet. */
  pending: number;
  /** The latest request and its response: an error while its body is being read concerns it. */
  last: IncomingMessage | null;
  lastRes: ServerResponse | null;
  /** A parse error waiting for the pending responses to go first. */
  deferred: number | null;
  /** A response to a bad request was written; the socket is closing. */
  rejected: boolean;
  /** The response being written closes the connection: no request after it may run. */
  closing: boolean;
  /** performance.now() when the oldest pending request started, 0 if it is not timed (request-gate.ts). */
  startedAt: number;
  /**
   * The start times of the pending requests pipelined behind it, oldest first (responses close in order); null
   * until a client pipelines. Kept here, not on each response: a property read from every response and missing
   * from almost all is looked up along the prototype chain, which an app such as Express swaps per request.
   */
  queued: number[] | null;
}

const kState = Symbol('tsunicorn.connection');
type Tracked = Socket & { [kState]?: ConnState };

function state(socket: Tracked): ConnState {
  return socket[kState] ?? newState(socket);
}

/**
 * Called from trackConnection, and from state() only for a socket it never saw, so that V8 does not inline the
 * allocation into the per-request functions: once it moves these long-lived objects' allocation to the old
 * generation, it discards the optimized code of every function that inlined it (`--trace-deopt`, seconds into a
 * keep-alive load).
 */
function newState(socket: Tracked): ConnState {
  const s: ConnState = {
    pending: 0,
    last: null,
    lastRes: null,
    deferred: null,
    rejected: false,
    closing: false,
    startedAt: 0,
    queued: null,
  };
  socket[kState] = s;
  return s;
}

/**
 * A new connection gets its state before Node's HTTP code first sees the socket: added at the first request
 * instead, it would give the sockets Node's hot paths see two shapes (docs/benchmarks.md).
 */
export function trackConnection(socket: Socket): void {
  newState(socket as Tracked);
}

/**
 * A request on `socket` goes to the app (or is answered by the worker), having started at `now`; false when the
 * connection was rejected: a request Node parsed after that must not run (its bytes may be a smuggled request).
 */
export function requestStarted(socket: Socket, req: IncomingMessage, res: ServerResponse, now: number): boolean {
  const s = state(socket as Tracked);
  if (s.rejected || s.closing) return false;
  if (s.pending === 0) s.startedAt = now;
  else (s.queued ??= []).push(now);
  s.pending++;
  s.last = req;
  s.lastRes = res;
  return true;
}

/**
 * The worker answered a request on `socket` itself, with a close: requests Node parses behind it are
 * dropped (RFC 9112 §9.6: no further requests are processed), like those behind a rejected connection.
 */
export function markRejected(socket: Socket): void {
  state(socket as Tracked).rejected = true;
}

/**
 * The response to the request just started closes the connection (a sync worker, draining, shedding):
 * requests Node parses behind it must not run either, as no answer to them will ever be sent.
 */
export function lastRequest(socket: Socket): void {
  state(socket as Tracked).closing = true;
}

/**
 * The oldest pending request's response closed: a parse error held back behind it can go now. Returns when that
 * request started (performance.now()), 0 if it was not timed.
 */
export function requestEnded(socket: Socket): number {
  const s = (socket as Tracked)[kState];
  if (!s) return 0;
  const started = s.startedAt;
  s.pending--;
  if (s.pending > 0) {
    s.startedAt = s.queued?.shift() ?? 0;
    return started;
  }
  // Nothing pending: keep no reference to finished requests on an idle keep-alive connection.
  s.last = null;
  s.lastRes = null;
  if (s.deferred !== null) rejectConnection(socket, s.deferred);
  return started;
}

/** Requests on `socket` whose response has not closed. */
export function pendingRequests(socket: Socket): number {
  return (socket as Tracked)[kState]?.pending ?? 0;
}

/**
 * Graceful stop: the connection closes after its last pending response, if that has not started yet (one that has
 * closes it at its next request). Requests pipelined before it are still answered.
 */
export function closeAfterPending(socket: Socket): void {
  const res = (socket as Tracked)[kState]?.lastRes;
  if (res && !res.headersSent) closeAfterResponse(res);
}

function responseText(status: number, why?: string): string {
  const reason = REASONS[status] ?? 'Error';
  const body = `${why ?? reason}\n`;
  return (
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    `Connection: close\r\n\r\n${body}`
  );
}

/**
 * Answers through node:http for an app that could not (it threw; a sync request ran past --timeout): the reason
 * phrase as a plain-text body, with `Connection: close` when `close` says so.
 */
export function answerWithReason(res: ServerResponse, status: 500 | 504, close: boolean): void {
  const body = `${REASONS[status]}\n`;
  const length = String(Buffer.byteLength(body));
  const head = close
    ? { 'content-type': 'text/plain', 'content-length': length, connection: 'close' }
    : { 'content-type': 'text/plain', 'content-length': length };
  res.writeHead(status, head).end(body);
}

/** Writes a complete error response on the raw socket and closes it (FIN, then a bounded linger). Idempotent. */
export function rejectConnection(socket: Socket, status: number, why?: string): void {
  const s = state(socket as Tracked);
  if (s.rejected) return;
  s.rejected = true;
  s.deferred = null;
  if (!socket.writable || socket.destroyed) {
    socket.destroy();
    return;
  }
  socket.end(responseText(status, why));
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  // Node's parser keeps feeding errors for further input; it is read and dropped.
  socket.on('error', () => {});
}

function statusFor(code: string | undefined): number {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 431;
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return 413;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 408;
    default:
      return 400;
  }
}

/** The http server's 'clientError' listener. */
export function onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  const s = state(socket as Tracked);
  if (s.rejected || s.deferred !== null) return;
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = statusFor(err.code);
  if (s.pending === 0) {
    rejectConnection(socket, status);
  } else if (s.last && !s.last.complete) {
    // The request being served is broken (its body): answer now, unless its response already started.
    if (s.lastRes?.headersSent) socket.destroy();
    else rejectConnection(socket, status);
  } else {
    // Garbage after complete pipelined requests: their responses go first.
    s.deferred = status;
  }
}
