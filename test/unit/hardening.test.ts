/** Pure parts of the hardening work: PROXY header parsing, client/scheme resolution, request limits, setting kinds. */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { addressList, headerMap, umask } from '../../src/config/setting-types.js';
import {
  configureForwarding,
  normalizeAddress,
  resolveClientInfo,
  trustList,
} from '../../src/worker/http/forwarded.js';
import { checkRequest, parserOptions } from '../../src/worker/http/limits.js';
import { parseProxyHeader, setProxiedPeer } from '../../src/worker/http/proxy-protocol.js';

const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

describe('parseProxyHeader', () => {
  it('v1 TCP4 and TCP6, with what follows left alone', () => {
    const line = 'PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n';
    const buf = Buffer.from(`${line}GET / HTTP/1.1\r\n`);
    expect(parseProxyHeader(buf)).toEqual({
      kind: 'header',
      version: 1,
      length: line.length,
      source: { address: '192.0.2.1', port: 56324 },
    });
    expect(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 ::1 1 2\r\n'))).toMatchObject({
      source: { address: '2001:db8::1', port: 1 },
    });
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toMatchObject({ kind: 'header', source: null });
  });

  it('v1: incomplete until CRLF; invalid fields; too long', () => {
    expect(parseProxyHeader(Buffer.from('PRO'))).toEqual({ kind: 'incomplete' });
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4'))).toEqual({ kind: 'incomplete' });
    for (const bad of [
      'PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n',
      'PROXY TCP4 ::1 ::1 1 2\r\n',
      'PROXY TCP4 1.2.3.4 1.2.3.4 99999 2\r\n',
      'PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n',
      'PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n',
      'PROXY TCP4 1.2.3.4\r\n',
    ]) {
      expect(parseProxyHeader(Buffer.from(bad)).kind, bad).toBe('invalid');
    }
    expect(parseProxyHeader(Buffer.from(`PROXY ${'x'.repeat(120)}`)).kind).toBe('invalid');
  });

  it('not a PROXY header: plain HTTP, TLS', () => {
    expect(parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n'))).toEqual({ kind: 'none' });
    expect(parseProxyHeader(Buffer.from([0x16, 0x03, 0x01]))).toEqual({ kind: 'none' });
    expect(parseProxyHeader(Buffer.from('PROXZ'))).toEqual({ kind: 'none' });
  });

  it('v2 TCP4, TCP6 (addresses compressed), LOCAL, TLVs skipped', () => {
    const v4 = Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0, 12, 10, 0, 0, 7, 127, 0, 0, 1, 0x1f, 0x90, 0, 80])]);
    expect(parseProxyHeader(Buffer.concat([v4, Buffer.from('GET')]))).toEqual({
      kind: 'header',
      version: 2,
      length: 28,
      source: { address: '10.0.0.7', port: 8080 },
    });
    const v6addr = Buffer.alloc(36);
    v6addr.writeUInt16BE(0x2001, 0);
    v6addr.writeUInt16BE(0xdb8, 2);
    v6addr.writeUInt16BE(7, 14);
    v6addr.writeUInt16BE(443, 32);
    const v6 = Buffer.concat([SIG, Buffer.from([0x21, 0x21, 0, 36 + 5]), v6addr, Buffer.from([0x04, 0, 2, 1, 2])]);
    expect(parseProxyHeader(v6)).toEqual({
      kind: 'header',
      version: 2,
      length: 16 + 41,
      source: { address: '2001:db8::7', port: 443 },
    });
    expect(parseProxyHeader(Buffer.concat([SIG, Buffer.from([0x20, 0x00, 0, 0])]))).toMatchObject({
      kind: 'header',
      source: null,
    });
  });

  it('v2: incomplete, bad version or command, oversized', () => {
    expect(parseProxyHeader(SIG.subarray(0, 5)).kind).toBe('incomplete');
    expect(parseProxyHeader(Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0, 12, 1, 2])])).kind).toBe('incomplete');
    expect(parseProxyHeader(Buffer.concat([SIG, Buffer.from([0x31, 0x11, 0, 0])])).kind).toBe('invalid');
    expect(parseProxyHeader(Buffer.concat([SIG, Buffer.from([0x22, 0x11, 0, 0])])).kind).toBe('invalid');
    expect(parseProxyHeader(Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0xff, 0xff])])).kind).toBe('invalid');
    expect(parseProxyHeader(Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0, 4, 1, 2, 3, 4])])).kind).toBe('invalid');
  });
});

function fakeReq(
  remoteAddress: string | undefined,
  headers: Record<string, string> = {},
  encrypted = false,
): IncomingMessage {
  const socket = { remoteAddress, encrypted };
  return { socket, headers, rawHeaders: Object.entries(headers).flat() } as unknown as IncomingMessage;
}

describe('client and scheme', () => {
  it('trust lists: addresses, networks, *, IPv4-mapped IPv6', () => {
    const t = trustList(['10.0.0.0/8', '::1', '2001:db8::/32']);
    expect(t.has('10.1.2.3')).toBe(true);
    expect(t.has('11.0.0.1')).toBe(false);
    expect(t.has('::1')).toBe(true);
    expect(t.has('2001:db8::5')).toBe(true);
    expect(t.has('not an ip')).toBe(false);
    expect(trustList(['*']).has('8.8.8.8')).toBe(true);
    expect(normalizeAddress('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(normalizeAddress('::ffff:abcd')).toBe('::ffff:abcd');
  });

  it('X-Forwarded-For, right to left through trusted hops; ports and brackets; garbage stops the walk', () => {
    configureForwarding({
      forwardedAllowIps: ['127.0.0.1', '10.0.0.0/8'],
      secureSchemeHeaders: { 'X-FORWARDED-PROTO': 'https' },
    });
    const addr = (xff: string, peer = '127.0.0.1') =>
      resolveClientInfo(fakeReq(peer, { 'x-forwarded-for': xff }))!.address;
    expect(addr('203.0.113.1')).toBe('203.0.113.1');
    expect(addr('6.6.6.6, 203.0.113.1')).toBe('203.0.113.1');
    expect(addr('203.0.113.1, 10.0.0.2')).toBe('203.0.113.1');
    expect(addr('10.0.0.3, 10.0.0.2')).toBe('10.0.0.3');
    expect(addr('203.0.113.1:5555')).toBe('203.0.113.1');
    expect(addr('[2001:db8::1]:443')).toBe('2001:db8::1');
    expect(addr('2001:db8::1')).toBe('2001:db8::1');
    expect(addr('<script>')).toBe('127.0.0.1');
    expect(addr('203.0.113.1, bogus, 10.0.0.2')).toBe('10.0.0.2');
    expect(addr('203.0.113.1', '192.0.2.50')).toBe('192.0.2.50');
  });

  it('scheme: TLS, trusted headers, untrusted ignored, conflicts', () => {
    configureForwarding({
      forwardedAllowIps: ['127.0.0.1'],
      secureSchemeHeaders: { 'X-FORWARDED-PROTO': 'https', 'X-FORWARDED-SSL': 'on' },
    });
    expect(resolveClientInfo(fakeReq('127.0.0.1'))!.scheme).toBe('http');
    expect(resolveClientInfo(fakeReq('127.0.0.1', {}, true))!.scheme).toBe('https');
    expect(resolveClientInfo(fakeReq('127.0.0.1', { 'x-forwarded-proto': 'HTTPS' }))!.scheme).toBe('https');
    expect(resolveClientInfo(fakeReq('127.0.0.1', { 'x-forwarded-proto': 'http' }, true))!.scheme).toBe('http');
    expect(resolveClientInfo(fakeReq('8.8.8.8', { 'x-forwarded-proto': 'https' }))!.scheme).toBe('http');
    expect(
      resolveClientInfo(fakeReq('127.0.0.1', { 'x-forwarded-proto': 'https', 'x-forwarded-ssl': 'on' }))!.scheme,
    ).toBe('https');
    expect(
      resolveClientInfo(fakeReq('127.0.0.1', { 'x-forwarded-proto': 'https', 'x-forwarded-ssl': 'off' })),
    ).toBeNull();
    // Repeated fields are joined as Node joins them: "https, https" is not "https".
    const twice = {
      socket: { remoteAddress: '127.0.0.1' },
      rawHeaders: ['X-Forwarded-Proto', 'https', 'x-forwarded-proto', 'https'],
    } as unknown as IncomingMessage;
    expect(resolveClientInfo(twice)!.scheme).toBe('http');
    const xff2 = {
      socket: { remoteAddress: '127.0.0.1' },
      rawHeaders: ['X-Forwarded-For', '6.6.6.6', 'X-FORWARDED-FOR', '203.0.113.1'],
    } as unknown as IncomingMessage;
    expect(resolveClientInfo(xff2)!.address).toBe('203.0.113.1');
  });

  it('unix-socket peers are trusted; a PROXY header replaces the peer', () => {
    configureForwarding({ forwardedAllowIps: ['127.0.0.1'], secureSchemeHeaders: {} });
    expect(resolveClientInfo(fakeReq(undefined, { 'x-forwarded-for': '203.0.113.1' }))).toEqual({
      address: '203.0.113.1',
      scheme: 'http',
      peerAddress: '',
    });
    const req = fakeReq('127.0.0.1', { 'x-forwarded-for': '6.6.6.6' });
    setProxiedPeer(req.socket, { address: '198.51.100.9', port: 1 });
    expect(resolveClientInfo(req)).toEqual({ address: '198.51.100.9', scheme: 'http', peerAddress: '198.51.100.9' });
  });
});

function limitReq(method: string, url: string, raw: string[], minor = 1, major = 1): IncomingMessage {
  return {
    method,
    url,
    rawHeaders: raw,
    httpVersionMajor: major,
    httpVersionMinor: minor,
  } as unknown as IncomingMessage;
}

describe('request limits', () => {
  const defaults = { line: 4094, fields: 100, fieldSize: 8190 };

  it("Node's total head bound is what the limits allow together; 0 falls back to the largest values, capped at 64 MiB", () => {
    expect(parserOptions(defaults)).toEqual({ maxHeaderSize: 4096 + 100 * 8190 + 2, maxHeadersCount: 101 });
    expect(parserOptions({ line: 0, fields: 0, fieldSize: 0 })).toEqual({
      maxHeaderSize: 64 * 1024 * 1024,
      maxHeadersCount: 0,
    });
  });

  it('request line: method + target + 10 bytes', () => {
    const url = `/${'a'.repeat(4094 - 'GET / HTTP/1.1'.length)}`;
    expect(checkRequest(limitReq('GET', url, ['Host', 'x']), defaults)).toBeNull();
    expect(checkRequest(limitReq('GET', `${url}a`, ['Host', 'x']), defaults)?.status).toBe(414);
    expect(checkRequest(limitReq('GET', `${url}a`, ['Host', 'x']), { ...defaults, line: 0 })).toBeNull();
  });

  it('field count and field size (Name: value CRLF)', () => {
    const fields = (n: number) => ['Host', 'x', ...Array.from({ length: n - 1 }, (_, i) => [`X-${i}`, 'v']).flat()];
    expect(checkRequest(limitReq('GET', '/', fields(100)), defaults)).toBeNull();
    expect(checkRequest(limitReq('GET', '/', fields(101)), defaults)?.status).toBe(431);
    expect(checkRequest(limitReq('GET', '/', fields(101)), { ...defaults, fields: 0 })).toBeNull();
    const value = (bytes: number) => 'v'.repeat(bytes - 'X-Big: \r\n'.length);
    expect(checkRequest(limitReq('GET', '/', ['Host', 'x', 'X-Big', value(8190)]), defaults)).toBeNull();
    expect(checkRequest(limitReq('GET', '/', ['Host', 'x', 'X-Big', value(8191)]), defaults)?.status).toBe(431);
    expect(
      checkRequest(limitReq('GET', '/', ['Host', 'x', 'X-Big', value(8191)]), { ...defaults, fieldSize: 0 }),
    ).toBeNull();
  });

  it('Host: exactly one in HTTP/1.1, optional in 1.0; versions other than 1.x get 505', () => {
    expect(checkRequest(limitReq('GET', '/', []), defaults)?.status).toBe(400);
    expect(checkRequest(limitReq('GET', '/', [], 0), defaults)).toBeNull();
    expect(checkRequest(limitReq('GET', '/', ['Host', 'a', 'host', 'b']), defaults)?.status).toBe(400);
    expect(checkRequest(limitReq('GET', '/', ['Host', 'a'], 0, 2), defaults)?.status).toBe(505);
  });

  it('Host is uri-host [":" port] (RFC 9112 §3.2), in HTTP/1.0 too', () => {
    const goods = ['x', 'x:8080', 'x:', '', '127.0.0.1', '[::1]', '[::1]:80', 'a-b.c_d~e', '%41b', "x!$&'()*+,;="];
    for (const good of goods) {
      expect(checkRequest(limitReq('GET', '/', ['Host', good]), defaults), good).toBeNull();
    }
    for (const bad of ['a b', 'x/y', 'u@x', 'x?y', 'x#y', 'x:8o', 'x\\y', '[::1', '::1', '%4', 'x\ty', 'caf\xe9']) {
      expect(checkRequest(limitReq('GET', '/', ['Host', bad]), defaults)?.status, bad).toBe(400);
      expect(checkRequest(limitReq('GET', '/', ['Host', bad], 0), defaults)?.status, bad).toBe(400);
    }
    // Each verdict stands on its own, whatever value came before it (the last good one is remembered).
    for (const good of goods) {
      const bad = `${good} `;
      expect(checkRequest(limitReq('GET', '/', ['Host', good]), defaults), good).toBeNull();
      expect(checkRequest(limitReq('GET', '/', ['Host', bad]), defaults)?.status, bad).toBe(400);
      expect(checkRequest(limitReq('GET', '/', ['Host', bad]), defaults)?.status, bad).toBe(400);
      expect(checkRequest(limitReq('GET', '/', ['Host', good]), defaults), good).toBeNull();
    }
  });

  it('a Transfer-Encoding without a coding: 400 and close (llhttp would frame the request as having no body)', () => {
    for (const empty of ['', ',', ' , ']) {
      const rejection = checkRequest(limitReq('POST', '/', ['Host', 'x', 'Transfer-Encoding', empty]), defaults);
      expect(rejection, JSON.stringify(empty)).toMatchObject({ status: 400, badFraming: true });
    }
    expect(checkRequest(limitReq('POST', '/', ['Host', 'x', 'Transfer-Encoding', 'chunked']), defaults)).toBeNull();
  });

  it('Transfer-Encoding in HTTP/1.0, any spelling or coding: 400, bad framing (nothing more read); fine in 1.1', () => {
    const sent = [
      ['Transfer-Encoding', 'chunked'],
      ['transfer-encoding', 'identity'],
      ['Host', 'a', 'TRANSFER-ENCODING', 'x'],
    ];
    for (const raw of sent) {
      const rejection = checkRequest(limitReq('POST', '/', raw, 0), defaults);
      expect(rejection, raw.join(' ')).toMatchObject({ status: 400, badFraming: true });
    }
    const lookalike = ['Content-Length', '5', 'X-Transfer-Encodin', 'g'];
    expect(checkRequest(limitReq('POST', '/', lookalike, 0), defaults)).toBeNull();
    expect(checkRequest(limitReq('POST', '/', ['Host', 'a', 'Transfer-Encoding', 'chunked']), defaults)).toBeNull();
  });
});

describe('setting kinds', () => {
  it('addressList: comma-separated string or array; * ; CIDR; rejects junk', () => {
    const k = addressList();
    expect(k.parse('127.0.0.1, ::1,10.0.0.0/8')).toEqual({ ok: true, value: ['127.0.0.1', '::1', '10.0.0.0/8'] });
    expect(k.parse(['*'])).toEqual({ ok: true, value: ['*'] });
    expect(k.parse('')).toEqual({ ok: true, value: [] });
    for (const bad of ['localhost', '10.0.0.0/33', '::1/129', '1.2.3.4/x', 42])
      expect(k.parse(bad).ok, String(bad)).toBe(false);
    expect(k.show(['127.0.0.1', '::1'])).toBe('127.0.0.1,::1');
  });

  it('headerMap: NAME=VALUE pairs or an object; names upper-cased; empty is none', () => {
    const k = headerMap();
    expect(k.parse('X-Forwarded-Proto=https, X-Ssl=on')).toEqual({
      ok: true,
      value: { 'X-FORWARDED-PROTO': 'https', 'X-SSL': 'on' },
    });
    expect(k.parse({ 'x-proto': 'https' })).toEqual({ ok: true, value: { 'X-PROTO': 'https' } });
    expect(k.parse('')).toEqual({ ok: true, value: {} });
    for (const bad of ['novalue', 'bad name=x', { a: 1 }, ['x']])
      expect(k.parse(bad).ok, JSON.stringify(bad)).toBe(false);
  });

  it('umask: octal as the shell writes it, 0o, hex, decimal; unset', () => {
    const k = umask();
    expect(k.parse('022')).toEqual({ ok: true, value: 0o22 });
    expect(k.parse('0')).toEqual({ ok: true, value: 0 });
    expect(k.parse('0o007')).toEqual({ ok: true, value: 0o7 });
    expect(k.parse('0x12')).toEqual({ ok: true, value: 0x12 });
    expect(k.parse('18')).toEqual({ ok: true, value: 18 });
    expect(k.parse(0o27)).toEqual({ ok: true, value: 0o27 });
    expect(k.parse(null)).toEqual({ ok: true, value: null });
    for (const bad of ['0o1000', '089', '-1', 'abc']) expect(k.parse(bad).ok, bad).toBe(false);
    expect(k.show(0o22)).toBe('0o022');
  });
});
