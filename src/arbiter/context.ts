/**
 * What the arbiter runs with: its configuration (a HUP replaces it), listeners, workers, and what it opened
 * at start. The loop (arbiter.ts) owns it; the steps around the loop (start.ts, signals.ts, hup.ts, stop.ts,
 * worker-events.ts, control/actions.ts) change it only when the loop calls them, one event at a time.
 */
import { formatAppSpec, parseAppSpec } from '../config/app-spec.js';
import { type HookName, type Hooks, type ServerInfo, callHookSync } from '../config/hooks.js';
import type { ResolvedConfig } from '../config/resolve.js';
import type { Settings } from '../config/settings.js';
import { ExitCode, describeError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { ArbiterMetrics } from '../metrics/arbiter-metrics.js';
import type { ControlServer } from './control/server.js';
import type { Stall } from './decisions/liveness.js';
import type { Diagnostics } from './diagnostics/diagnostics-dir.js';
import { type ArbiterEvent, EventQueue } from './event-queue.js';
import type { Watcher } from './file-watcher.js';
import { Succession } from './handoff/succession.js';
import type { Pidfile } from './platform/pidfile.js';
import type { Identity } from './platform/privileges.js';
import { Systemd } from './platform/systemd.js';
import { AutoWorkers } from './pool/auto-workers.js';
import { type PoolContext, WorkerPool, takesHeapSnapshots } from './pool/pool.js';
import { appPorts, sendToWorker } from './pool/worker-record.js';
import type { HeapSnapshotTaker } from './timeouts.js';
import { ShutdownDelay } from './shutdown-delay.js';
import type { Listener } from './sockets/listeners.js';
import type { TlsMaterial } from './sockets/tls.js';
import { removeListenFdsEnv, setActivatedEnv } from './platform/socket-activation.js';

export enum ArbiterState {
  Starting = 'starting',
  Running = 'running',
  /** A HUP is re-reading the config off the loop; signals and commands wait for it (hup.ts). */
  Reloading = 'reloading',
  Stopping = 'stopping',
}

export interface ArbiterInput {
  config: ResolvedConfig;
  /** How the config was given, to re-read it on HUP and to re-execute on USR2. */
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  log: Logger;
}

export class ArbiterContext {
  state = ArbiterState.Starting;
  config: ResolvedConfig;
  readonly log: Logger;
  readonly queue = new EventQueue();
  /** Events taken while Reloading that must come after the reload: queued again once it is applied. */
  held: ArbiterEvent[] = [];
  /** Told the generation the reload in progress started, or null when it did not (`ctl reload` answers). */
  reloadDone: ((generation: number | null) => void) | null = null;
  readonly pool: WorkerPool;
  listeners: Listener[] = [];
  pidfile: Pidfile | null = null;
  exitCode: number = ExitCode.OK;
  stopGraceful = true;
  haltReason: string | null = null;
  /** USR2: the new master this one started, and the old master that started this one. */
  readonly succession: Succession;
  watcher: Watcher | null = null;
  /** --certfile & co., read and checked here; sent to each worker at boot. */
  tls: TlsMaterial | null = null;
  /** --user / --group for the workers. */
  identity: Identity | null = null;
  /** StatsD and Prometheus (--statsd-host, --metrics-bind). */
  metrics: ArbiterMetrics | null = null;
  /** `tsunicorn ctl` (--control-socket), and the path it takes once this master is promoted. */
  control: ControlServer | null = null;
  controlPath: string | null = null;
  /** Socket activation and Type=notify (platform/systemd.ts). */
  readonly systemd: Systemd;
  /** The app as process titles show it: `tsunicorn: master [app:handler]`. */
  readonly specText: string;
  /** Recent stretches when the loop ran late: not counted as workers' silence (liveness.ts). */
  stalls: Stall[] = [];
  /** -w auto: the worker count from CPU and memory limits (pool/auto-workers.ts). */
  auto: AutoWorkers | null = null;
  /** --shutdown-delay: TERM keeps the server serving this long before the drain. */
  readonly shutdownDelay = new ShutdownDelay();
  /** --diagnostics-dir (diagnostics/diagnostics-dir.ts). */
  diagnostics: Diagnostics | null = null;

  constructor(readonly input: ArbiterInput) {
    this.config = input.config;
    this.log = input.log;
    const parsed = parseAppSpec(this.settings.app ?? '');
    this.specText = this.settings.name ?? (parsed.ok ? formatAppSpec(parsed.spec) : (this.settings.app ?? ''));
    const target = AutoWorkers.target(this.settings, null);
    this.pool = new WorkerPool(target, `tsunicorn: worker [${this.specText}]`, this.log, this.reportHook);
    this.succession = new Succession(input.env);
    // Before anything forks: LISTEN_FDS & co. are removed from the environment here.
    this.systemd = Systemd.fromEnv(input.env, input.log);
    // Before anything forks: systemd's sockets are this process's alone; a USR2 successor learns them from us.
    removeListenFdsEnv(input.env);
    setActivatedEnv(input.env, this.systemd.activated);
  }

  get settings(): Settings {
    return this.config.settings;
  }

  get hooks(): Hooks {
    return this.config.hooks;
  }

  get stopping(): boolean {
    return this.state === ArbiterState.Stopping;
  }

  serverInfo(): ServerInfo {
    return this.pool.serverInfo(this.settings);
  }

  readonly reportHook = (name: HookName, err: unknown): void => {
    this.log.error(`Exception in hook ${name}: ${describeError(err)}`);
    if (err instanceof Error && err.stack) this.log.debug(err.stack);
  };

  logBug(err: unknown): void {
    this.log.critical(`Arbiter error: ${err instanceof Error ? err.stack : String(err)}`);
  }

  setTarget(n: number): void {
    const old = this.pool.target;
    this.pool.target = n;
    if (n !== old) callHookSync(this.hooks, 'nworkersChanged', this.reportHook, this.serverInfo(), n, old);
  }

  /** What the pool forks, boots and accounts workers with: the running configuration, which a HUP replaces. */
  /** --diagnostics-heap-snapshot for a timed-out worker, or null when it is off. */
  heapSnapshotTaker(): HeapSnapshotTaker | null {
    const diagnostics = this.diagnostics;
    if (!diagnostics || !takesHeapSnapshots(this.settings)) return null;
    return (w, timeoutMs) => diagnostics.heapSnapshot(w.pid, appPorts(w), timeoutMs);
  }

  poolContext(): PoolContext {
    return {
      settings: this.settings,
      hooks: this.hooks,
      tls: this.tls,
      identity: this.identity,
      listeners: this.listeners,
      metrics: this.metrics,
    };
  }

  socketPaths(): string[] {
    return this.listeners.flatMap((l) => (l.socketPath ? [l.socketPath] : []));
  }

  /** --health-path answers 503 in this worker from now on. */
  tellStopping(workerId: number): void {
    const w = this.pool.get(workerId);
    if (w && this.settings.healthPath) sendToWorker(w, { t: 'server-stopping' });
  }
}
