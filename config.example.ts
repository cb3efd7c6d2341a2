/**
 * An example tsunicorn config file with every setting at its default.
 * Copy it to `tsunicorn.config.ts` in your project (found automatically) or
 * pass it with `-c`. Values here are overridden by TSUNICORN_CMD_ARGS and the
 * command line. Full reference: docs/settings.md.
 */
import { defineConfig } from 'tsunicorn';

export default defineConfig({
  // ── The app ──────────────────────────────────────────────────────────────
  // MODULE[:EXPORT]; the command line's positional argument wins over this.
  // app: 'dist/server.js:app',
  app: null,

  // ── Server socket ────────────────────────────────────────────────────────
  // Where to listen; several are allowed: 'HOST:PORT', '[::1]:PORT', 'unix:/run/app.sock', 'fd://3'.
  // Defaults to 0.0.0.0:$PORT when $PORT is set.
  bind: ['127.0.0.1:8000'],
  // Pending connections the kernel queues per listener.
  backlog: 2048,
  // SO_REUSEPORT, so a second arbiter (blue/green) can serve the same port; needs Node 22.12+.
  reusePort: false,

  // ── Worker processes ─────────────────────────────────────────────────────
  // Number of workers; defaults to $WEB_CONCURRENCY when set. 'auto': one per CPU the process may use
  // (affinity, cgroup CPU quota), and no more than fit in a cgroup memory limit.
  workers: 1,
  // 'async': many concurrent requests per worker, keep-alive. 'sync': one request at a time, as Gunicorn's sync worker.
  workerClass: 'async',
  // Gunicorn compatibility: only 1 (a Node worker runs one JavaScript thread; use 'async' for concurrency).
  threads: 1,
  // Most connections one worker holds at once; beyond it, connections wait for a worker with room.
  workerConnections: 1000,
  // Seconds a worker may be silent before it is killed and replaced (0 = never).
  timeout: 30,
  // Log a hung worker's JavaScript stack before killing it (opens its inspector on 127.0.0.1 briefly).
  stackCapture: true,
  // Seconds a stopping worker may spend finishing in-flight requests.
  gracefulTimeout: 30,
  // Seconds an idle keep-alive connection stays open (0 = close after every response).
  keepAlive: 5,
  // Recycle a worker after this many requests (0 = never), plus a random 0..jitter so they do not restart together.
  maxRequests: 0,
  maxRequestsJitter: 0,
  // Recycle a worker whose resident memory stays above this many MB (0 = never).
  maxWorkerMemory: 0,
  // Recycle a worker whose V8 heap in use stays above this % of its heap limit (0 = never).
  maxWorkerHeap: 0,
  // Write a worker's diagnostic report (memory recycle) or stack (timeout) here; keep this many files.
  diagnosticsDir: null,
  diagnosticsKeep: 10,
  // Also write a V8 heap snapshot of such a worker (opens its inspector, pauses it while written).
  diagnosticsHeapSnapshot: false,
  // A path the workers answer before the app, for readiness probes: 200 while serving, 503 once stopping.
  healthPath: null,
  // On TERM, serve on this many seconds (the health path answering 503) before stopping gracefully.
  shutdownDelay: 0,

  // ── Server mechanics ─────────────────────────────────────────────────────
  // Development: roll the workers over when a file under the working directory changes.
  reload: false,
  reloadExtraFile: [],
  // On HUP, one new worker serves first for this many seconds; a crash, more 5xx or a slower p99 rolls back.
  reloadCanary: 0,
  reloadCanaryMax5xx: 0.05,
  reloadCanaryMaxP99Ratio: 2,
  reloadCanaryMinRequests: 20,
  // Detach from the terminal; not for systemd, supervisord, Docker or Kubernetes.
  daemon: false,
  // Directory to change to before loading the app.
  chdir: null,
  // Extra environment for the workers, as KEY=VALUE.
  env: [],
  // Pidfile of the arbiter, written after binding and removed at exit.
  pid: null,
  // 'auto' detects a request listener (req, res) or a fetch handler (Request) => Response.
  interface: 'auto',
  // fetch apps: a lightweight global Response, written straight to the socket (false: Node's own Response).
  fetchFastResponse: true,
  // Run the workers as this user and group (names or ids); the arbiter stays root to bind port 80. See docs/security.md.
  user: null,
  group: null,
  // File-mode mask, e.g. '007' (unix socket files get 0777 & ~umask); null keeps the inherited one.
  umask: null,

  // ── Security ─────────────────────────────────────────────────────────────
  // Gunicorn's request limits; beyond them: 414 (line) or 431 (fields), and a close. 0 = no limit of its own.
  limitRequestLine: 4094,
  limitRequestFields: 100,
  limitRequestFieldSize: 8190,
  // Seconds a client has for a whole request head (slowloris: 408), and for head and body (stalled uploads).
  headersTimeout: 10,
  requestReadTimeout: 300,
  // Proxies trusted to set X-Forwarded-For and the scheme headers ('*' = any); defaults to $FORWARDED_ALLOW_IPS when set.
  forwardedAllowIps: ['127.0.0.1', '::1'],
  // Header => value that means the request came over HTTPS, believed only from forwardedAllowIps.
  secureSchemeHeaders: { 'X-FORWARDED-PROTOCOL': 'ssl', 'X-FORWARDED-PROTO': 'https', 'X-FORWARDED-SSL': 'on' },
  // Accept a PROXY protocol v1/v2 header from these peers (HAProxy `send-proxy`, AWS NLB).
  proxyProtocol: false,
  proxyAllowIps: ['127.0.0.1', '::1'],

  // ── SSL ──────────────────────────────────────────────────────────────────
  // PEM files; with certfile every listener serves HTTPS. Read by the arbiter (at start and on HUP).
  certfile: null,
  keyfile: null,
  // CA bundle for client certificates; certReqs 'none' | 'optional' | 'required'.
  caCerts: null,
  certReqs: 'none',
  // OpenSSL cipher list (TLS 1.2 and older); null is Node's default.
  ciphers: null,

  // ── Logging ──────────────────────────────────────────────────────────────
  // '-' is stderr; a file is appended to and reopened on USR1.
  errorLogfile: '-',
  logLevel: 'info',
  // 'text' (Gunicorn's lines) or 'json' (one object per line, error and access log alike).
  logFormat: 'text',
  // Access log: '-' is stdout, null is off.
  accessLogfile: null,
  accessLogformat: '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
  // Send what workers print (console.log, …) to the error log.
  captureOutput: false,

  // ── Metrics and control ──────────────────────────────────────────────────
  // StatsD over UDP, 'HOST:PORT' (port 8125 if omitted); null is off. Names: tsunicorn.requests, … (docs/metrics.md).
  statsdHost: null,
  // Prepended to every StatsD name with a dot: 'myapp' gives myapp.tsunicorn.requests.
  statsdPrefix: null,
  // Prometheus: 'HOST:PORT' where the arbiter serves GET /metrics; null is off.
  metricsBind: null,
  // Unix socket for `tsunicorn ctl`: null picks tsunicorn-HASH.sock in $XDG_RUNTIME_DIR or the temp directory; false is off.
  controlSocket: null,

  // ── Process naming ───────────────────────────────────────────────────────
  // Shown in ps as `tsunicorn: master [NAME]`; defaults to the app spec.
  name: null,

  // ── Hooks ────────────────────────────────────────────────────────────────
  // Functions called at Gunicorn's points. A hook that throws is logged with its name and changes nothing else.
  // Arbiter hooks get `server` ({ pid, settings, generation, workers }); worker hooks get `worker` ({ pid, generation }).
  onStarting(server) {
    console.log(`starting ${server.settings.app} with ${server.workers} workers`);
  },
  whenReady(server) {
    console.log(`ready: pid ${server.pid}`);
  },
  nworkersChanged(_server, newValue, oldValue) {
    console.log(`workers: ${oldValue} -> ${newValue}`);
  },
  // In each worker, after the app loaded and before it listens: open per-worker resources.
  async postWorkerInit(worker) {
    console.log(`worker ${worker.pid} initialised`);
  },
  // In each worker, as it exits after a graceful stop: close them.
  async workerExit(worker) {
    console.log(`worker ${worker.pid} exiting`);
  },
  workerAbort(_server, worker) {
    console.error(`worker ${worker.pid} timed out in:\n${worker.stack ?? '(stack unavailable)'}`);
  },
  // With certfile: adjust the TLS server options (or return new ones). Runs in the arbiter, which checks
  // the result before forking, and in each worker.
  sslContext(_settings, options) {
    options.minVersion = 'TLSv1.2';
  },
});
