/**
 * Serving a fetch handler, `(Request) => Response | Promise<Response>`, from
 * Node's HTTP server. Bodies stream both ways: the request body is the
 * socket's stream, never buffered here; the response body is written chunk by
 * chunk with backpressure. `request.signal` aborts when the client goes away
 * before the response is complete. A throw or rejection becomes a logged 500.
 *
 * The handler gets a second argument, `info` (the `ClientInfo` of
 * forwarded.ts: `{ address, scheme, peerAddress }`), as Deno's `serve` and
 * Bun's `fetch(req, server)` do: a `Request` has no place for the client's
 * address. The Request URL's scheme is the client's (https behind a trusted
 * TLS-terminating proxy).
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStreamReadResult } from 'node:stream/web';
import { callThroughEmit } from './app-call.js';
import { answerWithReason, lastRequest } from '../http/client-errors.js';
import { type ClientInfo, clientInfo } from '../http/forwarded.js';
import { responseBodySource } from '../../node-compat.js';
import { lazyRequest } from './lazy-request.js';
import { type LightParts, lightResponseParts, realResponse } from './light-response.js';

export type FetchHandler = (request: Request, info: ClientInfo) => Response | Promise<Response>;

export type AppErrorHandler = (err: unknown, req: IncomingMessage) => void;

const defaultOnError: AppErrorHandler = (err) => {
  process.stderr.write(`tsunicorn: unhandled error in app: ${err instanceof Error ? err.stack : String(err)}\n`);
};

/** The real Request, built when the app first needs more than method, url or headers (lazy-request.ts). */
function buildRequest(req: IncomingMessage, url: string, headers: Headers, signal: AbortSignal): Request {
  const method = req.method ?? 'GET';
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal };
  if (method !== 'GET' && method !== 'HEAD') {
    // An explicit byte-counted strategy: the queue between the socket and the app holds one high-water
    // mark of bytes, then the socket is paused. Counting chunks instead would let up to 16 Ki chunks pile
    // up in front of a slow reader.
    const strategy = new ByteLengthQueuingStrategy({ highWaterMark: req.readableHighWaterMark });
    init.body = Readable.toWeb(req, { strategy }) as ReadableStream<Uint8Array>;
    init.duplex = 'half';
  }
  return new Request(url, init);
}

function writeHead(res: ServerResponse, response: Response): void {
  res.statusCode = response.status;
  if (response.statusText) res.statusMessage = response.statusText;
  for (const [name, value] of response.headers) {
    if (name !== 'set-cookie') res.setHeader(name, value);
  }
  if (response.headers.has('set-cookie')) res.setHeader('set-cookie', response.headers.getSetCookie());
}

function waitDrain(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

const PENDING = Symbol('pending');

/** The read's result if the stream has it at hand (settled before the event loop's check phase), else PENDING. */
function atHand<T>(read: Promise<T>): Promise<T | typeof PENDING> {
  return Promise.race([read, new Promise<typeof PENDING>((resolve) => setImmediate(resolve, PENDING))]);
}

/** Content-Length for a body whose size is now known, unless the app framed the response itself. */
function declareLength(res: ServerResponse, length: number): void {
  if (res.headersSent || res.hasHeader('content-length') || res.hasHeader('transfer-encoding')) return;
  res.setHeader('content-length', length);
}

/**
 * Writes the body, or for HEAD only works out the Content-Length GET would send: node:http adds none to
 * a HEAD answer, and from Node 24 a Response's string or bytes are no longer at hand (responseBodySource).
 */
async function sendBody(res: ServerResponse, body: ReadableStream<Uint8Array>, head: boolean): Promise<void> {
  const reader = body.getReader();
  try {
    // A body that is complete in one chunk (the common `new Response(string)`) is sent with
    // Content-Length in a single write instead of chunked encoding. Only a chunk already at hand is
    // waited for: a stream whose next chunk comes later (server-sent events) has what it produced
    // so far written at once, never held back until it produces more.
    const firstRead = reader.read();
    let first = await atHand(firstRead);
    if (first === PENDING) {
      if (head) {
        res.end();
        return;
      }
      res.flushHeaders();
      first = await firstRead;
    }
    if (first.done) {
      if (head) declareLength(res, 0);
      res.end();
      return;
    }
    const secondRead = reader.read();
    const second = await atHand(secondRead);
    if (second !== PENDING && second.done) {
      declareLength(res, first.value.byteLength);
      res.end(head ? undefined : first.value);
      return;
    }
    if (head) {
      res.end();
      return;
    }
    res.write(first.value);
    let next: ReadableStreamReadResult<Uint8Array> = second === PENDING ? await secondRead : second;
    while (!next.done) {
      if (res.destroyed) return;
      if (!res.write(next.value)) await waitDrain(res);
      next = await reader.read();
    }
    res.end();
  } finally {
    if (head || res.destroyed || !res.writableEnded) reader.cancel().catch(() => {});
  }
}

/** A Host known to make a valid URL with any origin-form target (see `parses`). */
let goodHost = '';
/** A host name, IPv4 or [IPv6] address, and port: nothing that ends the authority early or starts a userinfo. */
const PLAIN_HOST = /^[A-Za-z0-9.\-:[\]]+$/;

/**
 * Whether the Request URL parses. URL.canParse is costly per request, and the answer
 * depends only on the Host once the target starts with `/`: the authority is then exactly the
 * Host, and the WHATWG parser accepts any path, query and fragment after it. So the last Host
 * that parsed is remembered (one entry: a client choosing Host values only gets full checks).
 */
function parses(url: string, host: string): boolean {
  if (host === goodHost) return true;
  if (!URL.canParse(url)) return false;
  if (PLAIN_HOST.test(host)) goodHost = host;
  return true;
}

/**
 * `http://` or `https://` (any case) and a non-empty authority without userinfo: the absolute form of a
 * request target (RFC 9112 §3.2.2; RFC 9110 §4.2.1 and §4.2.4 make an empty host or a userinfo invalid).
 */
const ABSOLUTE_FORM = /^https?:\/\/[^/?#@\\]+(?:[/?#]|$)/i;

/**
 * The Request URL for a target that is not in origin form, or null (answered 400). An absolute target's
 * authority wins over Host (RFC 9112 §3.2.2); its scheme does not: the URL keeps the connection's, as
 * an origin-form request does, so a client on plain http cannot make the app believe it used https.
 * Asterisk and authority forms make no Request URL.
 */
export function absoluteFormUrl(scheme: string, target: string): string | null {
  if (!ABSOLUTE_FORM.test(target) || !URL.canParse(target)) return null;
  const u = new URL(target);
  return `${scheme}://${u.host}${u.pathname}${u.search}`;
}

/** A request no Request can represent: answered here with a close; nothing pipelined behind it runs. */
function refuse(req: IncomingMessage, res: ServerResponse, status: number, body: string): void {
  lastRequest(req.socket);
  res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' }).end(body);
}

export function toRequestListener(handler: FetchHandler, onError: AppErrorHandler = defaultOnError): RequestListener {
  // Not inlined into this listener, whose feedback varies with the requests (app-call.ts).
  const callHandler = callThroughEmit(handler);
  return (req, res) => {
    if (req.method === 'TRACE' || req.method === 'TRACK') {
      // The Fetch standard forbids these methods: `new Request` would throw once the app touched the body.
      refuse(req, res, 405, `${req.method} is not supported\n`);
      return;
    }
    const info = clientInfo(req);
    const target = req.url ?? '/';
    let url: string | null;
    if (target.charCodeAt(0) === 0x2f) {
      const host = req.headers.host ?? 'localhost';
      url = `${info.scheme}://${host}${target}`;
      if (!parses(url, host)) url = null;
    } else {
      url = absoluteFormUrl(info.scheme, target);
    }
    if (url === null) {
      // An invalid Host or target that Node's parser let through.
      refuse(req, res, 400, 'Bad Request\n');
      return;
    }
    const lazy = lazyRequest(req, url, buildRequest);
    const request = lazy.request;
    res.once('close', () => {
      if (!res.writableFinished) lazy.abort();
    });
    const fail = (err: unknown) => {
      if (lazy.aborted) return; // The client left; nothing to answer.
      onError(err, req);
      if (!res.headersSent) {
        answerWithReason(res, 500, false);
      } else {
        res.destroy();
      }
    };
    let result: Response | Promise<Response>;
    try {
      result = callHandler(request, info);
    } catch (err) {
      fail(err);
      return;
    }
    Promise.resolve(result).then((response) => {
      // A throw here (a header Node will not send) must not become an unhandled rejection.
      try {
        respond(req, res, response, fail);
      } catch (err) {
        fail(err);
      }
    }, fail);
  };
}

function respond(req: IncomingMessage, res: ServerResponse, response: Response, fail: (err: unknown) => void): void {
  // A light Response (light-response.ts) with its string or bytes: status, headers and body go
  // straight to node:http, and Node's Response is never built.
  const light = lightResponseParts(response);
  if (light) {
    if (!res.destroyed) writeLight(req, res, light);
    return;
  }
  if (!(response instanceof Response)) {
    fail(new TypeError(`fetch handler returned ${response === null ? 'null' : typeof response}, not a Response`));
    return;
  }
  if (res.destroyed) return;
  writeHead(res, response);
  // Fast path: a body built from a string or bytes is written as is, without a stream
  // (the stream read costs more than the rest of the request on Node 20).
  const head = req.method === 'HEAD';
  const source = responseBodySource(realResponse(response));
  if (source) {
    declareLength(res, source.length);
    res.end(head ? undefined : source.source);
    return;
  }
  if (!response.body) {
    // GET gets Content-Length: 0 from node:http (except for 204 and 304); HEAD must say the same.
    if (head && response.status !== 204 && response.status !== 304) declareLength(res, 0);
    res.end();
    return;
  }
  sendBody(res, response.body, head).catch(fail);
}

/**
 * One writeHead with a flat [name, value, …] list, node:http's cheapest way to send a head, then
 * one end(). Set-Cookie goes as one name with an array of values: writeHead on a response that
 * already has headers sets each pair with setHeader, which keeps only the last of repeated names.
 */
function writeLight(req: IncomingMessage, res: ServerResponse, light: LightParts): void {
  const head: (string | string[])[] = [];
  let hasLength = false;
  if (light.headers !== null) {
    let cookies: string[] | null = null;
    for (const [name, value] of light.headers) {
      if (name === 'set-cookie') {
        (cookies ??= []).push(value);
        continue;
      }
      if (name === 'content-length' || name === 'transfer-encoding') hasLength = true;
      head.push(name, value);
    }
    if (cookies !== null) head.push('set-cookie', cookies);
  } else if (light.list !== null) {
    const list = light.list;
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i]!;
      if (name === 'content-length' || name === 'transfer-encoding') hasLength = true;
      head.push(name, list[i + 1]!);
    }
  }
  const body = light.body;
  // With writeHead, node:http settles framing at once: without a length it would choose chunked.
  if (!hasLength && light.status !== 204 && light.status !== 304) {
    head.push(
      'content-length',
      String(body === null ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength),
    );
  }
  if (light.statusText) res.writeHead(light.status, light.statusText, head);
  else res.writeHead(light.status, head);
  res.end(body === null || req.method === 'HEAD' ? undefined : body);
}
