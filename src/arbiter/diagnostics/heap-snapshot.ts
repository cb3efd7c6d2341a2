/**
 * --diagnostics-heap-snapshot: a V8 heap snapshot of a worker, taken by the arbiter over the worker's inspector
 * (HeapProfiler.takeHeapSnapshot) and streamed chunk by chunk into a file the arbiter opened. Over the inspector,
 * because a worker killed at --timeout has a blocked event loop and answers no IPC, while V8 still serves inspector
 * commands once paused; and the worker, which may run as another user, never touches the file.
 */
import fs from 'node:fs';
import { InspectorClient } from './inspector-client.js';
import { CLOSE_INSPECTOR, openInspector } from './stack-probe.js';

export type HeapSnapshotResult = { ok: true; bytes: number; elapsedMs: number } | { ok: false; reason: string };

/** Longest wait for the inspector to go once asked to close. */
const CLOSE_MS = 300;

/** Writes the heap snapshot of `pid` to `fd` (which the caller closes). Never throws; a failure carries a reason. */
export async function writeHeapSnapshot(
  pid: number,
  fd: number,
  opts: { timeoutMs: number; excludePorts?: number[] },
): Promise<HeapSnapshotResult> {
  const started = performance.now();
  const deadline = started + opts.timeoutMs;
  let client: InspectorClient | null = null;
  try {
    const { port, path } = await openInspector(pid, opts, deadline);
    client = await InspectorClient.connect(port, path, deadline);
    let bytes = 0;
    let writeError: Error | null = null;
    client.onEvent((e) => {
      if (e.method !== 'HeapProfiler.addHeapSnapshotChunk' || typeof e.params.chunk !== 'string' || writeError) return;
      try {
        bytes += fs.writeSync(fd, e.params.chunk);
      } catch (err) {
        writeError = err as Error;
      }
    });
    // Paused first: Node 22+ leaves HeapProfiler commands to a blocked loop (unlike Debugger.pause), while a
    // paused worker serves every command from the debugger's own message loop.
    const paused = client.waitForEvent('Debugger.paused', deadline);
    const enabled = client.send('Debugger.enable', {}, deadline);
    // Each command and the event wait carry the deadline already.
    await Promise.all([paused, enabled, client.send('Debugger.pause', {}, deadline)]);
    // Chunks arrive as events before the command's reply.
    await client.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false }, deadline);
    if (writeError) throw writeError;
    // The session closes with the inspector (which resumes the worker), so no reply comes: a short wait, then on.
    const closeBy = Math.min(deadline, performance.now() + CLOSE_MS);
    await client.send('Runtime.evaluate', { expression: CLOSE_INSPECTOR }, closeBy).catch(() => {});
    return { ok: true, bytes, elapsedMs: Math.round(performance.now() - started) };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  } finally {
    client?.close();
  }
}
