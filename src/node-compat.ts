/**
 * Every use of Node internals and every Node-version feature detection lives
 * here, nowhere else. Each entry names the versions it was checked on.
 */
import type { ServerResponse } from 'node:http';
import net from 'node:net';
import util from 'node:util';

/** Opaque libuv stream handle (TCPWrap or PipeWrap), as sent over IPC. */
export interface ServerHandle {
  readonly fd: number;
  close(cb?: () => void): void;
  getsockname?(out: { address?: string; port?: number; family?: string }): number;
  listen(backlog: number): number;
}

interface NetInternals {
  /**
   * Node 20–26: creates a bound, not-yet-listening handle. Returns a negative
   * errno on failure. libuv defers EADDRINUSE on TCP from bind to listen, so a
   * TCP handle can come back "bound" to a taken port (see probeListen).
   */
  _createServerHandle(
    address: string | null,
    port: number | null,
    addressType: number | null,
    fd?: number,
    flags?: number,
  ): ServerHandle | number;
}

const internals = net as unknown as NetInternals;

if (typeof internals._createServerHandle !== 'function') {
  // A future Node may drop this; fail loudly at startup rather than at the first bind.
  throw new Error(`tsunicorn: this Node.js (${process.version}) has no net._createServerHandle; please report it`);
}

export function createServerHandle(
  address: string | null,
  port: number | null,
  addressType: 4 | 6 | -1 | null,
  fd?: number,
): ServerHandle | number {
  return internals._createServerHandle(address, port, addressType, fd);
}

/**
 * Node and libuv features used where the running Node has them can be switched off one by one, for a test of
 * the fallback or should one misbehave: TSUNICORN_NODE_FALLBACK=bound-socket,type-stripping,websocket,accept-pause.
 */
export type Fallback = 'bound-socket' | 'type-stripping' | 'websocket' | 'accept-pause';
export function forcedFallback(what: Fallback, env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.TSUNICORN_NODE_FALLBACK ?? '').split(',').some((s) => s.trim() === what || s.trim() === 'all');
}

interface BoundSocketLike {
  fd(): number;
}
type BoundSocketClass = new (options: { host: string; port: number; reusePort?: boolean }) => BoundSocketLike;
/** net.BoundSocket: Node 24.19+ and 26.4+. */
const BoundSocket = (net as unknown as { BoundSocket?: BoundSocketClass }).BoundSocket;

/** Which way TCP listeners are bound: `net.BoundSocket`, or `net._createServerHandle` and a probe listen. */
export function tcpBindMethod(): 'bound-socket' | 'probe' {
  return typeof BoundSocket === 'function' && !forcedFallback('bound-socket') ? 'bound-socket' : 'probe';
}

/** libuv's UV_TCP_REUSEPORT bind flag (uv.h, libuv 1.49: Node 22.12+, 23.1+). */
const UV_TCP_REUSEPORT = 2;

/** null when this Node can set SO_REUSEPORT on a bound socket (22.12+, 23.1+), else why not. */
export function reusePortUnsupported(version = process.versions.node): string | null {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major > 22 && !(major === 23 && minor < 1)) return null;
  if (major === 22 && minor >= 12) return null;
  return `--reuse-port needs Node.js 22.12 or newer; this is v${version}`;
}

/**
 * Sockets bound by net.BoundSocket whose descriptor a ServerHandle now uses. The BoundSocket
 * must never be closed (it would close that descriptor under the handle), so it is kept here.
 */
const adoptedBoundSockets = new Set<BoundSocketLike>();

/**
 * Binds a TCP listener without listening on it, and reports a taken address now rather than
 * at the workers' listen(). Returns the handle or a negative errno.
 *
 * With net.BoundSocket the bind fails at once (it asks for the address, which surfaces the
 * error libuv defers); the handle sent to workers wraps the same descriptor. Without it, libuv
 * reports EADDRINUSE for TCP only at listen(), which the arbiter must not call on its real
 * handle: a second socket is bound to the same address (both have SO_REUSEADDR and neither
 * listens, so the kernel allows it), listened on and closed in the same tick, so no callback
 * can run in between and no connection is ever accepted by the arbiter.
 */
export function bindTcp(
  host: string,
  port: number,
  family: 4 | 6,
  backlog: number,
  reusePort: boolean,
): ServerHandle | number {
  if (tcpBindMethod() === 'bound-socket') {
    let bound: BoundSocketLike;
    try {
      bound = new BoundSocket!({ host, port, reusePort });
    } catch (err) {
      const errno = (err as { errno?: unknown }).errno;
      return typeof errno === 'number' && errno < 0 ? errno : -22; // EINVAL: a bad address
    }
    const handle = internals._createServerHandle(null, null, null, bound.fd());
    if (typeof handle === 'number') return handle;
    adoptedBoundSockets.add(bound);
    return handle;
  }
  const flags = reusePort ? UV_TCP_REUSEPORT : 0;
  const handle = internals._createServerHandle(host, port, family, undefined, flags);
  if (typeof handle === 'number' || port === 0) return handle;
  const probe = internals._createServerHandle(host, port, family, undefined, flags);
  const err = typeof probe === 'number' ? probe : probe.listen(backlog);
  if (typeof probe !== 'number') probe.close();
  if (err) {
    handle.close();
    return err;
  }
  return handle;
}

/**
 * Sets TCP_NODELAY on a listening TCP socket and says whether connections
 * accepted from it get it too. Linux copies the option from the listener to
 * every accepted socket, so workers can skip the setsockopt Node makes for
 * each connection (server option noDelay): one syscall fewer per connection
 * (9 to 8 for a `Connection: close` request). Elsewhere, and for unix
 * sockets, it returns false and Node sets it per connection as usual.
 * Checked on Linux 6.x with Node 20 (TCPWrap.setNoDelay returns an errno).
 */
export function setInheritedNoDelay(handle: ServerHandle): boolean {
  const tcp = handle as ServerHandle & { setNoDelay?(enable: boolean): number };
  if (process.platform !== 'linux' || handle.constructor?.name !== 'TCP' || typeof tcp.setNoDelay !== 'function')
    return false;
  return tcp.setNoDelay(true) === 0;
}

/** The name of a libuv error number, e.g. -98 → EADDRINUSE. */
export function errnoName(err: number): string {
  try {
    return util.getSystemErrorName(err);
  } catch {
    return `errno ${err}`;
  }
}

/**
 * Starts a net.Server on a handle received from the arbiter.
 *
 * TCP: `server.listen(handle)` takes the exclusive path (no round trip to the
 * cluster primary). Pipes (unix sockets) are not `instanceof TCP`, so the
 * public API would route them through the cluster primary as an `fd` listen;
 * instead we install the handle and call `_listen2` (setupListenHandle),
 * which Node keeps under that name for code that wraps it. Checked on Node 20, 22, 24 and 26.
 */
export function listenOnHandle(server: net.Server, handle: ServerHandle, backlog: number, pipePath?: string): void {
  if (handle.constructor?.name === 'TCP') {
    server.listen(handle as unknown as net.ListenOptions, backlog);
    return;
  }
  const s = server as unknown as {
    _handle: ServerHandle | null;
    _pipeName?: string;
    _listen2(address: string | null, port: number, addressType: number, backlog: number, fd?: number): void;
  };
  s._handle = handle;
  if (pipePath) s._pipeName = pipePath;
  s._listen2(null, -1, -1, backlog);
}

interface WatchedHandle {
  readStart?(): number;
  readStop?(): number;
}
/** libuv's UV_EALREADY: the handle is already being read (watched). */
const UV_EALREADY = -114;

/**
 * Whether a listener can stop and restart accepting without being closed (pauseAccepting): libuv 1.45+ accepts
 * one connection per poll callback (libuv#3696), so a pause inside 'connection' takes no second one. Node 20.20
 * (libuv 1.46), 22.23 (1.51), 24.21 and 26.10 (1.52) checked.
 */
export function acceptPauseSupported(uv = process.versions.uv ?? '0.0', env = process.env): boolean {
  const [major = 0, minor = 0] = uv.split('.').map(Number);
  return (major > 1 || (major === 1 && minor >= 45)) && !forcedFallback('accept-pause', env);
}

/**
 * Stops accepting on a listening handle without closing it: uv_read_stop on a listening stream takes its
 * descriptor out of the poll set, and its poll callback stays libuv's accept (uv_read_start puts it back). The
 * connections wait in the kernel's queue for the other workers, as after a close, and no fresh copy of the
 * listener is needed to accept again. False when the handle cannot (only one received over IPC is a readable
 * stream to libuv; one bound in this process answers ENOTCONN): close it instead.
 */
export function pauseAccepting(handle: ServerHandle): boolean {
  const h = handle as WatchedHandle;
  if (typeof h.readStart !== 'function' || typeof h.readStop !== 'function') return false;
  const started = h.readStart();
  return (started === 0 || started === UV_EALREADY) && h.readStop() === 0;
}

/** Accepts again on a handle pauseAccepting stopped; false if it cannot (close it and listen on a copy). */
export function resumeAccepting(handle: ServerHandle): boolean {
  const h = handle as WatchedHandle;
  const started = h.readStart?.();
  return started === 0 || started === UV_EALREADY;
}

/** Closes a net.Server's listener, not its idle keep-alive connections (http.Server.close does both since Node 19). */
export function stopAccepting(server: net.Server): void {
  net.Server.prototype.close.call(server);
}

/**
 * Node 24 (and 22.23, checked) adds a buffer beyond the advertised keep-alive timeout
 * before it closes an idle socket (`keepAliveTimeoutBuffer`, left at its 1 s default),
 * so a client that trusts the `Keep-Alive: timeout=N` hint never sends on a socket the
 * server is closing. Node 20 closes at exactly the advertised time; there we keep the
 * socket up to 1 s longer than advertised (the hint is floor(ms / 1000)).
 */
export function keepAliveMs(server: { keepAliveTimeoutBuffer?: number }, seconds: number): number {
  const ms = Math.round(seconds * 1000);
  if (ms === 0) return 0;
  return 'keepAliveTimeoutBuffer' in server ? ms : Math.floor(ms / 1000) * 1000 + 999;
}

/**
 * The body a Response was built from, when it was a string or bytes and has
 * not been read: `new Response('hello')`, `Response.json(...)`. Node's fetch
 * (undici, Node 18–24) keeps it on the Response's internal state as
 * `body.source` with its byte `length`. Writing it directly skips creating
 * and reading a ReadableStream, which on Node 20 costs more than everything
 * else in a hello-world request. Anything else (a stream, a Blob, another
 * Response implementation, a Node without that state) returns null and
 * takes the streaming path.
 */
let responseState: symbol | null | undefined;
export function responseBodySource(response: Response): { source: string | Uint8Array; length: number } | null {
  if (responseState === undefined) {
    const probe = new (nodeResponseClass())('');
    responseState = Object.getOwnPropertySymbols(probe).find((s) => s.description === 'state') ?? null;
  }
  if (responseState === null || response.bodyUsed) return null;
  const body = (response as unknown as Record<symbol, { body?: { source?: unknown; length?: unknown } | null }>)[
    responseState
  ]?.body;
  const source = body?.source;
  if ((typeof source === 'string' || source instanceof Uint8Array) && typeof body?.length === 'number') {
    return { source, length: body.length };
  }
  return null;
}

/**
 * Node's own `Response` class, whatever `globalThis.Response` is now (a worker may have installed
 * tsunicorn's lightweight one, src/worker/app/light-response.ts). Node 20–24 define the fetch globals as
 * lazy accessors: the first read loads undici (memory a worker may never need) and replaces the accessor by a plain
 * value. So the descriptor is captured at import, without reading it, and resolved on first use;
 * resolving it through the accessor overwrites the global, which is then put back as it was.
 */
const responseGlobal = Object.getOwnPropertyDescriptor(globalThis, 'Response');
let nodeResponse: typeof Response | undefined;
export function nodeResponseClass(): typeof Response {
  if (nodeResponse) return nodeResponse;
  if (responseGlobal?.get) {
    const current = Object.getOwnPropertyDescriptor(globalThis, 'Response');
    nodeResponse = responseGlobal.get.call(globalThis) as typeof Response;
    if (current) Object.defineProperty(globalThis, 'Response', current);
  } else {
    nodeResponse = (responseGlobal?.value as typeof Response | undefined) ?? Response;
  }
  return nodeResponse;
}

/**
 * The head node:http wrote for a response (status line and every field, CRLF-separated), or null
 * before it is sent. `_header` is the only record of headers given to writeHead on a response with
 * none set before (getHeader() never sees those). Checked on Node 20–26.
 */
export function sentHead(res: ServerResponse): string | null {
  const head = (res as unknown as { _header?: unknown })._header;
  return typeof head === 'string' ? head : null;
}

/**
 * Makes node:http answer with `Connection: close` and close the connection after this response,
 * without setting a header: a header set before the app runs would make writeHead merge the app's
 * headers one by one, keeping only the last of repeated names, and on Node 20 throw on [name, value]
 * pairs. `shouldKeepAlive` is read when the head is written. Checked on Node 20–26.
 */
export function closeAfterResponse(res: ServerResponse): void {
  res.shouldKeepAlive = false;
}

/**
 * Node's own TypeScript type stripping: unflagged from 22.18 and 23.6 (`process.features.typescript`
 * is 'strip', or 'transform' with --experimental-transform-types; false with --no-experimental-strip-types).
 */
export function nativeTypeScript(): boolean {
  const features = process.features as { typescript?: string | false };
  return Boolean(features.typescript) && !forcedFallback('type-stripping');
}

/**
 * A WHATWG WebSocket class: Node's global one (unflagged from 22.0), else undici's (Node 20 has
 * it only behind --experimental-websocket). Both are undici's implementation.
 */
export async function webSocketClass(): Promise<typeof WebSocket> {
  const global = (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
  if (typeof global === 'function' && !forcedFallback('websocket')) return global;
  return (await import('undici')).WebSocket as unknown as typeof WebSocket;
}
