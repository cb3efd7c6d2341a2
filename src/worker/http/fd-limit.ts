/**
 * How many connections an async worker can hold within its open-files limit (`ulimit -n`). At the limit
 * libuv accepts each new connection and closes it at once (its EMFILE fallback), dropping connections that
 * another worker could serve; a worker that stops accepting below the limit leaves them in the backlog.
 */
import fs from 'node:fs';

/** Descriptors kept free beyond those open when the worker starts serving: files the app opens, log reopening. */
export const FD_HEADROOM = 16;

/** The soft open-files limit from the text of /proc/self/limits, or null (unlimited, or not found). */
export function parseOpenFilesLimit(limits: string): number | null {
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits);
  return m && m[1] !== 'unlimited' ? Number(m[1]) : null;
}

/** --worker-connections, lowered to fit the open-files limit; at least 1. */
export function connectionCap(workerConnections: number, openFilesLimit: number | null, fdsInUse: number): number {
  if (openFilesLimit === null) return workerConnections;
  return Math.max(1, Math.min(workerConnections, openFilesLimit - fdsInUse - FD_HEADROOM));
}

/** This process's open-files limit and descriptors in use, where /proc tells (Linux); else no limit. */
export function fdUsage(): { limit: number | null; inUse: number } {
  try {
    const limit = parseOpenFilesLimit(fs.readFileSync('/proc/self/limits', 'utf8'));
    return { limit, inUse: fs.readdirSync('/proc/self/fd').length };
  } catch {
    return { limit: null, inUse: 0 };
  }
}

/** Whether half the headroom is free again; false while /proc cannot even be read (still out of descriptors). */
export function descriptorsFree(): boolean {
  try {
    const limit = parseOpenFilesLimit(fs.readFileSync('/proc/self/limits', 'utf8'));
    return limit === null || limit - fs.readdirSync('/proc/self/fd').length >= FD_HEADROOM / 2;
  } catch {
    return false;
  }
}
