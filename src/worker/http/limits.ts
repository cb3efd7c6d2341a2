/**
 * Gunicorn's request limits (--limit-request-line, --limit-request-fields, --limit-request-field_size) on top
 * of Node's HTTP parser, which has one bound on the whole head: that bound is set to what the three allow
 * together, and the line and each field are checked once the head is parsed, before the app runs, rather
 * than by a pre-parser that would put every byte through JavaScript (docs/security.md, "How the limits are
 * enforced"). The same pass applies RFC 9112's rules on Host, Transfer-Encoding and the HTTP version.
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
      if (value !== lastGoodHost) {
        if (!HOST.test(value)) return BAD_HOST;
        lastGoodHost = value;
      }
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

/**
 * The Host value that last passed HOST: clients of one server send the same few, and the regex is a visible part
 * of a keep-alive request's cost (docs/benchmarks.md).
 */
let lastGoodHost = '';
