/**
 * What a light Response (light-response.ts) keeps instead of Node's Response: a string or bytes body,
 * status, status text and headers, checked as the Fetch standard's constructor would.
 */
/** What the fetch adapter needs to write an unbuilt light Response (read-only for it). */
export interface LightParts {
  /** A string or a private copy of the bytes the app gave; null for no body. */
  readonly body: string | Uint8Array | null;
  readonly status: number;
  readonly statusText: string;
  /** The headers, when a Headers object holds them (the app's init needed one, or it read `headers`). */
  readonly headers: Headers | null;
  /**
   * Otherwise the headers as a flat [name, value, …] list, lower-case names without repeats,
   * values that node:http sends as they are, the body's implied Content-Type included; null: none.
   */
  readonly list: readonly string[] | null;
}

export interface State extends LightParts {
  headers: Headers | null;
  list: string[] | null;
  /** Node's Response, once built (and from the start for bodies kept as they are). */
  real: Response | null;
}

const TEXT_TYPE = 'text/plain;charset=UTF-8';
const JSON_TYPE = 'application/json';
/** reason-phrase = *( HTAB / SP / VCHAR / obs-text ), which is what Node's Response accepts. */
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** A header name as Headers would keep it: a token, already lower-case (so no two keys of an object collide). */
const LOWER_TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
/** A header value Headers keeps as it is (no surrounding whitespace to trim) and node:http accepts. */
const PLAIN_VALUE = /^(?:[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?$/;

/**
 * The state of a body and init this class can keep without Node's Response, or null when Node's must
 * decide: other body kinds, an init that needs WebIDL conversion (`status: '201'`), or one that is
 * invalid (Node's constructor then throws its own error).
 */
export function lightState(body: unknown, init: ResponseInit | null | undefined, jsonText: boolean): State | null {
  let kept: string | Uint8Array | null;
  let bodyType: string | null = null;
  if (body === null || body === undefined) {
    kept = null;
  } else if (typeof body === 'string') {
    kept = body;
    bodyType = jsonText ? JSON_TYPE : TEXT_TYPE;
  } else if (ArrayBuffer.isView(body)) {
    // Copied, as Node's Response does: the app may reuse its buffer once it has returned.
    kept = new Uint8Array(body.buffer, body.byteOffset, body.byteLength).slice();
  } else if (body instanceof ArrayBuffer) {
    kept = new Uint8Array(body.slice(0));
  } else {
    return null;
  }
  let status = 200;
  let statusText = '';
  let headers: Headers | null = null;
  let list: string[] | null = null;
  if (init !== undefined && init !== null) {
    if (typeof init !== 'object') return null;
    const { status: s, statusText: t, headers: h } = init;
    if (s !== undefined) {
      if (typeof s !== 'number' || !Number.isInteger(s) || s < 200 || s > 599) return null;
      status = s;
    }
    if (t !== undefined) {
      if (typeof t !== 'string' || !REASON_PHRASE.test(t)) return null;
      statusText = t;
    }
    if (h !== undefined) {
      list = plainHeaderList(h, bodyType);
      if (list === null) {
        // Built now, as Node's constructor does, so that invalid headers throw here, in the app.
        headers = new Headers(h);
        if (bodyType !== null && !headers.has('content-type')) headers.set('content-type', bodyType);
      }
    }
  }
  if (kept !== null && (status === 204 || status === 205 || status === 304)) return null;
  if (headers === null && list === null && bodyType !== null) list = ['content-type', bodyType];
  return { body: kept, status, statusText, headers, list, real: null };
}

/**
 * The common `{ 'content-type': 'text/plain' }` as a flat list, without building and iterating a
 * Headers object. Only an object literal whose names and values Headers
 * would keep unchanged qualifies; anything else (a Headers, pairs, upper-case names, values to trim
 * or to reject) returns null and gets a real Headers.
 */
function plainHeaderList(h: NonNullable<ResponseInit['headers']>, bodyType: string | null): string[] | null {
  if (typeof h !== 'object' || h === null) return null;
  const proto: unknown = Object.getPrototypeOf(h);
  if (proto !== Object.prototype && proto !== null) return null;
  const record = h as Record<string, unknown>;
  const list: string[] = [];
  let typed = false;
  for (const name of Object.keys(record)) {
    const value = record[name];
    if (typeof value !== 'string' || !LOWER_TOKEN.test(name) || !PLAIN_VALUE.test(value)) return null;
    if (name === 'content-type') typed = true;
    list.push(name, value);
  }
  if (!typed && bodyType !== null) list.push('content-type', bodyType);
  return list;
}

/** The headers as a Headers object, made from the list on first need. */
export function headersOf(s: State): Headers {
  if (s.headers === null) {
    const headers = new Headers();
    const list = s.list;
    if (list !== null) for (let i = 0; i < list.length; i += 2) headers.append(list[i]!, list[i + 1]!);
    s.headers = headers;
    s.list = null;
  }
  return s.headers;
}

export function wrapReal(real: Response): State {
  return { body: null, status: real.status, statusText: real.statusText, headers: real.headers, list: null, real };
}
