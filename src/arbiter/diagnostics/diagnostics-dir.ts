/**
 * --diagnostics-dir: evidence of a worker before it goes. The arbiter, which
 * may be root, writes every file itself: created exclusively (O_EXCL, which
 * also refuses a symlink in its place), mode 0600, in a directory it checked
 * at start is its own and writable by nobody else; at most --diagnostics-keep
 * files of ours are kept, oldest deleted first.
 *
 * - A worker recycled for memory is alive: it is asked for its Node
 *   diagnostic report over IPC and sends it back (process.report.getReport).
 * - A worker killed at --timeout has a blocked event loop and answers no IPC:
 *   what exists is the JavaScript stack read over the inspector (stack-probe.ts),
 *   written as text with what the arbiter knows of it.
 * - With --diagnostics-heap-snapshot, either also gets a V8 heap snapshot (heap-snapshot.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { TsuError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { writeHeapSnapshot } from './heap-snapshot.js';

const FILE = /^tsunicorn-(report|timeout|heap)-\d+-\d{8}T\d{9}Z(-\d+)?\.(json|txt|heapsnapshot)$/;

type Kind = 'report' | 'timeout' | 'heap';
const WHAT: Record<Kind, string> = { report: 'diagnostic report', timeout: 'timeout stack', heap: 'heap snapshot' };

/** Creates the directory (0700) if missing; refuses a symlink, a non-directory, or one others can write or own. */
export function checkDiagnosticsDir(dir: string): string {
  const abs = path.resolve(dir);
  try {
    fs.mkdirSync(abs, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new TsuError('TSU_ERR_INVALID_SETTING', `--diagnostics-dir ${abs}: ${(err as Error).message}`);
  }
  const st = fs.lstatSync(abs);
  const uid = process.geteuid?.() ?? st.uid;
  let problem: string | null = null;
  if (st.isSymbolicLink()) problem = 'is a symbolic link';
  else if (!st.isDirectory()) problem = 'is not a directory';
  else if (st.uid !== uid) problem = `is owned by uid ${st.uid}, not ${uid}`;
  else if ((st.mode & 0o022) !== 0) problem = `is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`;
  if (problem) throw new TsuError('TSU_ERR_INVALID_SETTING', `--diagnostics-dir ${abs} ${problem}`);
  return abs;
}

/** `20261205T001234567Z`: sorts as time does. */
function stamp(date: Date): string {
  return date.toISOString().replace(/[-:.]/g, '');
}

export class Diagnostics {
  constructor(
    private readonly dir: string,
    private readonly keep: number,
    private readonly log: Logger,
  ) {}

  /** A memory-recycled worker's report (JSON text from the worker). */
  report(pid: number, json: string): void {
    this.write('report', pid, 'json', json);
  }

  /** A timed-out worker: its stack from the inspector, or why it could not be read. */
  timeout(pid: number, request: string | null, stack: string | null, reason: string | null): void {
    const lines = [
      `WORKER TIMEOUT pid ${pid} at ${new Date().toISOString()}`,
      request ? `serving: ${request}` : 'serving: (not known; async workers serve many requests at once)',
      '',
      stack ? `JavaScript stack (inspector, Debugger.pause):\n${stack}` : `stack could not be read: ${reason}`,
      '',
    ];
    this.write('timeout', pid, 'txt', lines.join('\n'));
  }

  /**
   * Writes a heap snapshot of `pid`, taken over its inspector (heap-snapshot.ts), within `timeoutMs`. Resolves when
   * it is written or has failed (logged, and the partial file removed); never rejects.
   */
  async heapSnapshot(pid: number, excludePorts: number[], timeoutMs: number): Promise<void> {
    const created = this.create('heap', pid, 'heapsnapshot');
    if (!created) return;
    const result = await writeHeapSnapshot(pid, created.fd, { timeoutMs, excludePorts });
    fs.closeSync(created.fd);
    if (result.ok) return this.finished('heap', created.file, pid);
    this.log.error(`Cannot take a heap snapshot of worker (pid:${pid}): ${result.reason}`);
    fs.rmSync(created.file, { force: true });
  }

  private write(kind: Kind, pid: number, ext: string, text: string): void {
    const created = this.create(kind, pid, ext);
    if (!created) return;
    try {
      fs.writeFileSync(created.fd, text);
    } catch (err) {
      this.log.error(`Cannot write diagnostics to ${created.file}: ${(err as Error).message}`);
    } finally {
      fs.closeSync(created.fd);
    }
    this.finished(kind, created.file, pid);
  }

  /** Creates the next free name for this pid and moment: exclusively, never through a link, mode 0600. */
  private create(kind: Kind, pid: number, ext: string): { fd: number; file: string } | null {
    const base = `tsunicorn-${kind}-${pid}-${stamp(new Date())}`;
    const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
    for (let n = 0; n < 10; n++) {
      const file = path.join(this.dir, `${base}${n ? `-${n}` : ''}.${ext}`);
      try {
        return { fd: fs.openSync(file, flags, 0o600), file };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        this.log.error(`Cannot write diagnostics to ${file}: ${(err as Error).message}`);
        return null;
      }
    }
    return null;
  }

  private finished(kind: Kind, file: string, pid: number): void {
    this.log.info(`Wrote ${WHAT[kind]} of worker (pid:${pid}) to ${file}`);
    this.prune();
  }

  /** Deletes our oldest files beyond --diagnostics-keep; other files in the directory are left alone. */
  private prune(): void {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir).filter((n) => FILE.test(n));
    } catch {
      return;
    }
    // By time, then name: the stamp is the fourth dash-separated field.
    const byAge = names.sort((a, b) => a.split('-')[3]!.localeCompare(b.split('-')[3]!) || a.localeCompare(b));
    for (const name of byAge.slice(0, Math.max(0, byAge.length - this.keep))) {
      try {
        fs.unlinkSync(path.join(this.dir, name));
      } catch {
        // Gone already, or not ours to delete: the cap is best effort.
      }
    }
  }
}
