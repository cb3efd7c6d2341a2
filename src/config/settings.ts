/**
 * The settings table: every setting is declared here once. The CLI (yargs),
 * config-file validation, --help, --print-config, the `Settings` type and
 * docs/settings.md are all derived from it; nothing else lists settings.
 */
import { compileAccessFormat } from '../log/access-log.js';
import { parseAppSpec } from './app-spec.js';
import { parseBind } from './bind-address.js';
import { STATSD_DEFAULT_PORT, parseHostPort } from '../metrics/host-port.js';
import { controlSocketKind } from './control-path.js';
import {
  type Kind,
  type Section,
  addressList,
  bool,
  choice,
  decimal,
  headerMap,
  int,
  intOrAuto,
  list,
  onlyOne,
  optionalStr,
  seconds,
  umask,
} from './setting-types.js';

export interface SettingSpec<T> {
  kind: Kind<T>;
  section: Section;
  /** Command-line spellings, Gunicorn's where Gunicorn has the setting. Empty = config file only. */
  flags: readonly string[];
  /** Default, computed from the environment where Gunicorn does so ($PORT, $WEB_CONCURRENCY). */
  default: (env: NodeJS.ProcessEnv) => T;
  /** How the default reads in docs, when it depends on the environment. */
  defaultDoc?: string;
  /** Only meaningful on the command line: not accepted in a config file. */
  cliOnly?: boolean;
  /** Read by the arbiter only at start: a HUP keeps the running value (start-only.ts). */
  startOnly?: boolean;
  doc: string;
}

const spec = <T>(s: SettingSpec<T>): SettingSpec<T> => s;

const envInt = (env: NodeJS.ProcessEnv, name: string, fallback: number): number => {
  const raw = env[name];
  return raw !== undefined && /^\d+$/.test(raw) && Number(raw) >= 1 ? Number(raw) : fallback;
};

/** The most workers --workers (and `ctl scale`, and -w auto) allows. */
export const MAX_WORKERS = 1024;

/** Peers trusted by default to send forwarding headers and PROXY protocol headers. */
const LOOPBACK_PEERS = ['127.0.0.1', '::1'];

export const SETTINGS = {
  // ── Config ──────────────────────────────────────────────────────────────
  config: spec({
    kind: optionalStr('PATH'),
    section: 'Config',
    flags: ['-c', '--config'],
    default: () => null,
    cliOnly: true,
    doc:
      'Config file to load. Without it, tsunicorn looks in the current directory for ' +
      '`tsunicorn.config.{ts,mts,cts,mjs,js,cjs,json}` and for a `"tsunicorn"` key in package.json.',
  }),
  app: spec({
    kind: optionalStr('MODULE[:EXPORT]', (raw) => {
      const r = parseAppSpec(raw);
      return r.ok ? undefined : r.problem;
    }),
    section: 'Config',
    flags: [],
    default: () => null,
    doc:
      'The application, as `MODULE[:EXPORT]`; the positional argument on the command line. MODULE is a path (with or ' +
      "without .js .mjs .cjs .ts) or a package name; EXPORT defaults to the default export; `EXPORT('arg', 1)` " +
      'calls a factory.',
  }),
  printConfig: spec({
    kind: bool(),
    section: 'Config',
    flags: ['--print-config'],
    default: () => false,
    cliOnly: true,
    doc: 'Print the resolved configuration, one `key = value` line per setting, and exit.',
  }),
  checkConfig: spec({
    kind: bool(),
    section: 'Config',
    flags: ['--check-config'],
    default: () => false,
    cliOnly: true,
    doc: 'Load the configuration and the app, then exit 0, or exit with the error that would stop a start.',
  }),

  // ── Server socket ───────────────────────────────────────────────────────
  bind: spec({
    kind: list((s) => {
      const r = parseBind(s);
      return r.ok ? undefined : r.problem;
    }, 'ADDRESS'),
    section: 'Server socket',
    flags: ['-b', '--bind'],
    default: (env) => (env.PORT && /^\d+$/.test(env.PORT) ? [`0.0.0.0:${env.PORT}`] : ['127.0.0.1:8000']),
    defaultDoc: "`['127.0.0.1:8000']`, or `['0.0.0.0:$PORT']` when `$PORT` is set",
    doc:
      'Address to listen on; repeat for several. `HOST:PORT`, `[IPV6]:PORT`, `unix:PATH` or `fd://N`. ' +
      'Port 0 picks a free port (the real one is logged).',
  }),
  backlog: spec({
    kind: int(1, 65535),
    section: 'Server socket',
    flags: ['--backlog'],
    default: () => 2048,
    doc: 'Maximum number of pending connections the kernel queues on each listener.',
  }),
  reusePort: spec({
    kind: bool(),
    section: 'Server socket',
    flags: ['--reuse-port'],
    default: () => false,
    doc:
      'Set SO_REUSEPORT on the TCP listeners this arbiter binds, so that a second arbiter (another ' +
      'release, blue/green) can bind and serve the same port side by side; the kernel spreads new connections ' +
      'over both, and stopping one leaves the other serving. Both must set it, and run as the same user. Needs ' +
      'Node.js 22.12 or newer. Unix sockets and inherited descriptors are not affected.',
  }),

  // ── Worker processes ────────────────────────────────────────────────────
  workers: spec({
    kind: intOrAuto(1, MAX_WORKERS),
    section: 'Worker processes',
    flags: ['-w', '--workers'],
    default: (env): number | 'auto' =>
      env.WEB_CONCURRENCY?.trim().toLowerCase() === 'auto' ? 'auto' : envInt(env, 'WEB_CONCURRENCY', 1),
    defaultDoc: '`1`, or `$WEB_CONCURRENCY` when set (a number or `auto`)',
    doc:
      'Number of worker processes. `auto`: as many as CPUs the process may use (its CPU affinity and its cgroup ' +
      '`cpu.max` quota, rounded up), and, under a cgroup memory limit, no more than fit beside one booted worker’s ' +
      'measured memory; the decision and its inputs are logged at start. See docs/workers.md#sizing-with--w-auto.',
  }),
  workerClass: spec({
    kind: choice(['async', 'sync'] as const),
    section: 'Worker processes',
    flags: ['-k', '--worker-class'],
    default: () => 'async' as const,
    doc:
      '`async`: each worker serves many connections concurrently on its event loop, with keep-alive. ' +
      '`sync`: each worker serves one request at a time, with `Connection: close`, as Gunicorn’s sync worker; ' +
      'a new connection always goes to an idle worker. See docs/workers.md.',
  }),
  threads: spec({
    kind: onlyOne(
      'tsunicorn workers run one JavaScript thread each: use -k async for concurrent requests per worker, -w for ' +
        'parallelism',
    ),
    section: 'Worker processes',
    flags: ['--threads'],
    default: () => 1,
    doc:
      'Accepted for Gunicorn compatibility with the value 1 only. A Node worker runs one JavaScript thread; ' +
      'for what Gunicorn’s threads give (concurrent requests per worker), use `-k async`.',
  }),
  workerConnections: spec({
    kind: int(1),
    section: 'Worker processes',
    flags: ['--worker-connections'],
    default: () => 1000,
    doc:
      'Most connections one async worker holds at once. At the limit the worker stops accepting; further ' +
      'connections wait in the kernel backlog for any worker with room. None is refused.',
  }),
  timeout: spec({
    kind: seconds(0),
    section: 'Worker processes',
    flags: ['-t', '--timeout'],
    default: () => 30,
    doc:
      'A worker whose event loop is blocked for this many seconds is killed and replaced (its JavaScript stack is ' +
      'logged). For sync workers it is also a request deadline: a request running longer gets a 504 and its worker ' +
      'is replaced. 0 disables.',
  }),
  stackCapture: spec({
    kind: bool(),
    section: 'Worker processes',
    flags: ['--stack-capture'],
    default: () => true,
    doc:
      'Before killing a worker blocked past --timeout, read and log its JavaScript stack: SIGUSR1 opens its ' +
      'inspector on ' +
      '127.0.0.1 for the fraction of a second this takes, and any local user could attach meanwhile (see ' +
      'docs/security.md). `--no-stack-capture` kills hung workers without opening it.',
  }),
  gracefulTimeout: spec({
    kind: seconds(0),
    section: 'Worker processes',
    flags: ['--graceful-timeout'],
    default: () => 30,
    doc: 'How long a gracefully stopping worker may finish in-flight requests before it is killed.',
  }),
  keepAlive: spec({
    kind: seconds(0),
    section: 'Worker processes',
    flags: ['--keep-alive'],
    default: () => 5,
    doc:
      'Seconds an idle keep-alive connection is kept open, advertised to clients in `Keep-Alive: timeout=N`. ' +
      '0 disables keep-alive. (Gunicorn defaults to 2; 5 is Node’s default.)',
  }),

  maxRequests: spec({
    kind: int(0),
    section: 'Worker processes',
    flags: ['--max-requests'],
    default: () => 0,
    doc:
      'A worker that has served this many requests stops gracefully and is replaced: a limit on leaks. ' +
      '0 disables.',
  }),
  maxRequestsJitter: spec({
    kind: int(0),
    section: 'Worker processes',
    flags: ['--max-requests-jitter'],
    default: () => 0,
    doc: 'Adds a random 0..N to each worker’s --max-requests, so workers do not all restart at once.',
  }),
  maxWorkerMemory: spec({
    kind: int(0),
    section: 'Worker processes',
    flags: ['--max-worker-memory'],
    default: () => 0,
    doc:
      'A worker whose resident memory stays above this many MB (for 3 consecutive heartbeats) stops ' +
      'gracefully and is replaced. 0 disables.',
  }),

  maxWorkerHeap: spec({
    kind: int(0, 99),
    section: 'Worker processes',
    flags: ['--max-worker-heap'],
    default: () => 0,
    doc:
      'A worker whose V8 heap in use stays above this percentage of its heap limit (V8’s `heap_size_limit`: ' +
      '`--max-old-space-size` and the defaults) for 3 consecutive heartbeats stops gracefully and is replaced, ' +
      'before V8 would abort it with "JavaScript heap out of memory" mid-request. 0 disables.',
  }),
  diagnosticsDir: spec({
    kind: optionalStr('DIR'),
    section: 'Worker processes',
    flags: ['--diagnostics-dir'],
    default: () => null,
    doc:
      'Write evidence here before a worker is recycled for memory (--max-worker-memory, --max-worker-heap): its Node ' +
      'diagnostic report (`process.report`: heap spaces, stacks, handles, resource usage), as ' +
      '`tsunicorn-report-PID-TIME.json`; and for a worker killed at --timeout, whose event loop is blocked, the ' +
      'JavaScript stack read over the inspector, as `tsunicorn-timeout-PID-TIME.txt`. Files are mode 0600, created ' +
      'exclusively by the arbiter; the directory is created 0700 if missing and must not be writable by others. ' +
      'See docs/workers.md.',
  }),
  diagnosticsKeep: spec({
    kind: int(1, 10000),
    section: 'Worker processes',
    flags: ['--diagnostics-keep'],
    default: () => 10,
    doc: 'Most files kept in --diagnostics-dir; the oldest are deleted beyond it.',
  }),
  diagnosticsHeapSnapshot: spec({
    kind: bool(),
    section: 'Worker processes',
    flags: ['--diagnostics-heap-snapshot'],
    default: () => false,
    doc:
      'With --diagnostics-dir, also write a V8 heap snapshot of a worker recycled for memory or killed at ' +
      '--timeout, as `tsunicorn-heap-PID-TIME.heapsnapshot` (open it in Chrome DevTools, Memory tab). The arbiter ' +
      "takes it over the worker's inspector, so a blocked worker is covered too. Taking it stops the worker's " +
      'JavaScript for about a second per 100 MB of heap and needs memory of about the same size again; the file ' +
      'is about twice the heap in use. Bounded by --graceful-timeout. It opens the inspector as --stack-capture ' +
      'does, so `--no-stack-capture` turns it off.',
  }),
  healthPath: spec({
    kind: optionalStr('PATH', (s) => (/^\/[^\s?#]*$/.test(s) ? undefined : 'a path from /, without spaces, ? or #')),
    section: 'Worker processes',
    flags: ['--health-path'],
    default: () => null,
    doc:
      'A path the workers answer themselves, before the app (and outside the access log and metrics), for ' +
      'readiness probes and load balancers: 200 while the server serves, 503 from the moment it is told to stop ' +
      '(TERM, and through --shutdown-delay) and in a worker not yet listening on every --bind. A worker being ' +
      'replaced by a reload or a recycle keeps answering 200: the server as a whole still serves. ' +
      'See docs/deploy/kubernetes.md.',
  }),
  shutdownDelay: spec({
    kind: seconds(0),
    section: 'Worker processes',
    flags: ['--shutdown-delay'],
    default: () => 0,
    doc:
      'On TERM, keep serving normally for this many seconds, with --health-path answering 503, so that load ' +
      'balancers and Kubernetes endpoints stop sending before the workers stop accepting; then stop gracefully ' +
      '(--graceful-timeout counts from there). INT or QUIT during the delay stops at once; a second TERM changes ' +
      'nothing. Replaces a preStop sleep.',
  }),

  // ── Server mechanics ────────────────────────────────────────────────────
  reload: spec({
    kind: bool(),
    section: 'Server mechanics',
    flags: ['--reload'],
    default: () => false,
    doc:
      'Development: replace the workers (as on HUP, with no dropped request) when a file under the app’s ' +
      'directory changes (node_modules, dot-directories and the server’s own logs, pidfile and sockets excepted).',
  }),
  reloadExtraFile: spec({
    kind: list(undefined, 'FILE'),
    section: 'Server mechanics',
    flags: ['--reload-extra-file'],
    default: () => [],
    doc: 'With --reload, also watch this file or directory; repeat for several.',
  }),
  reloadCanary: spec({
    kind: seconds(0),
    section: 'Server mechanics',
    flags: ['--reload-canary'],
    default: () => 0,
    doc:
      'On HUP or `ctl reload`, start one worker of the new generation first and let it serve beside the old ' +
      'ones for this many seconds. If it crashes, or answers clearly worse than the old generation (see the ' +
      'next settings), the reload is rolled back: the canary retires and the old workers keep serving. ' +
      'Workers then put status and latency counts on their heartbeats. 0 disables.',
  }),
  reloadCanaryMax5xx: spec({
    kind: decimal(0, 1),
    section: 'Server mechanics',
    flags: ['--reload-canary-max-5xx'],
    default: () => 0.05,
    doc:
      "Roll back when the canary's share of 5xx answers exceeds the old generation's by more than this " +
      '(0.05: five percentage points, above the background errors of a healthy app, far below a broken deploy).',
  }),
  reloadCanaryMaxP99Ratio: spec({
    kind: decimal(1),
    section: 'Server mechanics',
    flags: ['--reload-canary-max-p99-ratio'],
    default: () => 2,
    doc:
      "Roll back when the canary's p99 latency exceeds the old generation's times this and by more than 10 ms " +
      '(a p99 over a few seconds moves by tens of percent on its own; twice as slow is a regression).',
  }),
  reloadCanaryMinRequests: spec({
    kind: int(1),
    section: 'Server mechanics',
    flags: ['--reload-canary-min-requests'],
    default: () => 20,
    doc:
      'Judge 5xx and latency only when the canary and the old generation each answered at least this many ' +
      'requests in the window; with fewer, only a crash rolls back (and the log says so).',
  }),
  daemon: spec({
    kind: bool(),
    section: 'Server mechanics',
    flags: ['-D', '--daemon'],
    default: () => false,
    doc:
      'Detach from the terminal and run in the background. Use it only without a supervisor; ' +
      'systemd, supervisord, Docker and Kubernetes want the process in the foreground.',
  }),
  chdir: spec({
    kind: optionalStr('DIR'),
    section: 'Server mechanics',
    flags: ['--chdir'],
    default: () => null,
    doc: 'Change to this directory before loading the app.',
  }),
  env: spec({
    kind: list((s) => (/^[A-Za-z_][A-Za-z0-9_]*=/.test(s) ? undefined : 'KEY=VALUE'), 'KEY=VALUE'),
    section: 'Server mechanics',
    flags: ['-e', '--env'],
    default: () => [],
    doc: 'Set an environment variable in the workers; repeat for several.',
  }),
  pid: spec({
    kind: optionalStr('FILE'),
    section: 'Server mechanics',
    flags: ['-p', '--pid'],
    default: () => null,
    doc: 'Write the arbiter’s pid to this file (atomically, after binding). Removed at exit.',
  }),
  interface: spec({
    kind: choice(['auto', 'node', 'fetch'] as const),
    section: 'Server mechanics',
    flags: ['--interface'],
    default: () => 'auto' as const,
    doc:
      '`node`: a request listener `(req, res)`. `fetch`: `(Request) => Response` or an object with `.fetch`. ' +
      '`auto` detects it from the export.',
  }),
  fetchFastResponse: spec({
    kind: bool(),
    section: 'Server mechanics',
    flags: ['--fetch-fast-response'],
    default: () => true,
    doc:
      'For fetch-interface apps: make the global `Response`, in the workers, a lightweight class that builds Node’s ' +
      'Response only when the app reads one back (its body stream, `text()`, `clone()`, …), and write a string or ' +
      'bytes body straight to the socket. It is a `Response` to the app (`instanceof` holds for both). On Node 20 ' +
      'it cuts the CPU of a hello-world request by more than half. `--no-fetch-fast-response` keeps Node’s `Response`.',
  }),
  user: spec({
    kind: optionalStr('USER'),
    section: 'Server mechanics',
    flags: ['-u', '--user'],
    default: () => null,
    doc:
      'Run the workers as this user (a name or a numeric uid). The arbiter keeps its own user (root, to bind ' +
      'ports below 1024) and never runs app code. Unset: workers run as the arbiter’s user. See docs/security.md.',
  }),
  group: spec({
    kind: optionalStr('GROUP'),
    section: 'Server mechanics',
    flags: ['-g', '--group'],
    default: () => null,
    doc: 'Run the workers with this group (a name or a numeric gid). Unset with --user: that user’s primary group.',
  }),
  umask: spec({
    kind: umask(),
    section: 'Server mechanics',
    flags: ['-m', '--umask'],
    default: () => null,
    doc:
      'File-mode mask of the arbiter and workers, e.g. `007` or `0o22`: unix socket files get mode `0777 & ~umask`. ' +
      'Unset keeps the inherited umask (Gunicorn sets 0).',
  }),

  // ── Security ────────────────────────────────────────────────────────────
  limitRequestLine: spec({
    kind: int(0, 1048576),
    section: 'Security',
    flags: ['--limit-request-line'],
    default: () => 4094,
    doc:
      'Longest request line (method, target and version) in bytes; a longer one is answered 414 and the connection ' +
      'closed. 0 means no limit of its own.',
  }),
  limitRequestFields: spec({
    kind: int(0, 32768),
    section: 'Security',
    flags: ['--limit-request-fields'],
    default: () => 100,
    doc:
      'Most header fields in a request; more are answered 431 and the connection closed. 0 means no limit of its ' +
      'own.',
  }),
  limitRequestFieldSize: spec({
    kind: int(0, 1048576),
    section: 'Security',
    flags: ['--limit-request-field_size', '--limit-request-field-size'],
    default: () => 8190,
    doc:
      'Largest header field (`Name: value`) in bytes; a larger one is answered 431 and the connection closed. ' +
      '0 means no limit of its own. The whole request head is also bounded by what the three limits allow together.',
  }),
  headersTimeout: spec({
    kind: seconds(0),
    section: 'Security',
    flags: ['--headers-timeout'],
    default: () => 10,
    doc:
      'Seconds a client has to send a complete request head, from its first byte (or from connecting). A slower ' +
      'client (slowloris) is answered 408 and disconnected. 0 disables.',
  }),
  requestReadTimeout: spec({
    kind: seconds(0),
    section: 'Security',
    flags: ['--request-read-timeout'],
    default: () => 300,
    doc:
      'Seconds a client has to send a whole request, head and body, from its first byte: bounds stalled and ' +
      'trickled uploads. Past it the client gets 408 (if no response was started) and is disconnected. 0 disables.',
  }),
  forwardedAllowIps: spec({
    kind: addressList(),
    section: 'Security',
    flags: ['--forwarded-allow-ips'],
    default: (env) =>
      env.FORWARDED_ALLOW_IPS
        ? env.FORWARDED_ALLOW_IPS.split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : [...LOOPBACK_PEERS],
    defaultDoc: '`127.0.0.1,::1`, or `$FORWARDED_ALLOW_IPS` when set',
    doc:
      'Front-end proxies trusted to set `X-Forwarded-For` and the --secure-scheme-headers: comma-separated addresses ' +
      'and CIDR networks, or `*` for any peer. Unix-socket peers are always trusted, as in Gunicorn. See ' +
      'docs/security.md.',
  }),
  secureSchemeHeaders: spec({
    kind: headerMap(),
    section: 'Security',
    flags: ['--secure-scheme-headers'],
    default: () => ({ 'X-FORWARDED-PROTOCOL': 'ssl', 'X-FORWARDED-PROTO': 'https', 'X-FORWARDED-SSL': 'on' }),
    doc:
      'Headers a trusted proxy sets to say the request came over HTTPS, with the value that means it: ' +
      "`NAME=VALUE,NAME=VALUE` on the command line (`''` for none), an object in a config file. Present with another " +
      'value, the scheme is `http`; several present and disagreeing, the request gets 400.',
  }),
  proxyProtocol: spec({
    kind: bool(),
    section: 'Security',
    flags: ['--proxy-protocol'],
    default: () => false,
    doc:
      'Accept a PROXY protocol header (v1 text or v2 binary) at the start of each TCP connection, from the peers in ' +
      '--proxy-allow-from; the address it carries becomes the client’s. Connections without one are served as they ' +
      'are.',
  }),
  proxyAllowIps: spec({
    kind: addressList(),
    section: 'Security',
    flags: ['--proxy-allow-from'],
    default: () => [...LOOPBACK_PEERS],
    doc:
      'Peers allowed to send a PROXY protocol header: addresses and CIDR networks, or `*`. A header from any other ' +
      'peer is answered 400.',
  }),

  // ── SSL ─────────────────────────────────────────────────────────────────
  certfile: spec({
    kind: optionalStr('FILE'),
    section: 'SSL',
    flags: ['--certfile'],
    default: () => null,
    doc:
      'PEM certificate (chain) file. With it every listener serves HTTPS. Read by the arbiter at start and on HUP ' +
      '(so a HUP picks up a renewed certificate); one that does not load stops the start with exit code 2.',
  }),
  keyfile: spec({
    kind: optionalStr('FILE'),
    section: 'SSL',
    flags: ['--keyfile'],
    default: () => null,
    doc:
      'PEM private key file for --certfile. Unset: the key is read from the certificate file. Read by the arbiter, ' +
      'so it may be readable by root only.',
  }),
  caCerts: spec({
    kind: optionalStr('FILE'),
    section: 'SSL',
    flags: ['--ca-certs'],
    default: () => null,
    doc: 'PEM file of CA certificates that client certificates are verified against (with --cert-reqs).',
  }),
  certReqs: spec({
    kind: choice(['none', 'optional', 'required'] as const, {
      '0': 'none',
      '1': 'optional',
      '2': 'required',
      cert_none: 'none',
      cert_optional: 'optional',
      cert_required: 'required',
    }),
    section: 'SSL',
    flags: ['--cert-reqs'],
    default: () => 'none' as const,
    doc:
      'Client certificates: `none` (not asked for), `optional` (asked for, verified against --ca-certs when given), ' +
      '`required` (a verified one is needed to connect). Gunicorn’s 0, 1, 2 are accepted.',
  }),
  ciphers: spec({
    kind: optionalStr('CIPHERS'),
    section: 'SSL',
    flags: ['--ciphers'],
    default: () => null,
    doc: 'OpenSSL cipher list for TLS 1.2 and older, e.g. `ECDHE+AESGCM:!aNULL`. Unset: Node’s default list.',
  }),

  // ── Logging ─────────────────────────────────────────────────────────────
  errorLogfile: spec({
    kind: optionalStr('FILE'),
    section: 'Logging',
    flags: ['--error-logfile', '--log-file'],
    default: () => '-',
    doc: 'Where the error log goes: `-` is stderr, anything else a file (appended to; reopened on USR1).',
  }),
  logLevel: spec({
    kind: choice(['debug', 'info', 'warning', 'error', 'critical'] as const, { warn: 'warning' }),
    section: 'Logging',
    flags: ['--log-level'],
    default: () => 'info' as const,
    doc: 'Error-log verbosity. At `debug`, errors carry their stack.',
  }),
  logFormat: spec({
    kind: choice(['text', 'json'] as const),
    section: 'Logging',
    flags: ['--log-format'],
    default: () => 'text' as const,
    doc:
      '`text`: Gunicorn’s line shapes. `json`: one JSON object per line, for the error log ' +
      '(time, level, pid, msg and fields) and the access log (named fields).',
  }),
  accessLogfile: spec({
    kind: optionalStr('FILE'),
    section: 'Logging',
    flags: ['--access-logfile'],
    default: () => null,
    doc: 'Access log: `-` is stdout, anything else a file (appended to; reopened on USR1). Off by default.',
  }),
  accessLogformat: spec({
    kind: optionalStr('FORMAT', (f) => {
      try {
        compileAccessFormat(f);
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    }),
    section: 'Logging',
    flags: ['--access-logformat'],
    default: () => '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
    doc:
      'Access-log line format, with Gunicorn’s atoms (see docs/logging.md): `%(h)s` remote address, ' +
      '`%(r)s` request line, `%(s)s` status, `%(M)s` milliseconds, `%({x-request-id}i)s` a request header, …',
  }),
  captureOutput: spec({
    kind: bool(),
    section: 'Logging',
    flags: ['--capture-output'],
    default: () => false,
    doc: 'Send what workers write to stdout and stderr (console.log, …) to the error log, line by line.',
  }),

  // ── Metrics and control ─────────────────────────────────────────────────
  statsdHost: spec({
    kind: optionalStr('HOST:PORT', (s) => {
      const r = parseHostPort(s, STATSD_DEFAULT_PORT);
      return r.ok ? undefined : r.problem;
    }),
    section: 'Metrics and control',
    flags: ['--statsd-host'],
    startOnly: true,
    default: () => null,
    doc:
      'Send StatsD metrics over UDP to this address (port 8125 when omitted), with Gunicorn’s names under ' +
      '`tsunicorn.`: `requests`, `request.duration` (ms), `request.status.NNN`, `workers` and ' +
      '`log.critical|error|warning|exception`. Off by default. Read at start; HUP keeps it. See docs/metrics.md.',
  }),
  statsdPrefix: spec({
    kind: optionalStr('PREFIX', (s) => (/^[^\s:|@#]+$/.test(s) ? undefined : 'a prefix without spaces, :, |, @ or #')),
    section: 'Metrics and control',
    flags: ['--statsd-prefix'],
    startOnly: true,
    default: () => null,
    doc: 'Prefix of every StatsD metric name, joined with a dot: `myapp` gives `myapp.tsunicorn.requests`.',
  }),
  metricsBind: spec({
    kind: optionalStr('HOST:PORT', (s) => {
      const r = parseHostPort(s);
      return r.ok ? undefined : r.problem;
    }),
    section: 'Metrics and control',
    flags: ['--metrics-bind'],
    startOnly: true,
    default: () => null,
    doc:
      'Serve Prometheus metrics at `http://HOST:PORT/metrics` from the arbiter, aggregated across workers ' +
      '(requests by status, request duration, in-flight requests, workers, restarts by reason, worker memory). ' +
      'Off by default. Read at start; HUP keeps it. See docs/metrics.md.',
  }),
  controlSocket: spec({
    kind: controlSocketKind(),
    section: 'Metrics and control',
    flags: ['--control-socket'],
    startOnly: true,
    default: () => null,
    defaultDoc:
      '`auto`: `tsunicorn-HASH.sock` in `$XDG_RUNTIME_DIR`, else in a directory `tsunicorn-UID` (0700) of the temp ' +
      'directory',
    doc:
      'Unix socket (mode 0600) on which the arbiter takes `tsunicorn ctl` commands: status, reload, scale, stop. ' +
      'By default its name is derived from the working directory, the first --bind and --name, so `tsunicorn ctl` ' +
      'started with the same directory and flags finds it. `--no-control-socket` (or `false` in a config file) ' +
      'disables it. Read at start; HUP keeps it.',
  }),

  // ── Process naming ──────────────────────────────────────────────────────
  name: spec({
    kind: optionalStr('NAME'),
    section: 'Process naming',
    flags: ['-n', '--name'],
    default: () => null,
    doc: 'Process title suffix: `tsunicorn: master [NAME]`. Defaults to the app spec.',
  }),
} as const;

export type SettingKey = keyof typeof SETTINGS;
type ValueOf<S> = S extends SettingSpec<infer T> ? T : never;

/** The fully resolved configuration: every setting has a value. */
export type Settings = { -readonly [K in SettingKey]: ValueOf<(typeof SETTINGS)[K]> };

/** Keys a config file may set. */
export type FileSettingKey = {
  [K in SettingKey]: (typeof SETTINGS)[K] extends { cliOnly: true } ? never : K;
}[SettingKey];

export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];

export function settingSpec(key: SettingKey): SettingSpec<unknown> {
  return SETTINGS[key] as SettingSpec<unknown>;
}

export function defaults(env: NodeJS.ProcessEnv): Settings {
  const out: Record<string, unknown> = {};
  for (const key of SETTING_KEYS) out[key] = settingSpec(key).default(env);
  return out as Settings;
}

/** The long flag of a setting, for messages: `--worker-connections`, or the key for file-only settings. */
export function flagOf(key: SettingKey): string {
  const flags = settingSpec(key).flags;
  return flags.find((f) => f.startsWith('--')) ?? key;
}

// Checked here so that a mistake in the table fails at import, not in a user's hands.
for (const key of SETTING_KEYS) {
  const s = settingSpec(key);
  const parsed = s.kind.parse(s.default({}));
  if (!parsed.ok) throw new Error(`settings table: default of ${key} is invalid (${parsed.allowed})`);
}
