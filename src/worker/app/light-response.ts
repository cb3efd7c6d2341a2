/**
 * A lightweight global `Response` for workers that serve a fetch-interface app
 * (setting `fetchFastResponse`, on by default).
 *
 * On Node 20, `new Response('hello', { headers })` costs about as much CPU as
 * a whole node-interface hello-world request: undici builds a web
 * ReadableStream for the body at once, and every web stream is made
 * transferable. A handler's Response is almost always written out by the fetch
 * adapter and never read as a stream, so this class keeps what it was given
 * (a string or bytes body, status, status text, headers) and builds Node's
 * own Response only when something needs one: the body stream, a body
 * method (`text()`, `json()`, …), or a method this class does not know. The
 * fetch adapter writes an unbuilt one straight to the socket
 * (`lightResponseParts`). Bodies of other kinds (streams, Blobs, FormData, …)
 * build Node's Response in the constructor, so their behaviour and errors are
 * exactly Node's.
 *
 * It is a Response as far as the app can tell: `instanceof Response` holds
 * for it and for Node's own Responses (`fetch()` results), its prototype
 * inherits from Node's Response.prototype, and status, headers and the rest
 * follow the Fetch standard (the implied Content-Type, the status range, no
 * body with 204/205/304). One difference: the real Response copies the
 * headers when it is built, so a Content-Type changed afterwards does not
 * reach `blob()` or `formData()`; `headers` itself stays the same object.
 *
 * The technique is the one @hono/node-server's `overrideGlobalObjects` uses.
 */
import { nodeResponseClass } from '../../node-compat.js';

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

interface State extends LightParts {
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
/** The constructor's first argument when it adopts a ready state (clone(), Response.json). */
const kAdopt = Symbol('tsunicorn.adopt');

let Real: typeof Response;
let prepared = false;

/**
 * The state of a body and init this class can keep without Node's Response, or null when Node's must
 * decide: other body kinds, an init that needs WebIDL conversion (`status: '201'`), or one that is
 * invalid (Node's constructor then throws its own error).
 */
function lightState(body: unknown, init: ResponseInit | null | undefined, jsonText: boolean): State | null {
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
 * The common `{ 'content-type': 'text/plain' }` as a flat list, without a Headers object (building
 * and iterating one costs ~1 µs on Node 20). Only an object literal whose names and values Headers
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
function headersOf(s: State): Headers {
  if (s.headers === null) {
    const headers = new Headers();
    const list = s.list;
    if (list !== null) for (let i = 0; i < list.length; i += 2) headers.append(list[i]!, list[i + 1]!);
    s.headers = headers;
    s.list = null;
  }
  return s.headers;
}

function wrapReal(real: Response): State {
  return { body: null, status: real.status, statusText: real.statusText, headers: real.headers, list: null, real };
}

let stateOf: (value: object) => State | undefined;

class LightResponse {
  #s: State;

  static {
    stateOf = (value) => (#s in value ? (value as LightResponse).#s : undefined);
  }

  constructor(body?: ConstructorParameters<typeof Response>[0], init?: ResponseInit) {
    if (!prepared) prepare();
    if ((body as unknown) === kAdopt) {
      this.#s = init as State;
      return;
    }
    this.#s = lightState(body, init, false) ?? wrapReal(new Real(body, init));
  }

  static json(data: unknown, init?: ResponseInit): Response {
    if (!prepared) prepare();
    const text: unknown = JSON.stringify(data);
    const state = typeof text === 'string' ? lightState(text, init, true) : null;
    // Anything unusual (data JSON cannot represent, an init to convert or reject) is Node's to decide.
    return state ? (new LightResponse(kAdopt as never, state as never) as unknown as Response) : Real.json(data, init);
  }

  static error(): Response {
    if (!prepared) prepare();
    return Real.error();
  }

  static redirect(...args: Parameters<typeof Response.redirect>): Response {
    if (!prepared) prepare();
    return Real.redirect(...args);
  }

  /**
   * `x instanceof Response` is true for Node's Responses (what `fetch()` returns) as well as for
   * these. A subclass of this class keeps the ordinary check.
   */
  static [Symbol.hasInstance](value: unknown): boolean {
    if (this !== LightResponse) return Function.prototype[Symbol.hasInstance].call(this, value);
    if (!prepared) prepare();
    return value instanceof Real;
  }

  get status(): number {
    return this.#s.status;
  }

  get statusText(): string {
    return this.#s.statusText;
  }

  get ok(): boolean {
    const status = this.#s.status;
    return status >= 200 && status <= 299;
  }

  get headers(): Headers {
    return headersOf(this.#s);
  }

  get type(): Response['type'] {
    return this.#s.real?.type ?? 'default';
  }

  get url(): string {
    return this.#s.real?.url ?? '';
  }

  get redirected(): boolean {
    return this.#s.real?.redirected ?? false;
  }

  get body(): ReadableStream<Uint8Array> | null {
    const s = this.#s;
    if (s.real === null && s.body === null) return null;
    return realResponse(this as unknown as Response).body;
  }

  get bodyUsed(): boolean {
    return this.#s.real?.bodyUsed ?? false;
  }

  // The body methods every supported Node has, declared here so that `Response.prototype.text` and
  // the like exist from the start (prepare() runs at the first construction, after the app's import
  // may have looked). Each runs Node's method on Node's Response, which also brand-checks `this`.
  arrayBuffer(): Promise<ArrayBuffer> {
    return Real.prototype.arrayBuffer.call(realResponse(this as unknown as Response));
  }

  blob(): Promise<Blob> {
    return Real.prototype.blob.call(realResponse(this as unknown as Response));
  }

  formData(): Promise<FormData> {
    return Real.prototype.formData.call(realResponse(this as unknown as Response));
  }

  json(): Promise<unknown> {
    return Real.prototype.json.call(realResponse(this as unknown as Response));
  }

  text(): Promise<string> {
    return Real.prototype.text.call(realResponse(this as unknown as Response));
  }

  clone(): Response {
    const s = this.#s;
    // Node's clone() tees the body stream, and throws as the standard says when the body was used.
    const real = s.real?.clone() ?? null;
    let headers: Headers | null = null;
    if (s.headers !== null)
      headers = real !== null && s.headers === s.real!.headers ? real.headers : new Headers(s.headers);
    const list = s.list === null ? null : s.list.slice();
    const state: State = { body: s.body, status: s.status, statusText: s.statusText, headers, list, real };
    return new LightResponse(kAdopt as never, state as never) as unknown as Response;
  }
}

// Code that recognises a Response by its constructor's name (some libraries do) still does.
Object.defineProperty(LightResponse, 'name', { value: 'Response' });

/**
 * Node's Response for `response`: built now for a light one that has not been, the response
 * itself for anything else.
 */
export function realResponse(response: Response): Response {
  const s = stateOf(response);
  if (s === undefined) return response;
  if (s.real === null) {
    // Complete headers, so that Node's constructor adds no Content-Type of its own (a JSON body is a string).
    s.real = new Real(s.body, { status: s.status, statusText: s.statusText, headers: headersOf(s) });
  }
  return s.real;
}

/**
 * The parts of a light Response the fetch adapter may write directly, or null: not a light
 * Response, a subclass (it may override getters), or Node's Response has been built (its body
 * may be in use).
 */
export function lightResponseParts(response: unknown): LightParts | null {
  if (typeof response !== 'object' || response === null || Object.getPrototypeOf(response) !== LightResponse.prototype)
    return null;
  const s = stateOf(response)!;
  return s.real === null ? s : null;
}

/**
 * Done on first use rather than at import or install: reading Node's Response loads undici
 * (~5 MB of RSS), which a worker that turns out to serve a node-interface app never needs.
 */
function prepare(): void {
  prepared = true;
  Real = nodeResponseClass();
  Object.setPrototypeOf(LightResponse.prototype, Real.prototype);
  Object.setPrototypeOf(LightResponse, Real);
  // Every other member (bytes(), and whatever a later Node adds) runs on Node's Response. On a value
  // that is not a light Response, Node's own member runs.
  for (const name of Object.getOwnPropertyNames(Real.prototype)) {
    if (name === 'constructor' || Object.hasOwn(LightResponse.prototype, name)) continue;
    const d = Object.getOwnPropertyDescriptor(Real.prototype, name)!;
    if (typeof d.value === 'function') {
      const own = d.value as (...args: unknown[]) => unknown;
      Object.defineProperty(LightResponse.prototype, name, {
        value(this: Response, ...args: unknown[]) {
          return own.apply(realResponse(this), args);
        },
        writable: true,
        configurable: true,
      });
    } else if (d.get) {
      const get = d.get;
      Object.defineProperty(LightResponse.prototype, name, {
        get(this: Response) {
          return get.call(realResponse(this));
        },
        configurable: true,
      });
    }
  }
}

let saved: PropertyDescriptor | undefined;
let installed = false;

/** Makes the light class the global `Response`; done before the app is imported, so the app sees it. */
export function installLightResponse(): void {
  if (installed) return;
  installed = true;
  saved = Object.getOwnPropertyDescriptor(globalThis, 'Response');
  Object.defineProperty(globalThis, 'Response', {
    value: LightResponse,
    writable: true,
    configurable: true,
    enumerable: false,
  });
}

/**
 * Puts the previous global back (the app turned out to use the node interface). Responses made
 * meanwhile stay valid. A global the app replaced in the meantime is left alone.
 */
export function uninstallLightResponse(): void {
  if (!installed) return;
  installed = false;
  if (globalThis.Response !== (LightResponse as unknown)) return;
  if (saved) Object.defineProperty(globalThis, 'Response', saved);
  else delete (globalThis as { Response?: unknown }).Response;
}

/** The class itself, for tests. */
export const LightResponseClass = LightResponse as unknown as typeof Response;
