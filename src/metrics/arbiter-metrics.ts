/**
 * Metrics in the arbiter: the StatsD `tsunicorn.workers` gauge and the
 * arbiter's own `log.*` counters (--statsd-host), and the Prometheus registry
 * and its /metrics listener (--metrics-bind). The arbiter loop calls in on
 * beats, exits and each turn; nothing here changes arbiter state.
 */
import type { Settings } from '../config/settings.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { RequestMetricsSnapshot } from '../protocol.js';
import { type WorkerRecord, WorkerState } from '../arbiter/pool/worker-record.js';
import { parseHostPort } from './host-port.js';
import { MetricsServer } from './metrics-server.js';
import type { CanaryResult, PrometheusMetrics, RestartReason } from './prometheus.js';
import { type StatsdClient, startStatsd } from './statsd.js';

/** The workers gauge is re-sent this often even when unchanged: StatsD servers forget gauges not seen in a flush. */
const GAUGE_REFRESH_MS = 5000;

/** Why `w` exited, computed before the arbiter marks it dead; null when it was not a restart (arbiter stopping). */
export function restartReason(w: WorkerRecord): RestartReason | null {
  if (w.timedOut) return 'timeout';
  if (w.retireReason) return w.retireReason;
  if (w.state === WorkerState.Stopping) return null;
  return 'crash';
}

export class ArbiterMetrics {
  private server: MetricsServer | null = null;
  private lastWorkers = -1;
  private lastGaugeAt = 0;

  private constructor(
    private readonly log: Logger,
    private readonly statsd: StatsdClient | null,
    private readonly prom: PrometheusMetrics | null,
    private readonly bind: string | null,
  ) {}

  /**
   * Starts StatsD and the /metrics listener. A USR2 successor whose old master
   * still holds the metrics port serves /metrics once promoted (`promoted()`).
   */
  static async start(settings: Settings, log: Logger, successor: boolean): Promise<ArbiterMetrics> {
    const statsd = startStatsd(settings, log);
    // prom-client is loaded only when /metrics is served: the master should not carry it otherwise.
    const prom = settings.metricsBind ? new (await import('./prometheus.js')).PrometheusMetrics() : null;
    const m = new ArbiterMetrics(log, statsd, prom, settings.metricsBind);
    try {
      await m.listen();
    } catch (err) {
      if (!(successor && /EADDRINUSE/.test(describeError(err)))) {
        statsd?.close();
        throw err;
      }
      log.info(`Metrics: ${settings.metricsBind} is still served by the old master; taking it over once promoted`);
    }
    return m;
  }

  get enabled(): boolean {
    return this.statsd !== null || this.prom !== null;
  }

  /** The old master has gone: serve /metrics if it held the port at start. */
  promoted(): void {
    if (this.prom && !this.server) {
      this.listen().catch((err) => this.log.error(`Metrics: ${describeError(err)}`));
    }
  }

  workerBeat(w: WorkerRecord, snapshot: RequestMetricsSnapshot | undefined): void {
    this.prom?.workerBeat(w.id, w.pid, w.inFlight, w.rss, snapshot);
  }

  /** A --reload-canary verdict: 'passed', or why the reload was rolled back. */
  canaryJudged(result: CanaryResult): void {
    this.prom?.canaryJudged(result);
    this.statsd?.increment(`tsunicorn.reload.canary.${result}`);
  }

  workerExit(w: WorkerRecord, reason: RestartReason | null): void {
    this.prom?.workerExit(w.id, w.pid, reason);
  }

  /** Each loop turn: the live worker count, sent when it changes and every few seconds (Gunicorn: on change). */
  tick(liveWorkers: number, nowMs: number): void {
    const changed = liveWorkers !== this.lastWorkers;
    if (changed) this.prom?.setWorkers(liveWorkers);
    if (this.statsd && (changed || nowMs - this.lastGaugeAt >= GAUGE_REFRESH_MS)) {
      this.statsd.gauge('tsunicorn.workers', liveWorkers);
      this.lastGaugeAt = nowMs;
    }
    this.lastWorkers = liveWorkers;
  }

  close(): void {
    void this.server?.close();
    this.server = null;
    this.statsd?.close();
  }

  private async listen(): Promise<void> {
    if (!this.prom || !this.bind) return;
    const target = parseHostPort(this.bind);
    if (!target.ok) return; // Validated with the settings.
    this.server = await MetricsServer.listen(target.value, this.prom);
    this.log.info(`Serving metrics at: ${this.server.url}`);
  }
}
