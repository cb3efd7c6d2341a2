/**
 * The listening TCP sockets one process holds, from /proc: its socket inodes (/proc/PID/fd) matched against the
 * LISTEN rows of /proc/PID/net/tcp{,6}. That table lists the whole network namespace, so the inode is what ties a
 * row to the process.
 */
import fs from 'node:fs/promises';
import { type TcpRow, parseTcpRow, socketInode } from '../platform/proc-net.js';

/** A listening TCP socket owned by a process, from /proc. */
export interface ListeningSocket {
  inode: number;
  port: number;
  /** Local address as text: `127.0.0.1`, `0.0.0.0`, `::`, `::ffff:127.0.0.1`... */
  address: string;
  /** Bound to 127.0.0.1 exactly (IPv4, or IPv4-mapped on an IPv6 socket). */
  loopback: boolean;
}

/** Inodes of the sockets open in `pid`. Throws, with a one-line message, when its fds cannot be listed. */
export async function socketInodes(pid: number): Promise<Set<number>> {
  let fds: string[];
  try {
    fds = await fs.readdir(`/proc/${pid}/fd`);
  } catch (err) {
    throw new Error(`cannot list /proc/${pid}/fd: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const inodes = new Set<number>();
  await Promise.all(
    fds.map(async (fd) => {
      try {
        const inode = socketInode(await fs.readlink(`/proc/${pid}/fd/${fd}`));
        if (inode !== null) inodes.add(inode);
      } catch {
        // closed meanwhile
      }
    }),
  );
  return inodes;
}

/** Listening TCP sockets of `pid` whose inode is in `inodes` (default: all of its sockets). */
export async function listeningSockets(pid: number, inodes?: Set<number>): Promise<ListeningSocket[]> {
  const own = inodes ?? (await socketInodes(pid));
  const out: ListeningSocket[] = [];
  for (const family of [4, 6] as const) {
    for (const row of await listenRows(`/proc/${pid}/net/${family === 4 ? 'tcp' : 'tcp6'}`, family)) {
      if (!own.has(row.inode)) continue;
      out.push({ inode: row.inode, port: row.port, address: row.host, loopback: row.loopbackV4 });
    }
  }
  return out;
}

/**
 * The LISTEN rows of a /proc/net/tcp{,6} table. A busy host has tens of thousands of rows (TIME_WAIT included), and
 * the kernel walks the listening hash before the established one (tcp_get_idx in net/ipv4/tcp_ipv4.c), so reading
 * stops at the first row in another state. Were that order ever to change, the probe would miss the inspector and
 * fail; it cannot pick a wrong socket.
 */
async function listenRows(file: string, family: 4 | 6): Promise<TcpRow[]> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, 'r');
  } catch {
    return []; // no IPv6, or the process is gone
  }
  const rows: TcpRow[] = [];
  try {
    const chunk = Buffer.alloc(16 * 1024);
    let partial = '';
    let header = true;
    for (;;) {
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, null);
      const lines = (partial + chunk.toString('latin1', 0, bytesRead)).split('\n');
      // At EOF the last piece is complete (or empty); otherwise keep it for the next read.
      partial = bytesRead === 0 ? '' : lines.pop()!;
      for (const line of lines) {
        if (header) {
          header = false;
          continue;
        }
        const row = parseTcpRow(line, family);
        if (!row) continue;
        if (!row.listening) return rows; // the listening block has ended
        rows.push(row);
      }
      if (bytesRead === 0) return rows;
    }
  } finally {
    await fh.close();
  }
}
