/** What `tsunicorn ctl` prints for an answer: the status table, stacks, listeners, or the payload as JSON. */
import type { ArbiterStatus, ControlResponse, ListenerStatus, WorkerStack } from '../arbiter/control/protocol.js';
import type { CanaryStatus } from '../arbiter/pool/canary-trial.js';

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [header, ...rows].map(line);
}

function formatAge(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor(s / 3600) % 24).padStart(2, '0')}h`;
}

const formatRss = (bytes: number) => (bytes > 0 ? `${(bytes / 1048576).toFixed(1)} MB` : '-');

/** The last canary reload, under the status table. */
function formatCanary(c: CanaryStatus): string {
  const who = `canary ${c.pid ?? '-'} (generation ${c.generation})`;
  if (c.state === 'serving') return `${who}: serving, judged in ${(c.remainingS ?? 0).toFixed(1)} s`;
  if (c.state === 'booting') return `${who}: booting`;
  return `${who}: ${c.state}${c.reason ? ` (${c.reason})` : ''}: ${c.detail ?? ''}`;
}

/** The status table: one header line for the arbiter, then one row per worker, oldest first. */
function formatStatus(s: ArbiterStatus): string {
  const rows = s.workers.map((w) => [
    String(w.pid),
    String(w.generation),
    formatAge(w.ageMs),
    w.state,
    String(w.requests),
    String(w.inFlight),
    formatRss(w.rss),
  ]);
  const header = ['PID', 'GEN', 'AGE', 'STATE', 'REQUESTS', 'IN-FLIGHT', 'RSS'];
  return [
    `master ${s.pid} [${s.name}] ${s.state}, generation ${s.generation}, ` +
      `${s.workers.length} workers (target ${s.target})`,
    ...table(header, rows),
    ...(s.canary ? [formatCanary(s.canary)] : []),
  ].join('\n');
}

/** `ctl stack`: per worker a title line (pid, generation, what its loop was doing) and the frames or the failure. */
export function formatStacks(stacks: readonly WorkerStack[]): string {
  return stacks
    .map((s) => {
      const loop =
        s.loop === 'blocked'
          ? `event loop blocked (no heartbeat for ${(s.beatAgeMs / 1000).toFixed(1)} s): the JavaScript it is running`
          : 'event loop idle: the next JavaScript it ran';
      const title = `worker ${s.pid} (generation ${s.generation}), ${loop}:`;
      if (s.stack) return `${title}\n${s.stack}`;
      return `worker ${s.pid} (generation ${s.generation}): stack not read: ${s.error ?? 'unknown'}`;
    })
    .join('\n\n');
}

/** `ctl listeners`: one row per bound address. */
export function formatListeners(listeners: readonly ListenerStatus[]): string {
  const header = ['ADDRESS', 'FD', 'KIND', 'WORKERS'];
  const rows = listeners.map((l) => [
    l.address + (l.inherited ? ' (inherited)' : ''),
    String(l.fd),
    l.kind,
    l.workers.join(' ') || '-',
  ]);
  return table(header, rows).join('\n');
}

/** What a successful answer prints: the JSON of its payload, or its text. */
export function output(response: Extract<ControlResponse, { ok: true }>, json: boolean): string | null {
  if (json) {
    const payload = response.status ?? response.stacks ?? response.config ?? response.listeners ?? response;
    return JSON.stringify(payload);
  }
  if (response.status) return formatStatus(response.status);
  if (response.stacks) return formatStacks(response.stacks);
  if (response.configText !== undefined) return response.configText;
  if (response.listeners) return formatListeners(response.listeners);
  return response.message ?? null;
}
