/**
 * Metrics in a worker: request sinks (src/worker/http/request-observer.ts) for
 * StatsD and for the Prometheus snapshot, and the error-log counters. With
 * neither --statsd-host, --metrics-bind nor --reload-canary, nothing is set
 * up and requests are not observed at all.
 */
import type { Settings } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import type { RequestMetricsSnapshot } from '../protocol.js';
import type { RequestSink } from '../worker/http/request-observer.js';
import { RequestStats } from './request-stats.js';
import { startStatsd } from './statsd.js';

export interface WorkerMetrics {
  readonly sinks: RequestSink[];
  /** The request snapshot for the next heartbeat; undefined without --metrics-bind and --reload-canary. */
  snapshot(): RequestMetricsSnapshot | undefined;
  /** Sends what StatsD has buffered; before the worker exits. */
  close(): void;
}

export function startWorkerMetrics(settings: Settings, log: Logger): WorkerMetrics | null {
  const statsd = startStatsd(settings, log);
  // --reload-canary compares generations from the same counters Prometheus gets.
  const stats = settings.metricsBind || settings.reloadCanary > 0 ? new RequestStats() : null;
  if (!statsd && !stats) return null;
  const sinks: RequestSink[] = [];
  if (statsd) {
    // Metric names per status, built once rather than per request.
    const statusNames = new Map<number, string>();
    sinks.push((r) => {
      // Gunicorn's Statsd.access(): the same three metrics, per request.
      let status = statusNames.get(r.status);
      if (status === undefined) statusNames.set(r.status, (status = `tsunicorn.request.status.${r.status}`));
      statsd.increment('tsunicorn.requests');
      statsd.timing('tsunicorn.request.duration', Number(r.durationNs) / 1e6);
      statsd.increment(status);
    });
  }
  if (stats) sinks.push((r) => stats.record(r.status, Number(r.durationNs) / 1e9));
  return {
    sinks,
    snapshot: () => stats?.snapshot(),
    close: () => statsd?.close(),
  };
}
