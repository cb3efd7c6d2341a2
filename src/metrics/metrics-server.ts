/**
 * The arbiter's admin listener for --metrics-bind: `GET /metrics` in the
 * Prometheus text format, nothing else. It is the only socket the arbiter
 * accepts connections on besides the control socket, and it never sees app
 * traffic (that stays on the workers' listeners).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { TsuError } from '../errors.js';
import { hostPortText } from '../config/bind-address.js';
import { Lifecycle } from '../lifecycle.js';
import type { HostPort } from './host-port.js';
import type { PrometheusMetrics } from './prometheus.js';

export class MetricsServer {
  private readonly life: Lifecycle;

  private constructor(
    server: http.Server,
    /** http://127.0.0.1:9100/metrics, with the real port when 0 was asked. */
    readonly url: string,
  ) {
    // A scrape is short and can be retried: closing drops open scrape connections at once, as destroying does.
    const end = (done: () => void): void => {
      server.close(() => done());
      server.closeAllConnections();
    };
    this.life = new Lifecycle({ close: end, destroy: end });
  }

  /** Listens; a taken or bad address is TSU_ERR_BIND (exit 1), like a --bind that cannot be bound. */
  static async listen(target: HostPort, metrics: PrometheusMetrics): Promise<MetricsServer> {
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found: metrics are at /metrics\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('Method Not Allowed\n');
        return;
      }
      metrics.text().then(
        (text) =>
          res.writeHead(200, { 'content-type': metrics.contentType }).end(req.method === 'HEAD' ? undefined : text),
        (err: unknown) =>
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot collect metrics: ${String(err)}\n`),
      );
    });
    // A scraper's keep-alive connection must not hold the arbiter's exit.
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new TsuError(
            'TSU_ERR_BIND',
            `cannot serve metrics on ${hostPortText(target)} (--metrics-bind): ${err.code ?? err.message}`,
          ),
        ),
      );
      server.listen({ host: target.host, port: target.port, exclusive: true }, resolve);
    });
    server.on('error', () => {});
    const addr = server.address() as AddressInfo;
    return new MetricsServer(server, `http://${hostPortText({ host: addr.address, port: addr.port })}/metrics`);
  }

  /** Stops listening and drops open scrape connections; resolves once the listener is closed. */
  close(): Promise<void> {
    return this.life.close();
  }
}
