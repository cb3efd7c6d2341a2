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
import { type ClientInfo, clientInfo } from './forwarded.js';
import { responseBodySource } from '../node-compat.js';
import { lazyRequest } from './lazy-request.js';

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
    // mark of bytes, then the socket is paused. (Older Node releases defaulted to counting chunks, which
    // let up to 16 Ki chunks, ~1 GB, pile up in front of a slow reader.)
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

async function sendBody(res: ServerResponse, body: ReadableStream<Uint8Array>): Promise<void> {
  const reader = body.getReader();
  try {
    // A body that is complete in one chunk (the common `new Response(string)`) is sent with
    // Content-Length in a single write instead of chunked encoding. Only a chunk already at hand is
    // waited for: a stream whose next chunk comes later (server-sent events) has what it produced
    // so far written at once, never held back until it produces more.
    const firstRead = reader.read();
    let first = await atHand(firstRead);
    if (first === PENDING) {
      res.flushHeaders();
      first = await firstRead;
    }
    if (first.done) {
      res.end();
      return;
    }
    const secondRead = reader.read();
    const second = await atHand(secondRead);
    if (second !== PENDING && second.done) {
      if (!res.headersSent && !res.hasHeader('content-length') && !res.hasHeader('transfer-encoding')) res.setHeader('content-length', first.value.byteLength);
      res.end(first.value);
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
    if (res.destroyed || !res.writableEnded) reader.cancel().catch(() => {});
  }
}

export function toRequestListener(handler: FetchHandler, onError: AppErrorHandler = defaultOnError): RequestListener {
  return (req, res) => {
    const info = clientInfo(req);
    const url = `${info.scheme}://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`;
    if (!URL.canParse(url)) {
      // An invalid Host or target that Node's parser let through.
      res.writeHead(400, { 'content-type': 'text/plain', connection: 'close' }).end('Bad Request\n');
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
        res.writeHead(500, { 'content-type': 'text/plain', 'content-length': '22' }).end('Internal Server Error\n');
      } else {
        res.destroy();
      }
    };
    let result: Response | Promise<Response>;
    try {
      result = handler(request, info);
    } catch (err) {
      fail(err);
      return;
    }
    Promise.resolve(result).then(
      (response) => {
        if (!(response instanceof Response)) {
          fail(new TypeError(`fetch handler returned ${response === null ? 'null' : typeof response}, not a Response`));
          return;
        }
        if (res.destroyed) return;
        writeHead(res, response);
        // Fast path: a body built from a string or bytes is written as is, without a stream
        // (the stream read costs more than the rest of the request on Node 20).
        const source = responseBodySource(response);
        if (source) {
          if (!res.hasHeader('content-length') && !res.hasHeader('transfer-encoding')) res.setHeader('content-length', source.length);
          res.end(req.method === 'HEAD' ? undefined : source.source);
          return;
        }
        if (!response.body || req.method === 'HEAD') {
          res.end();
          return;
        }
        sendBody(res, response.body).catch(fail);
      },
      fail,
    );
  };
}
