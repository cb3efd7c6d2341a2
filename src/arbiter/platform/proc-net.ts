/**
 * Linux's socket tables, as text: /proc/PID/fd links (`socket:[INODE]`), /proc/net/{tcp,tcp6} rows and
 * /proc/net/unix rows. Pure parsing: callers read the files (whole, or only the leading LISTEN block).
 */
import os from 'node:os';

/** The socket inode of `readlink /proc/PID/fd/N` (`socket:[1234]`), or null. */
export function socketInode(link: string): number | null {
  const m = /^socket:\[(\d+)\]$/.exec(link);
  return m ? Number(m[1]) : null;
}

/** One row of /proc/net/tcp{,6}: its local address, state and socket inode. */
export interface TcpRow {
  host: string;
  port: number;
  inode: number;
  /** State 0A, TCP_LISTEN. */
  listening: boolean;
  /** Bound to 127.0.0.1 exactly (IPv4, or IPv4-mapped on an IPv6 socket). */
  loopbackV4: boolean;
}

const LOOPBACK_V4 = Buffer.from([127, 0, 0, 1]);
const V4_MAPPED_PREFIX = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);

/** Bytes of a /proc/net/tcp{,6} address: 32-bit words in host byte order, printed in hex. */
function addressBytes(hex: string, endianness: 'LE' | 'BE'): Buffer {
  const bytes = Buffer.alloc(hex.length / 2);
  for (let i = 0; i < hex.length / 8; i++) {
    const word = Number.parseInt(hex.slice(i * 8, i * 8 + 8), 16);
    if (endianness === 'LE') bytes.writeUInt32LE(word, i * 4);
    else bytes.writeUInt32BE(word, i * 4);
  }
  return bytes;
}

/** As Node prints addresses: dotted IPv4, IPv4-mapped IPv6 as `::ffff:a.b.c.d`, other IPv6 compressed (RFC 5952). */
function addressText(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.subarray(0, 12).equals(V4_MAPPED_PREFIX)) return `::ffff:${[...bytes.subarray(12)].join('.')}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // The URL parser prints the canonical compressed form (RFC 5952).
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

function isLoopbackV4(bytes: Buffer): boolean {
  if (bytes.length === 4) return bytes.equals(LOOPBACK_V4);
  return bytes.subarray(0, 12).equals(V4_MAPPED_PREFIX) && bytes.subarray(12).equals(LOOPBACK_V4);
}

/**
 * One data row of /proc/net/tcp (family 4) or tcp6 (6), or null for the header or a malformed row:
 *   sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
 */
export function parseTcpRow(line: string, family: 4 | 6, endianness: 'LE' | 'BE' = os.endianness()): TcpRow | null {
  const f = line.trim().split(/\s+/);
  if (f.length < 10) return null;
  const [hex, portHex] = f[1]!.split(':');
  if (!hex || !portHex || hex.length !== (family === 4 ? 8 : 32)) return null;
  const inode = Number(f[9]);
  if (!Number.isInteger(inode)) return null;
  const bytes = addressBytes(hex, endianness);
  return {
    host: addressText(bytes),
    port: Number.parseInt(portHex, 16),
    inode,
    listening: f[3] === '0A',
    loopbackV4: isLoopbackV4(bytes),
  };
}

/** The local address of the TCP socket with this inode in /proc/net/tcp (family 4) or tcp6 (6) text, or null. */
export function tcpSocketAddress(
  procNetTcp: string,
  inode: number,
  family: 4 | 6,
  endianness: 'LE' | 'BE' = os.endianness(),
): { host: string; port: number } | null {
  for (const line of procNetTcp.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || Number(f[9]) !== inode) continue;
    const row = parseTcpRow(line, family, endianness);
    return row && { host: row.host, port: row.port };
  }
  return null;
}

/**
 * The path of a listening unix stream socket in /proc/net/unix text; null when unnamed or abstract, undefined when
 * absent.
 */
export function unixSocketPath(procNetUnix: string, inode: number): string | null | undefined {
  for (const line of procNetUnix.split('\n').slice(1)) {
    // Num RefCount Protocol Flags Type St Inode [Path]
    const f = line.trim().split(/\s+/);
    if (f.length < 7 || Number(f[6]) !== inode) continue;
    const p = f.slice(7).join(' ');
    return p && !p.startsWith('@') ? p : null;
  }
  return undefined;
}
