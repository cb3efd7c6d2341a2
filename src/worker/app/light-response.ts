/**
 * A lightweight global `Response` for workers that serve a fetch-interface app
 * (setting `fetchFastResponse`, on by default).
 *
 * On Node 20, `new Response('hello', { headers })` is costly: undici builds a
 * web ReadableStream for the body at once, and every web stream is made
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
import { type LightParts, type State, headersOf, lightState, wrapReal } from './light-response-state.js';

export type { LightParts } from './light-response-state.js';

/** The constructor's first argument when it adopts a ready state (clone(), Response.json). */
const kAdopt = Symbol('tsunicorn.adopt');

let Real: typeof Response;
let prepared = false;

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
 * Done on first use rather than at import or install: reading Node's Response loads undici, whose
 * memory a worker that turns out to serve a node-interface app never needs.
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

/**
 * Replaces `globalThis.Response` with the light class, before the app is imported so that the app sees it.
 * Returns the function that puts the previous global back (the app turned out to use the node interface):
 * Responses made meanwhile stay valid, and a global the app replaced in the meantime is left alone.
 */
export function replaceGlobalResponse(): () => void {
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'Response');
  Object.defineProperty(globalThis, 'Response', {
    value: LightResponse,
    writable: true,
    configurable: true,
    enumerable: false,
  });
  return () => {
    if (globalThis.Response !== (LightResponse as unknown)) return;
    if (saved) Object.defineProperty(globalThis, 'Response', saved);
    else delete (globalThis as { Response?: unknown }).Response;
  };
}

/** The class itself, for tests. */
export const LightResponseClass = LightResponse as unknown as typeof Response;
