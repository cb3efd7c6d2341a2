/**
 * Raw-bytes HTTP client for the hardening tests: writes exactly the bytes
 * given on a fresh node:net connection and reports what came back and whether
 * the server closed the connection. Statuses are read off `HTTP/1.x NNN `.
 */
import net from 'node:net';

export interface RawResult {
  /** Response statuses in order (1xx included). */
  statuses: number[];
  /** Everything received, latin1. */
  text: string;
  /** The server closed (FIN or RST) before the deadline. */
  closed: boolean;
  /** A socket error (ECONNRESET, …), if one happened. */
  error: string | null;
  /** Milliseconds from connect to close (or deadline). */
  ms: number;
}

export interface RawOptions {
  host?: string;
  /** Source address (127.0.0.2 to be an "untrusted" peer). */
  localAddress?: string;
  /** Half-close after writing. */
  halfClose?: boolean;
  /** Give up (and destroy the socket) after this long; default 5000 ms. */
  timeoutMs?: number;
  /** Resolve as soon as this many responses are complete-looking (status lines seen), without waiting for a close. */
  untilStatuses?: number;
}

/** Status lines, wherever they start: a response body need not end in a newline, so the next one may follow it directly. */
function parseStatuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
}

export function sendRaw(port: number, bytes: string | Buffer, opts: RawOptions = {}): Promise<RawResult> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect({ port, host: opts.host ?? '127.0.0.1', localAddress: opts.localAddress });
    const chunks: Buffer[] = [];
    let error: string | null = null;
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      socket.destroy();
      resolve({ statuses: parseStatuses(text), text, closed, error, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), opts.timeoutMs ?? 5000);
    socket.on('data', (d) => {
      chunks.push(d);
      if (opts.untilStatuses && parseStatuses(Buffer.concat(chunks).toString('latin1')).length >= opts.untilStatuses)
        finish(false);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
    });
    socket.on('close', () => finish(true));
    socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
    if (opts.halfClose) socket.end();
  });
}
