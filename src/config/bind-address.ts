/**
 * Parsing of `--bind` values. Pure: no sockets are touched here.
 *
 *   HOST:PORT  127.0.0.1:8000, localhost:8000, tcp://0.0.0.0:80
 *   HOST       port 8000, as Gunicorn
 *   PORT       all IPv4 interfaces, as Gunicorn and $PORT
 *   [IPV6]:PORT, [IPV6]
 *   unix:PATH, unix://PATH
 *   fd://N
 */
import { isIP } from 'node:net';

export const DEFAULT_PORT = 8000;

export type BindAddress =
  | { kind: 'tcp'; host: string; port: number /** 4, 6, or 0 for a name to resolve */; family: 0 | 4 | 6 }
  | { kind: 'unix'; path: string }
  | { kind: 'fd'; fd: number };

export type BindParse = { ok: true; address: BindAddress } | { ok: false; problem: string };

const fail = (problem: string): BindParse => ({ ok: false, problem });

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

function tcp(host: string, portText: string | undefined): BindParse {
  const port = portText === undefined ? DEFAULT_PORT : parsePort(portText);
  if (port === undefined) return fail(`port must be a number from 0 to 65535, got ${JSON.stringify(portText)}`);
  const family = isIP(host);
  if (family === 0 && !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) {
    return fail(`${JSON.stringify(host)} is not an IP address or host name`);
  }
  return { ok: true, address: { kind: 'tcp', host, port, family: family as 0 | 4 | 6 } };
}

export function parseBind(raw: string): BindParse {
  const text = raw.trim();
  if (text === '') return fail('an empty address');

  if (text.startsWith('unix:')) {
    const path = text.slice(text.startsWith('unix://') ? 7 : 5);
    return path ? { ok: true, address: { kind: 'unix', path } } : fail('unix: needs a socket path');
  }
  if (text.startsWith('fd://')) {
    const fdText = text.slice(5);
    const fd = /^\d+$/.test(fdText) ? Number(fdText) : NaN;
    return Number.isInteger(fd) && fd >= 0
      ? { ok: true, address: { kind: 'fd', fd } }
      : fail('fd:// needs a file descriptor number');
  }

  const rest = text.startsWith('tcp://') ? text.slice(6) : text;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) return fail('an IPv6 address needs a closing ]');
    const host = rest.slice(1, close);
    if (isIP(host) !== 6) return fail(`${JSON.stringify(host)} is not an IPv6 address`);
    const after = rest.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) return fail('expected :PORT after ]');
    return tcp(host, after === '' ? undefined : after.slice(1));
  }
  if (/^\d+$/.test(rest)) return tcp('0.0.0.0', rest);
  const colons = rest.split(':').length - 1;
  if (colons > 1) return fail('write an IPv6 address in brackets, as [::1]:8000');
  if (colons === 0) return tcp(rest, undefined);
  const [host = '', port] = rest.split(':');
  return tcp(host === '' ? '0.0.0.0' : host, port);
}

/** `HOST:PORT`, with an IPv6 host in brackets: the text form of a TCP address everywhere. */
export function hostPortText(a: { host: string; port: number }): string {
  return `${isIP(a.host) === 6 ? `[${a.host}]` : a.host}:${a.port}`;
}

/** The address as a --bind value: `HOST:PORT`, `[V6]:PORT`, `unix:PATH`, `fd://N`. */
export function bindText(address: BindAddress): string {
  switch (address.kind) {
    case 'tcp':
      return hostPortText(address);
    case 'unix':
      return `unix:${address.path}`;
    case 'fd':
      return `fd://${address.fd}`;
  }
}

/** The address as an operator reads it in logs: http://HOST:PORT, unix:PATH, fd://N. */
export function formatBind(address: BindAddress, scheme = 'http'): string {
  return address.kind === 'tcp' ? `${scheme}://${bindText(address)}` : bindText(address);
}
