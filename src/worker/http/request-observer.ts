/**
 * Per-request observation for the access log and metrics: wraps the app's
 * request listener, and when the response is done hands one AccessRecord to
 * each sink. With no sink configured the app is not wrapped at all, so a
 * server without an access log or metrics pays nothing per request.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { AccessRecord } from '../../log/access-log.js';
import { sentHead } from '../../node-compat.js';

export type RequestSink = (record: AccessRecord) => void;

/** Body bytes sent: Content-Length when the app set it, else what went on the socket minus the header block. */
function bodyBytes(req: IncomingMessage, res: ServerResponse, socketBefore: number): number {
  const declared = res.getHeader('content-length');
  if (declared !== undefined && Number.isFinite(Number(declared))) return Number(declared);
  const header = sentHead(res);
  // res.socket is detached by 'close'; the request keeps its socket.
  const written = req.socket.bytesWritten - socketBefore;
  return Math.max(0, written - (header ? Buffer.byteLength(header) : 0));
}

/**
 * The fields of a written head (`Name: value` lines after the status line), by lower-case name;
 * repeated fields joined with `, `.
 */
export function headFields(head: string): Map<string, string> {
  const fields = new Map<string, string>();
  let start = head.indexOf('\r\n') + 2;
  for (let end = head.indexOf('\r\n', start); end > start; end = head.indexOf('\r\n', start)) {
    const colon = head.indexOf(':', start);
    if (colon > start && colon < end) {
      const name = head.slice(start, colon).toLowerCase();
      const value = head.slice(colon + 1, end).trim();
      const prev = fields.get(name);
      fields.set(name, prev === undefined ? value : `${prev}, ${value}`);
    }
    start = end + 2;
  }
  return fields;
}

/**
 * %({name})o: the header as sent, whichever API set it, read off the written head the first time
 * the access log asks (a format without such an atom never does); before the head went out, the
 * header as set so far.
 */
function sentHeader(res: ServerResponse): AccessRecord['responseHeader'] {
  let fields: Map<string, string> | null = null;
  return (name) => {
    if (fields === null) {
      const head = sentHead(res);
      if (head === null) return res.getHeader(name);
      fields = headFields(head);
    }
    return fields.get(name);
  };
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
        responseHeader: sentHeader(res),
        startedAt,
        durationNs: process.hrtime.bigint() - started,
      };
      for (const sink of sinks) sink(record);
    });
    return app(req, res);
  };
}
