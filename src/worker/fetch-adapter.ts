/**
 * Serving a fetch handler, `(Request) => Response | Promise<Response>`, from
 * Node's HTTP server. Bodies stream both ways: the request body is the
 * socket's stream, never buffered here; the response body is written chunk by
 * chunk with backpressure. `request.signal` aborts when the client goes away
 * before the response is complete. A throw or rejection becomes a logged 500.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStreamReadResult } from 'node:stream/web';
import type { TLSSocket } from 'node:tls';

export type FetchHandler = (request: Request) => Response | Promise<Response>;

export type AppErrorHandler = (err: unknown, req: IncomingMessage) => void;

const defaultOnError: AppErrorHandler = (err) => {
  process.stderr.write(`tsunicorn: unhandled error in app: ${err instanceof Error ? err.stack : String(err)}\n`);
};

function toRequest(req: IncomingMessage, signal: AbortSignal): Request {
  const scheme = (req.socket as TLSSocket).encrypted ? 'https' : 'http';
  const host = req.headers.host ?? 'localhost';
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const method = req.method ?? 'GET';
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal };
  if (method !== 'GET' && method !== 'HEAD') {
    init.body = Readable.toWeb(req) as ReadableStream<Uint8Array>;
    init.duplex = 'half';
  }
  return new Request(`${scheme}://${host}${req.url ?? '/'}`, init);
}

function writeHead(res: ServerResponse, response: Response): void {
  res.statusCode = response.status;
  if (response.statusText) res.statusMessage = response.statusText;
  for (const [name, value] of response.headers) {
    if (name !== 'set-cookie') res.setHeader(name, value);
  }
  const cookies = response.headers.getSetCookie();
  if (cookies.length) res.setHeader('set-cookie', cookies);
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

async function sendBody(res: ServerResponse, body: ReadableStream<Uint8Array>): Promise<void> {
  const reader = body.getReader();
  try {
    // A body that arrives in one chunk (the common `new Response(string)`) is
    // sent with Content-Length in a single write instead of chunked encoding.
    const first = await reader.read();
    if (first.done) {
      res.end();
      return;
    }
    const second = await reader.read();
    if (second.done) {
      if (!res.hasHeader('content-length') && !res.hasHeader('transfer-encoding')) res.setHeader('content-length', first.value.byteLength);
      res.end(first.value);
      return;
    }
    res.write(first.value);
    let next: ReadableStreamReadResult<Uint8Array> = second;
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
    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    let request: Request;
    try {
      request = toRequest(req, controller.signal);
    } catch {
      // An invalid URL or header value that Node's parser let through.
      res.writeHead(400, { 'content-type': 'text/plain', connection: 'close' }).end('Bad Request\n');
      return;
    }
    const fail = (err: unknown) => {
      if (controller.signal.aborted) return; // The client left; nothing to answer.
      onError(err, req);
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain', 'content-length': '22' }).end('Internal Server Error\n');
      } else {
        res.destroy();
      }
    };
    let result: Response | Promise<Response>;
    try {
      result = handler(request);
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
