/**
 * A fire-and-forget StatsD client over UDP (node:dgram), as Gunicorn's
 * `instrument/statsd.py`: counters `NAME:N|c`, timers `NAME:MS|ms`, gauges
 * `NAME:V|g`, each name behind `--statsd-prefix` joined with one dot.
 *
 * Unlike Gunicorn, which sends one datagram per metric (three per request),
 * metrics are buffered and sent on a short timer as newline-separated lines,
 * at most 512 bytes per datagram (the size every StatsD server and any path
 * MTU accepts). Counters are summed while buffered (`requests:12|c` for 12
 * increments within a flush), which a StatsD server would do anyway; timers
 * and gauges are sent line by line. That keeps the cost per request to a few
 * map and array operations and one syscall per datagram, not per metric.
 *
 * Nothing here throws or blocks: a failed lookup, an unreachable daemon
 * (ICMP port unreachable comes back as ECONNREFUSED on a connected UDP socket)
 * or a full buffer drops metrics and is reported once through `onError`.
 */
import dgram from 'node:dgram';
import { lookup } from 'node:dns';
import type { Settings } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import { type HostPort, STATSD_DEFAULT_PORT, parseHostPort } from './host-port.js';

/** Largest datagram sent; more lines go in further datagrams. */
export const MAX_DATAGRAM = 512;
/** How long metrics wait in the buffer. Short enough that counts look live, long enough to batch. */
const FLUSH_MS = 100;
/** Lines kept while the socket is not connected yet, or between flushes: beyond this, flush early. */
const MAX_BUFFERED_LINES = 4096;

export interface StatsdOptions {
  target: HostPort;
  /** --statsd-prefix, joined to every name with a dot. */
  prefix: string | null;
  flushMs?: number;
  /** Told once about the first failure (lookup, send); later failures are silent. */
  onError?: (message: string) => void;
}

/** Gunicorn: `myapp` and `myapp.` both give `myapp.`; no prefix gives none. */
export function normalizePrefix(prefix: string | null): string {
  const trimmed = (prefix ?? '').replace(/\.+$/, '');
  return trimmed ? `${trimmed}.` : '';
}

export class StatsdClient {
  private readonly prefix: string;
  private readonly flushMs: number;
  private socket: dgram.Socket | null = null;
  private connected = false;
  private closed = false;
  private reported = false;
  private readonly counters = new Map<string, number>();
  private lines: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private connectedNow!: () => void;
  /** Resolves once the socket is connected (never, if the host does not resolve). */
  readonly ready = new Promise<void>((resolve) => (this.connectedNow = resolve));

  constructor(private readonly opts: StatsdOptions) {
    this.prefix = normalizePrefix(opts.prefix);
    this.flushMs = opts.flushMs ?? FLUSH_MS;
    this.connect();
  }

  increment(name: string, by = 1): void {
    if (this.closed) return;
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
    this.schedule();
  }

  /** A timer value in milliseconds. */
  timing(name: string, ms: number): void {
    this.push(`${this.prefix}${name}:${Math.round(ms * 1000) / 1000}|ms`);
  }

  gauge(name: string, value: number): void {
    this.push(`${this.prefix}${name}:${value}|g`);
  }

  /** Sends what is buffered now: on a connected socket with an empty queue, libuv sends synchronously. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (!this.connected || !this.socket) return;
    const lines = this.lines;
    this.lines = [];
    for (const [name, n] of this.counters) lines.push(`${this.prefix}${name}:${n}|c`);
    this.counters.clear();
    let batch = '';
    let bytes = 0;
    for (const line of lines) {
      const size = Buffer.byteLength(line);
      if (batch && bytes + 1 + size > MAX_DATAGRAM) {
        this.send(batch);
        batch = '';
      }
      batch = batch ? `${batch}\n${line}` : line;
      bytes = batch === line ? size : bytes + 1 + size;
    }
    if (batch) this.send(batch);
  }

  /** Flushes and closes the socket. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    try {
      this.socket?.close();
    } catch {
      // Already closed.
    }
    this.socket = null;
  }

  private push(line: string): void {
    if (this.closed) return;
    this.lines.push(line);
    if (this.lines.length >= MAX_BUFFERED_LINES) {
      if (this.connected) this.flush();
      else this.lines.splice(0, this.lines.length - MAX_BUFFERED_LINES);
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.flushMs);
    // Metrics never keep a process alive.
    this.timer.unref();
  }

  private send(text: string): void {
    try {
      // No callback: Node then skips a completion callback per datagram (a large share of a send's cost);
      // an asynchronous failure comes as the socket's 'error' event instead.
      this.socket?.send(text);
    } catch (err) {
      this.fail(`cannot send to ${this.where()}: ${(err as Error).message}`);
    }
  }

  private connect(): void {
    const { host, port } = this.opts.target;
    // Resolved once, as Gunicorn connects its socket once.
    lookup(host, (err, address, family) => {
      if (this.closed) return;
      if (err) {
        this.fail(`cannot resolve ${this.where()}: ${err.code ?? err.message}`);
        return;
      }
      const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
      socket.on('error', (e) => this.fail(`${this.where()}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
      socket.unref();
      socket.connect(port, address, () => {
        this.connected = true;
        this.connectedNow();
        if (this.lines.length || this.counters.size) this.schedule();
      });
      this.socket = socket;
    });
  }

  private where(): string {
    return `StatsD at ${this.opts.target.host}:${this.opts.target.port}`;
  }

  private fail(message: string): void {
    if (this.reported) return;
    this.reported = true;
    try {
      this.opts.onError?.(message);
    } catch {
      // Reporting must not throw into the caller either.
    }
  }
}

/** Opens a StatsD client for --statsd-host, counting error-log lines of `log` through it. */
export function startStatsd(settings: Settings, log: Logger): StatsdClient | null {
  if (!settings.statsdHost) return null;
  const target = parseHostPort(settings.statsdHost, STATSD_DEFAULT_PORT);
  if (!target.ok) return null; // Validated with the settings; unreachable.
  const statsd = new StatsdClient({
    target: target.value,
    prefix: settings.statsdPrefix,
    onError: (message) => log.warning(`StatsD: ${message}; metrics are being dropped`),
  });
  log.setObserver((kind) => statsd.increment(`tsunicorn.log.${kind}`));
  return statsd;
}
