/**
 * Per-request observation for the access log and metrics: wraps the app's
 * request listener, and when the response is done hands one AccessRecord to
 * each sink. With no sink configured the app is not wrapped at all, so a
 * server without an access log or metrics pays nothing per request.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { AccessRecord } from '../log/access-log.js';

export type RequestSink = (record: AccessRecord) => void;

/** Body bytes sent: Content-Length when the app set it, else what went on the socket minus the header block. */
function bodyBytes(req: IncomingMessage, res: ServerResponse, socketBefore: number): number {
  const declared = res.getHeader('content-length');
  if (declared !== undefined && Number.isFinite(Number(declared))) return Number(declared);
  // `_header` is the serialized head Node wrote; stable since Node 0.x, read only here.
  const header = (res as unknown as { _header?: string | null })._header;
  // res.socket is detached by 'close'; the request keeps its socket.
  const written = req.socket.bytesWritten - socketBefore;
  return Math.max(0, written - (header ? Buffer.byteLength(header) : 0));
}

export function observeRequests(
  app: RequestListener,
  sinks: readonly RequestSink[],
  remoteAddress: (req: IncomingMessage) => string | undefined,
): RequestListener {
  if (sinks.length === 0) return app;
  return (req: IncomingMessage, res: ServerResponse) => {
    const started = process.hrtime.bigint();
    const startedAt = Date.now();
    const socketBefore = req.socket.bytesWritten;
    res.once('close', () => {
      const record: AccessRecord = {
        remoteAddress: remoteAddress(req),
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        httpVersion: req.httpVersion,
        // A response cut off before its head was sent is logged as Gunicorn does for an aborted one.
        status: res.headersSent ? res.statusCode : 499,
        bytes: res.headersSent ? bodyBytes(req, res, socketBefore) : 0,
        requestHeaders: req.headers,
        responseHeader: (name) => res.getHeader(name),
        startedAt,
        durationNs: process.hrtime.bigint() - started,
      };
      for (const sink of sinks) sink(record);
    });
    return app(req, res);
  };
}
