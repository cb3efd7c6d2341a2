/**
 * systemd integration: socket activation (LISTEN_FDS) and readiness
 * notification (NOTIFY_SOCKET, `Type=notify`).
 *
 * Socket activation. systemd (or `systemd-socket-activate`) binds and listens,
 * then starts us with the sockets as fds 3, 4, … and LISTEN_FDS=N,
 * LISTEN_PID=<our pid>. They are ours only when LISTEN_PID is this process
 * (sd_listen_fds(3)); we never rebind them. Their addresses come from /proc
 * (the fd's socket inode, looked up in /proc/net/{tcp,tcp6,unix}), so a
 * TCP socket and a unix socket both map to an address without opening a
 * second handle on the fd. Mapping onto --bind:
 *   - --bind not given (its default): serve exactly the activated sockets;
 *   - --bind given: a bind whose address matches an activated socket (same
 *     port and host, 0.0.0.0 and :: counting as the same wildcard; same unix
 *     path; fd://N for fd N) takes that socket; a bind that matches none is
 *     bound as usual; an activated socket that matches no bind is served too,
 *     with a warning (systemd queues connections on it for us either way).
 * LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES are removed from the environment
 * at once, so workers and USR2 successors cannot mistake them for their own.
 * A USR2 successor gets the sockets through TSUNICORN_FD like any other, and
 * TSUNICORN_ACTIVATED (their bind strings) tells it which of them systemd
 * owns: those are served without a --bind, and their socket files are never
 * removed (systemd keeps listening on them across restarts).
 *
 * Notification. sd_notify(3) is a datagram to the unix socket in
 * NOTIFY_SOCKET. Node's dgram module has no unix datagram sockets, so we run
 * the `systemd-notify` program that ships with systemd, one message at a
 * time, in order. It sends with the credentials of its parent (this master)
 * when it runs as root, and with its own pid otherwise, so units need
 * NotifyAccess=all. Messages: READY=1 (with MAINPID and STATUS) once the
 * first workers are ready and again after each HUP once the new generation
 * is; RELOADING=1 at a HUP; MAINPID=<new pid> from a USR2 successor when its
 * workers are ready; STOPPING=1 when a stop begins (not from a master that
 * is handing over to, or back from, a USR2 successor).
 */
import { spawn } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import fs from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type BindAddress, parseBind } from '../../config/bind-address.js';
import { SETTINGS } from '../../config/settings.js';
import type { Logger } from '../../log/logger.js';
import { findExecutable } from './find-executable.js';
import type { Listener } from '../sockets/listeners.js';
import { type InheritedSocket, inheritedSockets } from '../handoff/inherited-sockets.js';

/** SD_LISTEN_FDS_START */
const LISTEN_FDS_START = 3;
/** The bind strings of the sockets systemd passed, for USR2 successors. */
const ACTIVATED_ENV = 'TSUNICORN_ACTIVATED';
/** systemd-notify waits for systemd to take each message (a barrier), at most this long by default. */
const NOTIFY_TIMEOUT_MS = 10_000;

export interface ActivatedSocket extends InheritedSocket {
  /** The address as a --bind value: `HOST:PORT`, `[V6]:PORT`, `unix:PATH`, `fd://N`. */
  bind: string;
  /** From LISTEN_FDNAMES (FileDescriptorName= in the socket unit). */
  name: string | null;
}

// ── /proc parsing (pure) ─────────────────────────────────────────────────────

/** The socket inode of `readlink /proc/self/fd/N` (`socket:[1234]`), or null. */
export function socketInode(link: string): number | null {
  const m = /^socket:\[(\d+)\]$/.exec(link);
  return m ? Number(m[1]) : null;
}

/** The path of a listening unix stream socket in /proc/net/unix text; null when unnamed or abstract, undefined when absent. */
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

/** Decodes a /proc/net/tcp{,6} address: 32-bit words in host byte order, printed in hex. */
function decodeHexAddress(hex: string, endianness: 'LE' | 'BE'): string {
  const bytes = Buffer.alloc(hex.length / 2);
  for (let i = 0; i < hex.length / 8; i++) {
    const word = Number.parseInt(hex.slice(i * 8, i * 8 + 8), 16);
    if (endianness === 'LE') bytes.writeUInt32LE(word, i * 4);
    else bytes.writeUInt32BE(word, i * 4);
  }
  if (bytes.length === 4) return [...bytes].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // The URL parser prints the canonical compressed form (RFC 5952).
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** The local address of the TCP socket with this inode in /proc/net/tcp (family 4) or tcp6 (6) text, or null. */
export function tcpSocketAddress(
  procNetTcp: string,
  inode: number,
  family: 4 | 6,
  endianness: 'LE' | 'BE' = os.endianness(),
): { host: string; port: number } | null {
  for (const line of procNetTcp.split('\n').slice(1)) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || Number(f[9]) !== inode) continue;
    const [hex, portHex] = f[1]!.split(':');
    if (!hex || !portHex || hex.length !== (family === 4 ? 8 : 32)) return null;
    return { host: decodeHexAddress(hex, endianness), port: Number.parseInt(portHex, 16) };
  }
  return null;
}

/** The address as a --bind value. */
export function bindString(address: BindAddress): string {
  switch (address.kind) {
    case 'tcp':
      return address.family === 6 ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
    case 'unix':
      return `unix:${address.path}`;
    case 'fd':
      return `fd://${address.fd}`;
  }
}

function readProc(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** What fd N is, from /proc; `fd://N` when it cannot be told (then it is still served, shown by number). */
export function describeFd(fd: number): BindAddress {
  let inode: number | null = null;
  try {
    inode = socketInode(fs.readlinkSync(`/proc/self/fd/${fd}`));
  } catch {
    // Not open, or no /proc.
  }
  if (inode === null) return { kind: 'fd', fd };
  for (const family of [4, 6] as const) {
    const tcp = tcpSocketAddress(readProc(family === 4 ? '/proc/net/tcp' : '/proc/net/tcp6'), inode, family);
    if (tcp) return { kind: 'tcp', host: tcp.host, port: tcp.port, family };
  }
  const unix = unixSocketPath(readProc('/proc/net/unix'), inode);
  return unix ? { kind: 'unix', path: unix } : { kind: 'fd', fd };
}

/**
 * The sockets systemd passed to this process (sd_listen_fds), described.
 * Always removes LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES from `env`.
 */
export function takeListenFds(
  env: NodeJS.ProcessEnv,
  pid: number,
  describe: (fd: number) => BindAddress = describeFd,
): ActivatedSocket[] {
  const { LISTEN_FDS: count, LISTEN_PID: owner, LISTEN_FDNAMES: names } = env;
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  if (!count || !/^\d+$/.test(count) || !owner || Number(owner) !== pid) return [];
  const nameList = (names ?? '').split(':');
  return Array.from({ length: Number(count) }, (_, i) => {
    const fd = LISTEN_FDS_START + i;
    const address = describe(fd);
    return { fd, address, bind: bindString(address), name: nameList[i] || null };
  });
}

// ── mapping onto --bind ──────────────────────────────────────────────────────

const WILDCARDS = new Set(['0.0.0.0', '::']);

async function sameHost(bind: string, had: string): Promise<boolean> {
  if (bind === had || (WILDCARDS.has(bind) && WILDCARDS.has(had))) return true;
  if (isIP(bind)) return false;
  try {
    // `localhost` may resolve to ::1 first and 127.0.0.1 second: any of its addresses will do.
    return (await lookup(bind, { all: true })).some((a) => a.address === had);
  } catch {
    return false;
  }
}

/** Whether a --bind value names an activated socket's address. */
async function bindMatches(bind: BindAddress, had: BindAddress, fd: number): Promise<boolean> {
  switch (bind.kind) {
    case 'fd':
      return bind.fd === fd;
    case 'unix':
      return had.kind === 'unix' && path.resolve(bind.path) === had.path;
    case 'tcp':
      return had.kind === 'tcp' && bind.port !== 0 && bind.port === had.port && (await sameHost(bind.host, had.host));
  }
}

/**
 * The binds to open when these sockets were activated: see the file comment.
 * `explicit` is whether --bind was given (it differs from its default).
 * Returns the binds, activated ones as their `bind` strings, and warnings.
 */
export async function activatedBinds(
  binds: readonly string[],
  explicit: boolean,
  activated: readonly ActivatedSocket[],
): Promise<{ binds: string[]; warnings: string[] }> {
  if (!activated.length) return { binds: [...binds], warnings: [] };
  if (!explicit) return { binds: activated.map((a) => a.bind), warnings: [] };
  const unused = [...activated];
  const out: string[] = [];
  for (const raw of binds) {
    const parsed = parseBind(raw);
    let match = -1;
    if (parsed.ok) {
      for (let i = 0; i < unused.length && match < 0; i++)
        if (await bindMatches(parsed.address, unused[i]!.address, unused[i]!.fd)) match = i;
    }
    out.push(match >= 0 ? unused.splice(match, 1)[0]!.bind : raw);
  }
  const warnings = unused.map(
    (a) => `Socket from systemd (fd ${a.fd}, ${a.bind}) matches no --bind; serving on it as well`,
  );
  return { binds: [...out, ...unused.map((a) => a.bind)], warnings };
}

// ── notification ─────────────────────────────────────────────────────────────

/** Sends sd_notify messages through `systemd-notify`, one at a time, in order. */
class Notifier {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly program: string,
    private readonly socket: string,
    private readonly log: Logger,
  ) {}

  send(fields: readonly string[]): void {
    this.log.debug(`systemd notify: ${fields.join(' ')}`);
    this.chain = this.chain.then(
      () =>
        new Promise<void>((resolve) => {
          const child = spawn(this.program, [...fields], {
            stdio: ['ignore', 'ignore', 'pipe'],
            env: { ...process.env, NOTIFY_SOCKET: this.socket },
          });
          let stderr = '';
          child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
          // systemd-notify bounds its own wait; this only guards against a hung helper.
          const timer = setTimeout(() => child.kill('SIGKILL'), NOTIFY_TIMEOUT_MS);
          child.on('error', (err) => {
            clearTimeout(timer);
            this.log.warning(`systemd notify ${fields[0]} failed: ${err.message}`);
            resolve();
          });
          child.on('exit', (code) => {
            clearTimeout(timer);
            if (code !== 0)
              this.log.warning(
                `systemd notify ${fields[0]} failed: ${stderr.trim() || `${this.program} exited ${code}`}`,
              );
            resolve();
          });
        }),
    );
  }

  /** Waits for the messages already sent, at most `ms`. */
  async flush(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.chain, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }
}

/** The arbiter's view of systemd: which sockets it passed, and what to tell it. */
export class Systemd {
  /** READY=1 is due: at start, and after each HUP until the new generation is ready. */
  readyPending = true;
  private readonly notifier: Notifier | null;
  private readonly activatedByBind: Map<string, ActivatedSocket>;

  private constructor(
    /** Sockets from LISTEN_FDS in this process (a USR2 successor gets its sockets through TSUNICORN_FD). */
    readonly fromListenFds: readonly ActivatedSocket[],
    /** Every socket systemd owns that this master serves: from LISTEN_FDS, or inherited from the master before a USR2. */
    readonly activated: readonly ActivatedSocket[],
    notifier: Notifier | null,
  ) {
    this.notifier = notifier;
    this.activatedByBind = new Map(activated.map((a) => [a.bind, a]));
  }

  /** Reads, and removes from `env`, what systemd passed. Call once, before binding or forking. */
  static fromEnv(env: NodeJS.ProcessEnv, log: Logger, pid = process.pid): Systemd {
    const own = takeListenFds(env, pid);
    let activated: ActivatedSocket[] = own;
    if (!own.length) {
      // A USR2 successor: the activated sockets are among those in TSUNICORN_FD.
      let binds: string[] = [];
      try {
        const parsed: unknown = JSON.parse(env[ACTIVATED_ENV] ?? '[]');
        if (Array.isArray(parsed)) binds = parsed.filter((b): b is string => typeof b === 'string');
      } catch {
        // Malformed: nothing activated.
      }
      const inherited = inheritedSockets(env);
      activated = inherited.flatMap((s) => {
        const bind = bindString(s.address);
        return binds.includes(bind) ? [{ ...s, bind, name: null }] : [];
      });
    }
    if (activated.length) env[ACTIVATED_ENV] = JSON.stringify(activated.map((a) => a.bind));
    else delete env[ACTIVATED_ENV];

    let notifier: Notifier | null = null;
    const socket = env.NOTIFY_SOCKET;
    if (socket) {
      const program = findExecutable('systemd-notify', env);
      if (program) notifier = new Notifier(program, socket, log);
      else
        log.warning(
          'NOTIFY_SOCKET is set but systemd-notify is not installed: readiness cannot be reported (use Type=simple, or install systemd)',
        );
    }
    return new Systemd(own, activated, notifier);
  }

  /** The binds to open: --bind mapped onto the activated sockets (see the file comment). Logs the mapping's warnings. */
  async binds(bind: readonly string[], env: NodeJS.ProcessEnv, log: Logger): Promise<string[]> {
    if (!this.activated.length) return [...bind];
    const explicit = JSON.stringify(bind) !== JSON.stringify(SETTINGS.bind.default(env));
    const out = await activatedBinds(bind, explicit, this.activated);
    for (const w of out.warnings) log.warning(w);
    return out.binds;
  }

  /** After openListeners: logs which listeners systemd passed, and keeps their socket files from ever being removed. */
  adopted(listeners: readonly Listener[], log: Logger): void {
    for (const l of listeners) {
      const a = this.activatedByBind.get(bindString(l.info.address));
      if (!a || !l.inherited) continue;
      l.socketPath = null;
      if (this.fromListenFds.includes(a)) {
        log.info(
          `Using socket from systemd (LISTEN_FDS): fd ${a.fd}${a.name ? ` (${a.name})` : ''} = ${l.info.display}; not binding it`,
        );
      }
    }
  }

  /** READY=1, with this process as the main pid (after a USR2 upgrade, that is how systemd learns the new master). */
  ready(workers: number): void {
    this.readyPending = false;
    this.notifier?.send([
      'READY=1',
      `MAINPID=${process.pid}`,
      `STATUS=Serving with ${workers} worker${workers === 1 ? '' : 's'}`,
    ]);
  }

  reloading(): void {
    this.readyPending = true;
    const usec = process.hrtime.bigint() / 1000n; // CLOCK_MONOTONIC on Linux, as Type=notify-reload wants
    this.notifier?.send(['RELOADING=1', `MONOTONIC_USEC=${usec}`, 'STATUS=Reloading']);
  }

  stopping(): void {
    this.readyPending = false;
    this.notifier?.send(['STOPPING=1', 'STATUS=Stopping']);
  }

  /** A USR2 successor exited while this master serves on: it is the main process again. */
  mainPidAgain(): void {
    this.notifier?.send([`MAINPID=${process.pid}`, 'READY=1', 'STATUS=Serving (the upgrade was rolled back)']);
  }

  async flush(ms = 2000): Promise<void> {
    await this.notifier?.flush(ms);
  }
}
