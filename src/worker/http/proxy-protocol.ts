/**
 * The PROXY protocol (HAProxy's, versions 1 and 2), for --proxy-protocol: a
 * load balancer that passes TCP through writes one header at the start of the
 * connection naming the client it accepted, so the server can log and trust
 * the real client rather than the balancer.
 *
 *   v1: "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n"   (text, at most 107 bytes)
 *   v2: 12-byte signature, version/command, family, length, addresses, TLVs (binary)
 *
 * As in Gunicorn the header is optional, and only peers in --proxy-allow-from
 * may send one. A connection from any other peer is handed to HTTP untouched
 * (no byte is read in JavaScript, so it costs nothing); a PROXY header it
 * sends is then just an invalid request line (400). From an allowed peer the
 * first bytes are read here until the header is complete or clearly absent,
 * within --headers-timeout.
 */
import { isIP } from 'node:net';
import type { Socket } from 'node:net';

export interface ProxyAddress {
  address: string;
  port: number;
}

export type ParsedHeader =
  /** More bytes are needed to decide. */
  | { kind: 'incomplete' }
  /** The bytes do not start with a PROXY header: plain HTTP (or TLS). */
  | { kind: 'none' }
  /** A PROXY header that is malformed. */
  | { kind: 'invalid'; why: string }
  /** A header of `length` bytes; `source` is null for LOCAL / UNKNOWN (keep the connection's own address). */
  | { kind: 'header'; version: 1 | 2; length: number; source: ProxyAddress | null };

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V1_MAX = 107;
const V2_SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Largest v2 header accepted: addresses plus TLVs; real ones are well under 1 KiB. */
const V2_MAX = 4096;

/** True when `buf` is a (possibly partial) prefix of `sig`. */
function startsLike(buf: Buffer, sig: Buffer): boolean {
  const n = Math.min(buf.length, sig.length);
  return buf.subarray(0, n).equals(sig.subarray(0, n));
}

const isPort = (s: string) => /^\d{1,5}$/.test(s) && Number(s) <= 65535 && (s === '0' || !s.startsWith('0'));

function parseV1(buf: Buffer): ParsedHeader {
  const end = buf.indexOf('\r\n');
  if (end < 0)
    return buf.length >= V1_MAX ? { kind: 'invalid', why: 'PROXY v1 line too long' } : { kind: 'incomplete' };
  if (end + 2 > V1_MAX) return { kind: 'invalid', why: 'PROXY v1 line too long' };
  const parts = buf.toString('latin1', 0, end).split(' ');
  const length = end + 2;
  if (parts[1] === 'UNKNOWN') return { kind: 'header', version: 1, length, source: null };
  if (parts.length !== 6) return { kind: 'invalid', why: 'PROXY v1 line needs 6 fields' };
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const family = proto === 'TCP4' ? 4 : proto === 'TCP6' ? 6 : 0;
  if (family === 0) return { kind: 'invalid', why: `unknown PROXY protocol ${JSON.stringify(proto)}` };
  if (isIP(src) !== family || isIP(dst) !== family) return { kind: 'invalid', why: 'bad PROXY v1 address' };
  if (!isPort(sport) || !isPort(dport)) return { kind: 'invalid', why: 'bad PROXY v1 port' };
  return { kind: 'header', version: 1, length, source: { address: src, port: Number(sport) } };
}

function ipv6(buf: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(at + i).toString(16));
  // Node's isIP and BlockList take the uncompressed form; compress the longest zero run for logs.
  const full = groups.join(':');
  const runs = [...full.matchAll(/(?:^|:)0(?::0)+(?::|$)/g)];
  if (!runs.length) return full;
  const longest = runs.reduce((a, b) => (b[0].length > a[0].length ? b : a));
  return `${full.slice(0, longest.index)}::${full.slice(longest.index! + longest[0].length)}`;
}

function parseV2(buf: Buffer): ParsedHeader {
  if (buf.length < 16) return { kind: 'incomplete' };
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { kind: 'invalid', why: 'PROXY v2 bad version' };
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return { kind: 'invalid', why: 'PROXY v2 bad command' };
  const fam = buf[13]!;
  const len = buf.readUInt16BE(14);
  const length = 16 + len;
  if (length > V2_MAX) return { kind: 'invalid', why: 'PROXY v2 header too long' };
  if (buf.length < length) return { kind: 'incomplete' };
  // LOCAL (health checks from the balancer itself) and UNSPEC / unix / UDP: keep the connection's address.
  if (cmd === 0) return { kind: 'header', version: 2, length, source: null };
  if (fam === 0x11) {
    if (len < 12) return { kind: 'invalid', why: 'PROXY v2 short IPv4 block' };
    const address = `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}`;
    return { kind: 'header', version: 2, length, source: { address, port: buf.readUInt16BE(24) } };
  }
  if (fam === 0x21) {
    if (len < 36) return { kind: 'invalid', why: 'PROXY v2 short IPv6 block' };
    return { kind: 'header', version: 2, length, source: { address: ipv6(buf, 16), port: buf.readUInt16BE(48) } };
  }
  return { kind: 'header', version: 2, length, source: null };
}

/** Parses the start of a connection. */
export function parseProxyHeader(buf: Buffer): ParsedHeader {
  if (buf.length === 0) return { kind: 'incomplete' };
  if (startsLike(buf, V1_PREFIX)) return buf.length < V1_PREFIX.length ? { kind: 'incomplete' } : parseV1(buf);
  if (startsLike(buf, V2_SIG)) return buf.length < V2_SIG.length ? { kind: 'incomplete' } : parseV2(buf);
  return { kind: 'none' };
}

/** Sockets whose PROXY header named a client; read by forwarded.ts. */
const proxied = new WeakMap<object, ProxyAddress>();

/** The client a PROXY header named for this connection (the TCP or TLS socket), if any. */
export function proxiedPeer(socket: object): string | undefined {
  return proxied.get(socket)?.address;
}

export function setProxiedPeer(socket: object, source: ProxyAddress): void {
  proxied.set(socket, source);
}

export type ProxyOutcome =
  /** Hand the socket on; `rest` holds bytes read past the header (the start of the request). */
  { ok: true; source: ProxyAddress | null; rest: Buffer } | { ok: false; why: string };

/**
 * Reads an optional PROXY header from a fresh socket in flowing mode, then
 * pauses it and reports. Bytes after the header are returned, not pushed
 * back: the caller decides how to replay them. Gives up after `timeoutMs`
 * (the socket is destroyed).
 */
export function readProxyHeader(socket: Socket, timeoutMs: number, done: (outcome: ProxyOutcome) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  const timer = timeoutMs > 0 ? setTimeout(() => finish(null), timeoutMs) : null;
  const onData = (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    const parsed = parseProxyHeader(buf);
    if (parsed.kind === 'incomplete') return;
    if (parsed.kind === 'none') finish({ ok: true, source: null, rest: buf });
    else if (parsed.kind === 'invalid') finish({ ok: false, why: parsed.why });
    else finish({ ok: true, source: parsed.source, rest: buf.subarray(parsed.length) });
  };
  const onEnd = () => finish({ ok: false, why: 'connection ended in the PROXY header' });
  const finish = (outcome: ProxyOutcome | null) => {
    if (timer) clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
    if (!outcome) {
      socket.destroy();
      return;
    }
    socket.pause();
    done(outcome);
  };
  const onError = () => finish(null);
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', onError);
}

/**
 * Hands a socket whose PROXY header was read to Node's HTTP layer. The bytes
 * read past the header go back into the socket's readable buffer; the HTTP
 * layer takes the socket over synchronously in `next` (from then on its parser
 * reads the handle directly), and `resume()` makes the buffered bytes reach it
 * first: they are emitted on the next tick, before libuv can deliver anything
 * newer.
 */
export function replayInto(socket: Socket, rest: Buffer, next: (socket: Socket) => void): void {
  if (rest.length) socket.unshift(rest);
  next(socket);
  socket.resume();
}
