/**
 * --health-path: a readiness answer from the worker itself, before the app.
 * 200 while the server serves; 503 in a worker not yet listening on every
 * listener, and from the moment the arbiter says the server is stopping
 * (TERM, through --shutdown-delay and the drain). A worker retiring for a
 * reload or a recycle still answers 200: the server as a whole serves on, and
 * a probe that reached it on a keep-alive connection must not fail the pod.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export class Health {
  private listening = false;
  private stopping = false;

  constructor(private readonly path: string) {}

  /** Whether `req` asks for the health path: the path exactly, with or without a query. */
  matches(req: IncomingMessage): boolean {
    const url = req.url ?? '';
    return url === this.path || (url.startsWith(this.path) && url.charCodeAt(this.path.length) === 63) /* ? */;
  }

  /** Every listener is listening. */
  ready(): void {
    this.listening = true;
  }

  /** The arbiter is stopping the server: from now on 503, for good. */
  stop(): void {
    this.stopping = true;
  }

  get status(): 200 | 503 {
    return this.listening && !this.stopping ? 200 : 503;
  }

  answer(req: IncomingMessage, res: ServerResponse): void {
    const status = this.status;
    const body = status === 200 ? 'ok\n' : this.stopping ? 'stopping\n' : 'starting\n';
    res.writeHead(status, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}
