/**
 * Who the client is and which scheme it used, as the app and the access log
 * see them (`clientInfo(req)`, `req.tsunicorn`, the fetch handler's `info`).
 *
 * Trust follows Gunicorn: `X-Forwarded-For` and the --secure-scheme-headers
 * are believed only from a peer in --forwarded-allow-ips (`*` = any peer), and
 * from unix-socket peers, which only local processes can be. From any other
 * peer they are ignored: the client is the peer, the scheme is the
 * connection's.
 *
 * X-Forwarded-For is read right to left, the way proxies append to it: the
 * client is the first address, going leftwards from the peer, that was not
 * added by a trusted proxy. With one trusted nginx in front, that is the
 * address nginx saw; a value the client itself put on the left is never used
 * unless every hop is trusted (`*`). An entry that is not an IP address ends
 * the walk at the hop that forwarded it.
 *
 * Behind a PROXY protocol header (--proxy-protocol) the peer is the address
 * that header carries, not the load balancer's.
 */
import { IncomingMessage } from 'node:http';
import { BlockList, type Socket, isIP } from 'node:net';
import { SETTINGS, type Settings } from '../../config/settings.js';
import { proxiedPeer } from './proxy-protocol.js';

export interface ClientInfo {
  /**
   * The client's IP address: from X-Forwarded-For when a trusted proxy sent it, else the peer's. `''` for a
   * unix-socket peer with no proxy header.
   */
  address: string;
  /** `https` on a TLS listener, or when a trusted proxy's --secure-scheme-headers say so; else `http`. */
  scheme: 'http' | 'https';
  /**
   * The address of the connection's other end (the proxy, when there is one); after a PROXY protocol header,
   * the address it carried.
   */
  peerAddress: string;
}

declare module 'node:http' {
  interface IncomingMessage {
    /** Set by tsunicorn on every request before the app sees it. */
    tsunicorn?: ClientInfo;
  }
}

/** A set of trusted addresses: `*`, addresses and CIDR networks. */
export interface TrustList {
  has(address: string): boolean;
}

const TRUST_CACHE_SIZE = 4096;

export function trustList(entries: readonly string[]): TrustList {
  if (entries.includes('*')) return { has: () => true };
  const list = new BlockList();
  for (const e of entries) {
    const slash = e.indexOf('/');
    const addr = slash < 0 ? e : e.slice(0, slash);
    const family = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (slash < 0) list.addAddress(addr, family);
    else list.addSubnet(addr, Number(e.slice(slash + 1)), family);
  }
  // Clients repeat, and on Node 20 each BlockList.check allocates a transferable SocketAddress:
  // remember recent answers.
  const seen = new Map<string, boolean>();
  return {
    has(address) {
      let trusted = seen.get(address);
      if (trusted === undefined) {
        const family = isIP(address);
        trusted = family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
        if (seen.size >= TRUST_CACHE_SIZE) seen.clear();
        seen.set(address, trusted);
      }
      return trusted;
    },
  };
}

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack listener) → `10.0.0.1`. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** An X-Forwarded-For entry as an address, or null: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:443`. */
function forwardedEntry(entry: string): string | null {
  let s = entry.trim();
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    s = end > 0 ? s.slice(1, end) : '';
  } else if (s.indexOf(':') === s.lastIndexOf(':') && s.includes(':')) {
    s = s.slice(0, s.indexOf(':'));
  }
  return isIP(s) ? normalizeAddress(s) : null;
}

interface Forwarding {
  trust: TrustList;
  /** Lower-case header name and the value that means https. */
  schemeHeaders: [string, string][];
  /** x-forwarded-for and the scheme headers, lower-case, and their lengths (a cheap first filter). */
  names: string[];
  lengths: Set<number>;
}

// The table's defaults until configureForwarding runs at boot.
let forwarding: Forwarding = configFrom({
  forwardedAllowIps: SETTINGS.forwardedAllowIps.default({}),
  secureSchemeHeaders: SETTINGS.secureSchemeHeaders.default({}),
});

function configFrom(settings: Pick<Settings, 'forwardedAllowIps' | 'secureSchemeHeaders'>): Forwarding {
  const schemeHeaders = Object.entries(settings.secureSchemeHeaders).map(([k, v]): [string, string] => [
    k.toLowerCase(),
    v.toLowerCase(),
  ]);
  const names = ['x-forwarded-for', ...schemeHeaders.map(([k]) => k)];
  return {
    trust: trustList(settings.forwardedAllowIps),
    schemeHeaders,
    names,
    lengths: new Set(names.map((n) => n.length)),
  };
}

/** Called once at worker boot. */
export function configureForwarding(settings: Pick<Settings, 'forwardedAllowIps' | 'secureSchemeHeaders'>): void {
  forwarding = configFrom(settings);
}

/** Per connection: the peer and whether it is trusted, worked out once. */
interface Peer {
  address: string;
  trusted: boolean;
}
const kPeer = Symbol('tsunicorn.peer');

function peerOf(socket: Socket & { [kPeer]?: Peer; encrypted?: boolean }): Peer {
  let peer = socket[kPeer];
  if (!peer) {
    const proxied = proxiedPeer(socket);
    const remote = proxied ?? socket.remoteAddress;
    // No remote address: a unix socket (a local process), unless a PROXY header named someone else.
    const address = remote === undefined ? '' : normalizeAddress(remote);
    peer = remote === undefined ? { address, trusted: true } : { address, trusted: forwarding.trust.has(address) };
    socket[kPeer] = peer;
  }
  return peer;
}

/**
 * The values of the headers `names` (lower-case), read off `rawHeaders` in one pass: `req.headers` is
 * built lazily by Node, and an app that never reads it should not pay for it here. Repeated fields
 * are joined with `, `, as Node joins them.
 */
function headerValues(
  req: IncomingMessage,
  names: readonly string[],
  lengths: ReadonlySet<number>,
): Map<string, string> {
  const found = new Map<string, string>();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (!lengths.has(name.length)) continue;
    const lower = name.toLowerCase();
    if (!names.includes(lower)) continue;
    const prev = found.get(lower);
    found.set(lower, prev === undefined ? raw[i + 1]! : `${prev}, ${raw[i + 1]!}`);
  }
  return found;
}

/**
 * Works out the client of a request. Returns null when a trusted peer sent
 * scheme headers that disagree (Gunicorn answers those 400).
 */
export function resolveClientInfo(req: IncomingMessage): ClientInfo | null {
  if (hasForwardingHeader(req.rawHeaders)) return fromForwardingHeaders(req);
  const socket = req.socket as Socket & { encrypted?: boolean; [kDirect]?: ClientInfo };
  return (socket[kDirect] ??= direct(socket, socket.encrypted ? 'https' : 'http'));
}

function fromForwardingHeaders(req: IncomingMessage): ClientInfo | null {
  const socket = req.socket as Socket & { encrypted?: boolean };
  const peer = peerOf(socket);
  let scheme: 'http' | 'https' = socket.encrypted ? 'https' : 'http';
  let address = peer.address;
  if (peer.trusted) {
    const values = headerValues(req, forwarding.names, forwarding.lengths);
    let seen: 'http' | 'https' | null = null;
    for (const [name, secure] of forwarding.schemeHeaders) {
      const v = values.get(name);
      if (v === undefined) continue;
      const s = v.trim().toLowerCase() === secure ? 'https' : 'http';
      if (seen !== null && s !== seen) return null;
      seen = s;
    }
    if (seen) scheme = seen;
    const xff = values.get('x-forwarded-for');
    if (xff) {
      const hops = xff.split(',');
      let trusted = true;
      for (let i = hops.length - 1; i >= 0 && trusted; i--) {
        const hop = forwardedEntry(hops[i]!);
        if (hop === null) break;
        address = hop;
        trusted = forwarding.trust.has(hop);
      }
    }
  }
  return { address, scheme, peerAddress: peer.address };
}

const kDirect = Symbol('tsunicorn.directClient');

/** Whether any raw header may be X-Forwarded-For or a scheme header: a length filter, then the name. */
function hasForwardingHeader(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (forwarding.lengths.has(name.length) && forwarding.names.includes(name.toLowerCase())) return true;
  }
  return false;
}

/**
 * What the worker must know before the app runs: null when a trusted peer sent scheme
 * headers that disagree (answered 400), the client when the request carries forwarding
 * headers, and undefined when it carries none, so the client is the peer and is worked out
 * only if something reads `req.tsunicorn`. Looking the peer up costs a getpeername() syscall
 * per connection, which an app without an access log would pay for nothing.
 */
export function forwardedClient(req: IncomingMessage): ClientInfo | null | undefined {
  return hasForwardingHeader(req.rawHeaders) ? fromForwardingHeaders(req) : undefined;
}

const kClient = Symbol('tsunicorn.client');
type WithClient = IncomingMessage & { [kClient]?: ClientInfo };

/**
 * Defines `tsunicorn` on IncomingMessage.prototype, for every request in this process: an accessor that works
 * the client out when first read (see forwardedClient). A worker calls it once, at boot.
 */
export function addTsunicornAccessorToIncomingMessage(): void {
  Object.defineProperty(IncomingMessage.prototype, 'tsunicorn', {
    configurable: true,
    get(this: WithClient): ClientInfo {
      return (this[kClient] ??= resolveClientInfo(this) ?? direct(this.socket, 'http'));
    },
    set(this: WithClient, info: ClientInfo) {
      this[kClient] = info;
    },
  });
}

/**
 * The client of a request: its address and scheme (for the app, the access
 * log's `%(h)s`, …). In a worker, `req.tsunicorn` answers (see
 * forwardedClient); elsewhere it is computed here (conflicting scheme headers
 * then count as `http`).
 */
export function clientInfo(req: IncomingMessage): ClientInfo {
  let info = req.tsunicorn;
  if (!info) {
    info = resolveClientInfo(req) ?? direct(req.socket, 'http');
    req.tsunicorn = info;
  }
  return info;
}

/** The peer as the client: for requests without forwarding headers, one object per connection. */
function direct(socket: Socket, scheme: 'http' | 'https'): ClientInfo {
  const { address } = peerOf(socket);
  return { address, scheme, peerAddress: address };
}
