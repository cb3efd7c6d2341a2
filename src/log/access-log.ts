/**
 * The access log: Gunicorn's format strings, compiled once into a list of
 * functions, so a request costs one pass over precomputed parts and no
 * parsing. Atoms (Gunicorn's):
 *
 *   h remote address    l '-'              u user (Basic auth)   t [date]
 *   r request line      m method           U path                q query string
 *   H protocol          s status           B body bytes          b body bytes or '-'
 *   f referer           a user agent       T seconds (int)       M milliseconds (int)
 *   D microseconds      L seconds (decimal) p <pid>
 *   {name}i request header   {name}o response header   {name}e environment variable
 *
 * A missing value prints '-', and '"' in a value is escaped as '\"', as Gunicorn does.
 */

/** What one finished request looks like to the access log. */
export interface AccessRecord {
  remoteAddress: string | undefined;
  method: string;
  /** The request target as sent: path and query, or an absolute URL (absolute form). */
  url: string;
  httpVersion: string;
  status: number;
  /** Body bytes sent. */
  bytes: number;
  requestHeaders: Record<string, string | string[] | undefined>;
  responseHeader(name: string): string | number | string[] | undefined;
  /** Wall-clock start (ms since epoch) and duration (ns). */
  startedAt: number;
  durationNs: bigint;
}

type Part = (r: AccessRecord) => string;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `[10/Oct/2000:13:55:36 -0700]`, Apache's and Gunicorn's %t. Cached per second: the same for every request in it. */
let cachedSecond = -1;
let cachedDate = '';
export function accessTime(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second === cachedSecond) return cachedDate;
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const abs = Math.abs(off);
  cachedSecond = second;
  cachedDate =
    `[${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ` +
    `${off >= 0 ? '+' : '-'}${pad(Math.floor(abs / 60))}${pad(abs % 60)}]`;
  return cachedDate;
}

const escapeQuotes = (v: string): string => (v.includes('"') ? v.replace(/"/g, '\\"') : v);
const orDash = (v: unknown): string => {
  if (v === undefined || v === null || v === '') return '-';
  return escapeQuotes(Array.isArray(v) ? v.join(', ') : String(v));
};

function basicUser(r: AccessRecord): string {
  const auth = r.requestHeaders.authorization;
  if (typeof auth !== 'string' || !/^basic /i.test(auth)) return '-';
  const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return orDash(colon >= 0 ? decoded.slice(0, colon) : decoded);
}

/** `scheme://authority` at the start of an absolute-form target (RFC 9112 §3.2.2). */
const SCHEME_AUTHORITY = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

/** The path and query of a request target: an absolute-form one loses its scheme and authority. */
function originPart(url: string): string {
  if (url.charCodeAt(0) === 0x2f) return url; // '/': origin form, the usual case
  const m = SCHEME_AUTHORITY.exec(url);
  return m === null ? url : url.slice(m[0].length);
}

const path = (url: string) => {
  const target = originPart(url);
  const q = target.indexOf('?');
  const p = q < 0 ? target : target.slice(0, q);
  return p === '' ? '/' : p;
};
const query = (url: string) => {
  const q = url.indexOf('?');
  return q < 0 ? '' : url.slice(q + 1);
};

const ATOMS: Record<string, Part> = {
  h: (r) => orDash(r.remoteAddress),
  l: () => '-',
  u: basicUser,
  t: (r) => accessTime(r.startedAt),
  r: (r) => escapeQuotes(`${r.method} ${r.url} HTTP/${r.httpVersion}`),
  m: (r) => escapeQuotes(r.method),
  U: (r) => escapeQuotes(path(r.url)),
  q: (r) => escapeQuotes(query(r.url)),
  H: (r) => `HTTP/${r.httpVersion}`,
  s: (r) => String(r.status),
  B: (r) => String(r.bytes),
  b: (r) => (r.bytes ? String(r.bytes) : '-'),
  f: (r) => orDash(r.requestHeaders.referer),
  a: (r) => orDash(r.requestHeaders['user-agent']),
  T: (r) => String(r.durationNs / 1_000_000_000n),
  M: (r) => String(r.durationNs / 1_000_000n),
  D: (r) => String(r.durationNs / 1000n),
  L: (r) => (Number(r.durationNs) / 1e9).toFixed(6),
  p: () => `<${process.pid}>`,
};

class AccessLogFormatError extends Error {}

/** Compiles a Gunicorn format string. Throws AccessLogFormatError naming an unknown atom. */
export function compileAccessFormat(format: string): (r: AccessRecord) => string {
  const parts: Part[] = [];
  // `%%` is a literal percent sign, as in Python's %-formatting that Gunicorn uses.
  const re = /%%|%\((\{[^}]*\}[ioe]|[A-Za-z])\)s/g;
  let last = 0;
  for (let m = re.exec(format); m; m = re.exec(format)) {
    if (m.index > last) {
      const text = format.slice(last, m.index);
      parts.push(() => text);
    }
    last = re.lastIndex;
    if (m[0] === '%%') {
      parts.push(() => '%');
      continue;
    }
    const atom = m[1]!;
    if (atom.startsWith('{')) {
      const name = atom.slice(1, atom.indexOf('}')).toLowerCase();
      const kind = atom.at(-1);
      if (kind === 'i') parts.push((r) => orDash(r.requestHeaders[name]));
      else if (kind === 'o') parts.push((r) => orDash(r.responseHeader(name)));
      else {
        const envName = atom.slice(1, atom.indexOf('}'));
        parts.push(() => orDash(process.env[envName]));
      }
      continue;
    }
    const fn = ATOMS[atom];
    if (!fn) throw new AccessLogFormatError(`unknown access-log atom %(${atom})s`);
    parts.push(fn);
  }
  if (last < format.length) {
    const text = format.slice(last);
    parts.push(() => text);
  }
  return (r) => {
    let out = '';
    for (const p of parts) out += p(r);
    return out;
  };
}

/** The JSON access line (--log-format json): named fields, one object per line. */
export function jsonAccessLine(r: AccessRecord): string {
  return JSON.stringify({
    time: new Date(r.startedAt).toISOString(),
    level: 'info',
    pid: process.pid,
    type: 'access',
    remote_addr: r.remoteAddress ?? null,
    user: basicUser(r) === '-' ? null : basicUser(r),
    method: r.method,
    path: path(r.url),
    query: query(r.url),
    protocol: `HTTP/${r.httpVersion}`,
    status: r.status,
    bytes: r.bytes,
    referer: r.requestHeaders.referer ?? null,
    user_agent: r.requestHeaders['user-agent'] ?? null,
    duration_ms: Number(r.durationNs) / 1e6,
  });
}
