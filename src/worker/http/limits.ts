/**
 * Gunicorn's request limits (--limit-request-line, --limit-request-fields,
 * --limit-request-field_size) on top of Node's HTTP parser.
 *
 * How they are enforced, and what it costs:
 *
 * - Node's parser (llhttp) reads the socket in C++ (the http server
 *   "consumes" the stream handle: no JavaScript sees the bytes). It offers one
 *   bound on the head, `maxHeaderSize`, on the total of request line and
 *   header fields, and answers 431 when it is exceeded. A pre-parser of our
 *   own on the socket would put every byte of every connection through
 *   JavaScript again and would have to track message boundaries (bodies,
 *   chunked encoding, pipelining) to find each request line: neither cheap
 *   nor obviously correct.
 * - So the per-line and per-field limits are checked once the head has been
 *   parsed, before the app sees the request: the request line is
 *   `method SP target SP HTTP/1.x`, so its length is method + target + 10,
 *   O(1); the field checks are one pass over `req.rawHeaders` (already built by
 *   Node) comparing lengths, O(fields). A few hundred nanoseconds per request.
 * - Memory stays bounded while a head is being read because Node's total is
 *   set to exactly what the three limits allow together (line + fields ×
 *   field size; with Gunicorn's defaults about 800 KiB, the same a Gunicorn
 *   worker accepts). A request within the limits never trips it; one beyond
 *   them is stopped by whichever check comes first. Consequence: a request line
 *   so long that the whole head passes that total before the line ends (about
 *   800 KiB with the defaults) is answered 431 by the parser rather than 414.
 * - Node's `maxHeadersCount` silently drops fields beyond it; it is set to one
 *   more than the limit, so an excess is seen (and answered 431) without
 *   collecting an unbounded list.
 *
 * The same pass also enforces these RFC 9112 rules: exactly one Host field in
 * an HTTP/1.1 request, and a valid one in any (400; Node checks only that there
 * is one, and answers without a body, so its check is turned off in favour of
 * this one), a Transfer-Encoding that names a coding (400 and close), the
 * major version 1 (llhttp parses `HTTP/2.0` request lines; they get 505), and
 * no Transfer-Encoding in an HTTP/1.0 request (400 and close; llhttp decodes it).
 */
import type { IncomingMessage } from 'node:http';
import type { Settings } from '../../config/settings.js';

export interface RequestLimits {
  /** Longest request line in bytes, without CRLF; 0 = none of its own. */
  line: number;
  /** Most header fields; 0 = none of its own. */
  fields: number;
  /** Largest `Name: value` field in bytes, with its CRLF (Gunicorn counts it); 0 = none of its own. */
  fieldSize: number;
}

export interface Rejection {
  status: 400 | 414 | 431 | 505;
  /** A few words for the response body. */
  why: string;
  /** Where the request ends is in doubt: nothing more is read from the connection (client-errors.ts). */
  badFraming?: true;
}

/** What "no limit of its own" falls back to when sizing Node's total bound: the largest value each setting takes. */
const OPEN_LINE = 1024 * 1024;
const OPEN_FIELDS = 32768;
const OPEN_FIELD_SIZE = 1024 * 1024;
/** Upper bound on a request head, whatever the limits say: 64 MiB. */
const MAX_HEAD = 64 * 1024 * 1024;

export function requestLimits(
  settings: Pick<Settings, 'limitRequestLine' | 'limitRequestFields' | 'limitRequestFieldSize'>,
): RequestLimits {
  return {
    line: settings.limitRequestLine,
    fields: settings.limitRequestFields,
    fieldSize: settings.limitRequestFieldSize,
  };
}

/** Options for http.createServer: Node's total head bound and field count, derived from the limits. */
export function parserOptions(l: RequestLimits): { maxHeaderSize: number; maxHeadersCount: number } {
  const line = (l.line || OPEN_LINE) + 2;
  const fields = l.fields || OPEN_FIELDS;
  const fieldSize = l.fieldSize || OPEN_FIELD_SIZE;
  // + 2 for the empty line that ends the head.
  const maxHeaderSize = Math.min(MAX_HEAD, line + fields * fieldSize + 2);
  return { maxHeaderSize, maxHeadersCount: l.fields > 0 ? l.fields + 1 : 0 };
}

const TOO_MANY: Rejection = { status: 431, why: 'Too many header fields' };
const FIELD_TOO_LARGE: Rejection = { status: 431, why: 'Header field too large' };
const LINE_TOO_LONG: Rejection = { status: 414, why: 'Request line too long' };
const TWO_HOSTS: Rejection = { status: 400, why: 'More than one Host header field' };
const NO_HOST: Rejection = { status: 400, why: 'Missing Host header field' };
const BAD_VERSION: Rejection = { status: 505, why: 'HTTP version not supported' };
const BAD_HOST: Rejection = { status: 400, why: 'Invalid Host header field' };
const EMPTY_TE: Rejection = { status: 400, why: 'Empty Transfer-Encoding header field', badFraming: true };
const TE_IN_HTTP10: Rejection = { status: 400, why: 'Transfer-Encoding in an HTTP/1.0 request', badFraming: true };

/** Checks a parsed request head against the limits; null when it may go to the app. */
export function checkRequest(req: IncomingMessage, l: RequestLimits): Rejection | null {
  if (req.httpVersionMajor !== 1) return BAD_VERSION;
  // `METHOD SP target SP HTTP/1.x`: llhttp accepts nothing else for HTTP/1 (single spaces, a fixed-size version).
  if (l.line > 0 && (req.method?.length ?? 0) + (req.url?.length ?? 0) + 10 > l.line) return LINE_TOO_LONG;
  const raw = req.rawHeaders;
  if (l.fields > 0 && raw.length > 2 * l.fields) return TOO_MANY;
  const size = l.fieldSize;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    // `Name: value\r\n`; rawHeaders has the value without surrounding whitespace.
    if (size > 0 && name.length + value.length + 4 > size) return FIELD_TOO_LARGE;
    if (name.length === 4 && (name === 'Host' || name.toLowerCase() === 'host')) {
      if (++hosts > 1) return TWO_HOSTS;
      if (!HOST.test(value)) return BAD_HOST;
    } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
      // HTTP/1.0 has no Transfer-Encoding: a proxy may frame such a request by its Content-Length or as
      // having no body while Node's parser decodes it as chunked (RFC 9112 §6.1: treat the framing as faulty).
      if (req.httpVersionMinor !== 1) return TE_IN_HTTP10;
      // No coding at all: llhttp frames the request as if the field were absent; RFC 9112 §6.3 says 400.
      if (NO_CODING.test(value)) return EMPTY_TE;
    }
  }
  return hosts === 0 && req.httpVersionMinor === 1 ? NO_HOST : null;
}

/**
 * uri-host [ ":" port ] (RFC 9112 §3.2: any other Host value gets 400): an IP-literal, or a reg-name,
 * which also covers IPv4 and the empty host. A '/', '?', '#', '@' or space would move the URL's parts.
 */
const HOST = /^(?:\[[0-9A-Za-z:._~!$&'()*+,;=-]+\]|(?:[0-9A-Za-z._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?$/;

const NO_CODING = /^[\s,]*$/;
