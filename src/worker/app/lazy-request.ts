/**
 * The Request a fetch handler receives, built lazily.
 *
 * Constructing a real `Request` on Node 20 costs more than serving a
 * hello-world response: undici creates and links AbortSignals (each made
 * transferable), parses the URL and copies the headers. Most handlers only
 * read `method`, `url` and `headers` (routers do exactly that), so this
 * object answers those three cheaply and builds the real Request, with its
 * body stream and abort signal, the first time anything else is touched.
 * It is a Request as far as the app can tell: `instanceof Request` holds and
 * every property and method of Request.prototype is there, delegating to the
 * real one. The technique is the one @hono/node-server uses.
 */
import type { IncomingMessage } from 'node:http';

type Build = (req: IncomingMessage, url: string, headers: Headers, signal: AbortSignal) => Request;

function incomingHeaders(req: IncomingMessage): Headers {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return headers;
}

/**
 * One request's state, and the handle the fetch adapter holds. A class rather than an object
 * literal with closures and a getter, and a private field rather than a defined property on
 * the LazyRequest: both are cheaper per request on Node 20 (docs/benchmarks.md).
 */
class State implements LazyRequestHandle {
  headers: Headers | null = null;
  real: Request | null = null;
  controller: AbortController | null = null;
  aborted = false;
  readonly request: Request;

  constructor(
    readonly req: IncomingMessage,
    readonly url: string,
    readonly build: Build,
  ) {
    this.request = new LazyRequest(this) as unknown as Request;
  }

  abort(): void {
    this.aborted = true;
    this.controller?.abort();
  }
}

let stateOf: (request: LazyRequest) => State;

function realRequest(self: LazyRequest): Request {
  const s = stateOf(self);
  if (!s.real) {
    s.controller = new AbortController();
    if (s.aborted) s.controller.abort();
    s.real = s.build(s.req, s.url, s.headers ?? incomingHeaders(s.req), s.controller.signal);
    s.headers = null;
  }
  return s.real;
}

class LazyRequest {
  #s: State;

  static {
    stateOf = (request) => request.#s;
  }

  constructor(state: State) {
    this.#s = state;
  }

  get method(): string {
    return this.#s.req.method ?? 'GET';
  }

  get url(): string {
    return this.#s.url;
  }

  get headers(): Headers {
    const s = this.#s;
    if (s.real) return s.real.headers;
    s.headers ??= incomingHeaders(s.req);
    return s.headers;
  }
}

/**
 * Done on first use, not at import: touching the `Request` global makes Node 20 load its fetch
 * implementation (undici), whose memory a worker serving a node-interface app never needs.
 */
let prepared = false;
function prepare(): void {
  if (prepared) return;
  prepared = true;
  Object.setPrototypeOf(LazyRequest.prototype, Request.prototype);
  delegateToRealRequest();
}

function delegateToRealRequest(): void {
  for (const name of Object.getOwnPropertyNames(Request.prototype)) {
    if (name === 'constructor' || Object.hasOwn(LazyRequest.prototype, name)) continue;
    const d = Object.getOwnPropertyDescriptor(Request.prototype, name)!;
    if (typeof d.value === 'function') {
      Object.defineProperty(LazyRequest.prototype, name, {
        value(this: LazyRequest, ...args: unknown[]) {
          const real = realRequest(this) as unknown as Record<string, (...a: unknown[]) => unknown>;
          return real[name]!(...args);
        },
        writable: true,
        configurable: true,
      });
    } else if (d.get) {
      Object.defineProperty(LazyRequest.prototype, name, {
        get(this: LazyRequest) {
          return (realRequest(this) as unknown as Record<string, unknown>)[name];
        },
        configurable: true,
      });
    }
  }
}

export interface LazyRequestHandle {
  readonly request: Request;
  /** The client went away: abort the request's signal (now, or when it is built). */
  abort(): void;
  readonly aborted: boolean;
}

export function lazyRequest(req: IncomingMessage, url: string, build: Build): LazyRequestHandle {
  prepare();
  return new State(req, url, build);
}
