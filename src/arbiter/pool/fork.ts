/**
 * Forking a worker, and the one place node:cluster is set up: cluster.setupPrimary is process-wide and merges,
 * so every option a fork depends on (entry, title, inspector, stdio, user) is given here, right before the fork.
 */
import cluster, { type ClusterSettings } from 'node:cluster';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import type { Settings } from '../../config/settings.js';
import { STDOUT_FD_ENV } from '../../protocol.js';
import type { Identity } from '../platform/privileges.js';
import type { Listener } from '../sockets/listeners.js';
import { type WorkerRecord, workerRecord } from './worker-record.js';

const WORKER_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'worker', 'main.js');

type OutputLine = (pid: number, line: string, stream: 'stdout' | 'stderr') => void;

/** What one fork needs; `identity` (--user/--group) and `settings` are the running ones, which a HUP replaces. */
export interface ForkRequest {
  settings: Settings;
  identity: Identity | null;
  generation: number;
  listeners: readonly Listener[];
  /** The worker's process title (`tsunicorn: worker [app]`), on its command line so ps shows it at once. */
  title: string;
  /** With --capture-output: each line the worker writes to stdout or stderr. */
  onOutput: OutputLine;
}

function primarySettings({ settings, identity, title }: ForkRequest): ClusterSettings {
  // A loopback-only, not-yet-started inspector address: SIGUSR1 from the arbiter starts it when a worker times
  // out, to read the stack it is stuck in (stack-probe.ts). Under --inspect, node:cluster gives workers their own.
  const inspecting = process.execArgv.some((a) => a.startsWith('--inspect'));
  return {
    exec: WORKER_ENTRY,
    args: ['--tsunicorn-worker', title],
    execArgv: inspecting ? process.execArgv : [...process.execArgv, '--inspect-port=127.0.0.1:0'],
    // Without this, node:cluster rewrites --inspect-port to 9229+N for each worker: predictable ports.
    ...(inspecting ? {} : { inspectPort: 0 }),
    silent: false,
    // Captured: stdout and stderr are pipes to the arbiter, and fd 4 is the arbiter's own stdout, where
    // an access log on `-` still goes (it is not app output).
    stdio: settings.captureOutput ? ['ignore', 'pipe', 'pipe', 'ipc', 1] : ['inherit', 'inherit', 'inherit', 'ipc'],
    // In the fork itself (libuv's spawn), so the worker is never root, not even while it loads the config.
    uid: identity?.uid,
    gid: identity?.gid,
  };
}

/** Splits a worker's piped stdout or stderr into lines. */
function forwardLines(
  pid: number,
  stream: NodeJS.ReadableStream | null,
  name: 'stdout' | 'stderr',
  onLine: OutputLine,
): void {
  if (!stream) return;
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      onLine(pid, buf.slice(0, nl), name);
      buf = buf.slice(nl + 1);
      nl = buf.indexOf('\n');
    }
  });
  stream.on('end', () => {
    if (buf) onLine(pid, buf, name);
  });
}

/** Forks a worker running the worker entry, with the settings' --env added to its environment. */
export function forkWorker(request: ForkRequest): WorkerRecord {
  const { settings } = request;
  const env: Record<string, string> = {};
  for (const pair of settings.env) {
    const eq = pair.indexOf('=');
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  if (settings.captureOutput) env[STDOUT_FD_ENV] = '4';
  cluster.setupPrimary(primarySettings(request));
  const handle = cluster.fork(env);
  if (settings.captureOutput) {
    forwardLines(handle.process.pid ?? -1, handle.process.stdout, 'stdout', request.onOutput);
    forwardLines(handle.process.pid ?? -1, handle.process.stderr, 'stderr', request.onOutput);
  }
  return workerRecord(handle, request.generation, request.listeners);
}
