/**
 * What a sync worker shows in its process title while it serves a request
 * (`ps` shows it to every local user; the arbiter reads it back on a timeout,
 * arbiter/pool/worker-record.ts currentRequest). Method and path only: a query string, fragment
 * or the scheme, host and userinfo of an absolute-form target can carry
 * secrets (issue 16).
 */

/** The path of a request target: origin-form up to `?`/`#`; absolute-form reduced to its path; `*` as is. */
export function targetPath(target: string): string {
  if (target.startsWith('/')) return /^[^?#]*/.exec(target)![0];
  if (target === '*') return target;
  try {
    const url = new URL(target);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.pathname;
  } catch {
    // Authority-form (CONNECT host:port) or garbage: nothing worth showing.
  }
  return '-';
}

/** `tsunicorn: worker [app] GET /path`, with no whitespace inside the method or path (currentRequest splits on it). */
export function busyTitle(idleTitle: string, method: string | undefined, target: string | undefined): string {
  return `${idleTitle} ${method || 'GET'} ${targetPath(target ?? '/').replace(/\s/g, '%20')}`;
}
