/**
 * `HOST:PORT` addresses of the admin endpoints: the StatsD daemon metrics are
 * sent to (--statsd-host, Gunicorn's default port 8125 when none is given) and
 * the Prometheus listener (--metrics-bind, port required). Pure: parsing only.
 *
 *   127.0.0.1:8125   localhost:9100   [::1]:9100   statsd   (statsd only: port 8125)
 */
import { isIP } from 'node:net';

export const STATSD_DEFAULT_PORT = 8125;

export interface HostPort {
  host: string;
  port: number;
  /** 4 or 6 for an IP literal, 0 for a name to resolve. */
  family: 0 | 4 | 6;
}

export type HostPortParse = { ok: true; value: HostPort } | { ok: false; problem: string };

const fail = (problem: string): HostPortParse => ({ ok: false, problem });

/** Parses `HOST:PORT` or `[IPV6]:PORT`; without a port, `defaultPort` (or an error when there is none). */
export function parseHostPort(raw: string, defaultPort?: number): HostPortParse {
  const text = raw.trim();
  if (text.startsWith('unix:')) return fail('HOST:PORT over UDP/TCP (unix sockets are not supported here)');
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return fail('an IPv6 address needs a closing ]');
    host = text.slice(1, close);
    if (isIP(host) !== 6) return fail(`${JSON.stringify(host)} is not an IPv6 address`);
    const after = text.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) return fail('expected :PORT after ]');
    portText = after === '' ? undefined : after.slice(1);
  } else {
    const parts = text.split(':');
    if (parts.length > 2) return fail('write an IPv6 address in brackets, as [::1]:9100');
    host = parts[0] ?? '';
    portText = parts[1];
  }
  if (host === '') return fail('HOST:PORT with a host');
  if (isIP(host) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) {
    return fail(`${JSON.stringify(host)} is not an IP address or host name`);
  }
  let port: number;
  if (portText === undefined) {
    if (defaultPort === undefined) return fail('HOST:PORT (the port is required)');
    port = defaultPort;
  } else {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535)
      return fail(`port must be a number from 0 to 65535, got ${JSON.stringify(portText)}`);
    port = Number(portText);
  }
  return { ok: true, value: { host, port, family: isIP(host) as 0 | 4 | 6 } };
}
