/**
 * Bounded HTTP load generator for integration tests that signal a server
 * (HUP, TTIN, USR2, …) while it is under load and must prove
 * "0 failed requests, 0 connection errors".
 *
 * Model: `concurrency` virtual clients, each a sequential loop owning one
 * undici `Client` (one connection, pipelining 1). Every request is counted
 * exactly once, as a status (response fully read) or as an error (anything
 * else), so `total === Σ statuses + Σ errors`.
 *
 * - No silent retries: a plain undici `Client` never re-sends a request that
 *   was written to a socket which then failed; it fails it (only requests
 *   still queued and never written are moved to the next connection, and a
 *   client here never has one queued). Retrying lives only in `RetryAgent` /
 *   `RetryHandler` / `interceptors.retry`, none of which is used here.
 * - keepAlive: the client's connection is reused. If the server closes it
 *   (keep-alive timeout, `Connection: close`) between requests, undici opens
 *   a new one for the next request; that is not an error. If a request
 *   fails, it is counted and the client is replaced by a fresh one, whose
 *   connect failure (ECONNREFUSED, …) is counted as the next request's error.
 * - keepAlive false: every request is sent with `Connection: close` (undici's
 *   `reset`), so each request opens its own connection.
 * - Bounds: no request starts after `durationMs` or beyond `maxRequests`.
 *   Requests in flight at that point (or at stop()/abort) get `drainMs` to
 *   finish; then they are aborted and counted as `LOAD_DRAIN_TIMEOUT`
 *   errors (a server that does not answer within that time is failing). So
 *   the promise settles by about durationMs + drainMs + 1 s (closing).
 */
import { performance } from 'node:perf_hooks';
import { Client } from 'undici';

export interface LoadOptions {
  /** e.g. http://127.0.0.1:PORT/ (path and query are used for every request). */
  url: string;
  /** Connect to this unix socket instead of url's host:port (url still gives Host and path). */
  socketPath?: string;
  /** Concurrent clients, each sequential. */
  concurrency: number;
  /** Hard bound on wall time: no request starts after this. */
  durationMs: number;
  /** Hard bound on the number of requests started (default 1_000_000). */
  maxRequests?: number;
  /** true: each client reuses one keep-alive connection; false: one connection per request, `Connection: close`. */
  keepAlive: boolean;
  /** Stop early (same as stop()). */
  signal?: AbortSignal;
  /** Grace for in-flight requests after the end (duration, maxRequests, stop, abort); default 2000 ms. */
  drainMs?: number;
  /** Pause of a client after one of its requests failed, so a refused port is not hammered; default 5 ms, 0 disables. */
  errorBackoffMs?: number;
  /** Extra request headers. */
  headers?: Record<string, string>;
}

export interface LoadResult {
  /** 2xx responses (fully read). */
  ok: number;
  /** Every status seen, for responses whose body was fully read. */
  statuses: Record<number, number>;
  /** Failed requests by error code (ECONNRESET, ECONNREFUSED, UND_ERR_SOCKET, LOAD_DRAIN_TIMEOUT, …). */
  errors: Record<string, number>;
  /** The first few error messages, with time, client and socket info. */
  errorSamples: string[];
  /** Requests started; always Σ statuses + Σ errors. */
  total: number;
  /** Distinct trimmed response bodies → count (keys cut to 200 chars; at most 1000 distinct, the rest under OTHER_BODIES). */
  bodies: Map<string, number>;
  /** Wall time from start until the last request settled. */
  durationMs: number;
  /** TCP/unix connections the generator opened (undici 'connect' events); shows keep-alive reuse. */
  connections: number;
}

/** Key in `bodies` under which bodies beyond the distinct-body cap are counted. */
const OTHER_BODIES = '…(other bodies)';
const MAX_SAMPLES = 10;
const MAX_BODY_KEY = 200;
const MAX_DISTINCT_BODIES = 1000;
const CLOSE_TIMEOUT_MS = 1000;
/**
 * undici closes an idle connection `keepAliveTimeoutThreshold` before the
 * server's advertised `Keep-Alive: timeout=N` and, if that leaves <= 0, does
 * not reuse the connection at all. Its default (2 s) would disable reuse
 * against a server advertising timeout=2 (Gunicorn's default); 1 s keeps
 * reuse there and still closes well before the server does.
 */
const KEEP_ALIVE_THRESHOLD_MS = 1000;

interface ErrorLike {
  code?: unknown;
  name?: unknown;
  message?: unknown;
  cause?: unknown;
  socket?: { localAddress?: string; localPort?: number; remoteAddress?: string; remotePort?: number } | null;
}

function errorCode(err: unknown, depth = 0): string {
  if (err && typeof err === 'object') {
    const e = err as ErrorLike;
    if (typeof e.code === 'string' && e.code) return e.code;
    if (e.cause && depth < 3) {
      const c = errorCode(e.cause, depth + 1);
      if (c !== 'UNKNOWN') return c;
    }
    if (typeof e.name === 'string' && e.name && e.name !== 'Error') return e.name;
  }
  return 'UNKNOWN';
}

function errorText(err: unknown): string {
  if (!err || typeof err !== 'object') return String(err);
  const e = err as ErrorLike;
  let s = typeof e.message === 'string' ? e.message : String(err);
  const sock = e.socket;
  if (sock && typeof sock === 'object' && sock.localPort !== undefined) {
    s += ` (local ${sock.localAddress ?? '?'}:${sock.localPort} → remote ${sock.remoteAddress ?? '?'}:${sock.remotePort ?? '?'})`;
  }
  if (e.cause && e.cause !== err) s += ` [cause: ${errorText(e.cause)}]`;
  return s;
}

function drainTimeoutError(drainMs: number): Error {
  return Object.assign(new Error(`request still in flight ${drainMs} ms after the load ended; aborted`), {
    code: 'LOAD_DRAIN_TIMEOUT',
  });
}

class LoadRun {
  private readonly origin: string;
  private readonly path: string;
  private readonly maxRequests: number;
  private readonly drainMs: number;
  private readonly backoffMs: number;
  private readonly headers: Record<string, string>;
  private readonly t0 = performance.now();
  private readonly endAt: number;

  private issued = 0;
  private stopping = false;
  private resolveStopped!: () => void;
  private readonly stopped = new Promise<void>((r) => (this.resolveStopped = r));
  private deadlineTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  /** One abort controller per virtual client, fired only by the drain timeout. */
  private readonly controllers = new Set<AbortController>();
  private readonly dispatchers = new Set<Client>();
  private finishedAt = 0;

  private readonly statuses: Record<number, number> = {};
  private readonly errors: Record<string, number> = {};
  private readonly errorSamples: string[] = [];
  private readonly bodies = new Map<string, number>();
  private ok = 0;
  private connections = 0;

  readonly result: Promise<LoadResult>;

  constructor(private readonly opts: LoadOptions) {
    const u = new URL(opts.url);
    if (u.protocol !== 'http:') throw new Error(`load: only http: URLs are supported, got ${opts.url}`);
    if (!(opts.concurrency >= 1)) throw new Error(`load: concurrency must be >= 1, got ${opts.concurrency}`);
    this.origin = u.origin;
    this.path = `${u.pathname || '/'}${u.search}`;
    this.maxRequests = opts.maxRequests ?? 1_000_000;
    this.drainMs = opts.drainMs ?? 2000;
    this.backoffMs = opts.errorBackoffMs ?? 5;
    this.headers = { ...(opts.headers ?? {}) };
    if (!opts.keepAlive) this.headers.connection = 'close';
    this.endAt = this.t0 + Math.max(0, opts.durationMs);

    this.deadlineTimer = setTimeout(() => this.stop(), Math.max(0, opts.durationMs));
    const onAbort = (): void => this.stop();
    if (opts.signal?.aborted) this.stop();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });

    const loops: Promise<void>[] = [];
    for (let i = 0; i < opts.concurrency; i++) loops.push(this.clientLoop(i));
    const cleanUp = async (): Promise<void> => {
      opts.signal?.removeEventListener('abort', onAbort);
      clearTimeout(this.deadlineTimer);
      clearTimeout(this.drainTimer);
      await Promise.all([...this.dispatchers].map((d) => this.closeDispatcher(d)));
    };
    this.result = Promise.all(loops)
      .then(() => {
        this.finishedAt = performance.now();
        this.stop();
      })
      .then(cleanUp, async (err: unknown) => {
        await cleanUp();
        throw err;
      })
      .then(() => this.snapshot());
  }

  /** Ends the run: no new requests; in-flight ones get drainMs. Idempotent. */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    clearTimeout(this.deadlineTimer);
    this.resolveStopped();
    if (this.controllers.size > 0) {
      this.drainTimer = setTimeout(() => {
        const reason = drainTimeoutError(this.drainMs);
        for (const c of this.controllers) c.abort(reason);
      }, this.drainMs);
    }
  }

  private elapsed(): number {
    return Math.round(performance.now() - this.t0);
  }

  private mayStart(): boolean {
    return !this.stopping && this.issued < this.maxRequests && performance.now() < this.endAt;
  }

  private newDispatcher(): Client {
    const client = new Client(this.origin, {
      pipelining: 1,
      keepAliveTimeoutThreshold: KEEP_ALIVE_THRESHOLD_MS,
      ...(this.opts.socketPath ? { socketPath: this.opts.socketPath } : {}),
    });
    client.on('connect', () => this.connections++);
    // Connection-level events are also reported through the failing request; a
    // listener keeps them from becoming unhandled 'error's.
    client.on('connectionError', () => {});
    this.dispatchers.add(client);
    return client;
  }

  private async closeDispatcher(client: Client): Promise<void> {
    this.dispatchers.delete(client);
    if (client.destroyed) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      const closed = client.closed ? Promise.resolve() : client.close();
      const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), CLOSE_TIMEOUT_MS)));
      if ((await Promise.race([closed.then(() => 'closed' as const), timedOut])) === 'timeout') await client.destroy();
    } catch {
      await client.destroy().catch(() => {});
    } finally {
      clearTimeout(timer);
    }
  }

  private recordError(client: number, err: unknown, aborted: boolean): void {
    const code = aborted ? 'LOAD_DRAIN_TIMEOUT' : errorCode(err);
    this.errors[code] = (this.errors[code] ?? 0) + 1;
    if (this.errorSamples.length < MAX_SAMPLES) {
      this.errorSamples.push(`[t=${this.elapsed()}ms c${client}] ${code}: ${errorText(err)}`);
    }
  }

  private recordResponse(status: number, body: string): void {
    this.statuses[status] = (this.statuses[status] ?? 0) + 1;
    if (status >= 200 && status < 300) this.ok++;
    let key = body.trim();
    if (key.length > MAX_BODY_KEY) key = `${key.slice(0, MAX_BODY_KEY)}…`;
    if (!this.bodies.has(key) && this.bodies.size >= MAX_DISTINCT_BODIES) key = OTHER_BODIES;
    this.bodies.set(key, (this.bodies.get(key) ?? 0) + 1);
  }

  private async backoff(): Promise<void> {
    if (this.backoffMs <= 0 || this.stopping) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.stopped, new Promise<void>((r) => (timer = setTimeout(r, this.backoffMs)))]);
    clearTimeout(timer);
  }

  private async clientLoop(index: number): Promise<void> {
    let dispatcher = this.newDispatcher();
    const controller = new AbortController();
    this.controllers.add(controller);
    try {
      while (this.mayStart()) {
        this.issued++;
        let failed = false;
        try {
          const res = await dispatcher.request({
            method: 'GET',
            path: this.path,
            headers: this.headers,
            signal: controller.signal,
          });
          // A response counts only once its body is complete; headers followed by
          // a broken body is a failed request.
          const body = await res.body.text();
          this.recordResponse(res.statusCode, body);
        } catch (err) {
          failed = true;
          this.recordError(index, err, controller.signal.aborted);
        }
        if (controller.signal.aborted) break;
        if (failed) {
          // Start over on a fresh Client (undici would reconnect by itself, but a
          // new Client guarantees no state from the failed connection survives).
          const old = dispatcher;
          dispatcher = this.newDispatcher();
          await this.closeDispatcher(old);
          await this.backoff();
        }
      }
    } finally {
      this.controllers.delete(controller);
      await this.closeDispatcher(dispatcher);
    }
  }

  snapshot(): LoadResult {
    let total = 0;
    for (const n of Object.values(this.statuses)) total += n;
    for (const n of Object.values(this.errors)) total += n;
    return {
      ok: this.ok,
      statuses: { ...this.statuses },
      errors: { ...this.errors },
      errorSamples: [...this.errorSamples],
      total,
      bodies: new Map(this.bodies),
      durationMs: Math.round((this.finishedAt || performance.now()) - this.t0),
      connections: this.connections,
    };
  }
}

/** Runs load until durationMs, maxRequests or the signal, and resolves with the counts. Never rejects for request failures. */
export function runLoad(opts: LoadOptions): Promise<LoadResult> {
  return new LoadRun(opts).result;
}

/** Starts load in the background; `stop()` ends it early and returns the result (idempotent). */
export function startLoad(opts: LoadOptions): { result: Promise<LoadResult>; stop(): Promise<LoadResult> } {
  const run = new LoadRun(opts);
  // The caller may only ever await stop(); keep an unobserved result from being "unhandled".
  run.result.catch(() => {});
  return {
    result: run.result,
    stop(): Promise<LoadResult> {
      run.stop();
      return run.result;
    },
  };
}

/** Number of requests that did not get a 2xx response. */
export function failedCount(r: LoadResult): number {
  return r.total - r.ok;
}

/** One-line summary for expect messages. */
export function describeFailures(r: LoadResult): string {
  const fmt = (o: Record<string | number, number>): string =>
    Object.entries(o)
      .map(([k, v]) => `${k}×${v}`)
      .join(', ') || 'none';
  const non2xx: Record<string, number> = {};
  for (const [s, n] of Object.entries(r.statuses)) if (!(Number(s) >= 200 && Number(s) < 300)) non2xx[s] = n;
  const samples = r.errorSamples.length ? ` samples: ${r.errorSamples.slice(0, 3).join(' | ')}` : '';
  return (
    `${r.total} requests in ${r.durationMs} ms over ${r.connections} connections: ${r.ok} ok, ` +
    `${failedCount(r)} failed (non-2xx: ${fmt(non2xx)}; errors: ${fmt(r.errors)}).${samples}`
  );
}
