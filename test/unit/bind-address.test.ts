import { describe, expect, it } from 'vitest';
import {
  type BindAddress,
  DEFAULT_PORT,
  bindText,
  formatBind,
  hostPortText,
  parseBind,
} from '../../src/config/bind-address.js';

const ok = (raw: string): BindAddress => {
  const r = parseBind(raw);
  if (!r.ok) throw new Error(`parseBind(${JSON.stringify(raw)}) failed: ${r.problem}`);
  return r.address;
};
const problem = (raw: string): string => {
  const r = parseBind(raw);
  if (r.ok) throw new Error(`parseBind(${JSON.stringify(raw)}) unexpectedly gave ${JSON.stringify(r.address)}`);
  return r.problem;
};

describe('parseBind: accepted forms', () => {
  it.each([
    ['127.0.0.1:8000', { kind: 'tcp', host: '127.0.0.1', port: 8000, family: 4 }],
    ['0.0.0.0:0', { kind: 'tcp', host: '0.0.0.0', port: 0, family: 4 }],
    ['localhost:65535', { kind: 'tcp', host: 'localhost', port: 65535, family: 0 }],
    ['my-host.example.com:80', { kind: 'tcp', host: 'my-host.example.com', port: 80, family: 0 }],
    [':9000', { kind: 'tcp', host: '0.0.0.0', port: 9000, family: 4 }],
    ['  127.0.0.1:8001  ', { kind: 'tcp', host: '127.0.0.1', port: 8001, family: 4 }],
  ] as const)('HOST:PORT %s', (raw, want) => {
    expect(ok(raw)).toEqual(want);
  });

  it('a bare host gets port 8000, as Gunicorn', () => {
    expect(DEFAULT_PORT).toBe(8000);
    expect(ok('localhost')).toEqual({ kind: 'tcp', host: 'localhost', port: 8000, family: 0 });
    expect(ok('10.1.2.3')).toEqual({ kind: 'tcp', host: '10.1.2.3', port: 8000, family: 4 });
  });

  it('bare digits are a port on all IPv4 interfaces', () => {
    expect(ok('9000')).toEqual({ kind: 'tcp', host: '0.0.0.0', port: 9000, family: 4 });
    expect(ok('0')).toEqual({ kind: 'tcp', host: '0.0.0.0', port: 0, family: 4 });
  });

  it('bracketed IPv6 with and without a port', () => {
    expect(ok('[::1]:8080')).toEqual({ kind: 'tcp', host: '::1', port: 8080, family: 6 });
    expect(ok('[::]:0')).toEqual({ kind: 'tcp', host: '::', port: 0, family: 6 });
    expect(ok('[::1]')).toEqual({ kind: 'tcp', host: '::1', port: 8000, family: 6 });
    expect(ok('[fe80::1:2]:1')).toEqual({ kind: 'tcp', host: 'fe80::1:2', port: 1, family: 6 });
  });

  it('tcp:// prefix', () => {
    expect(ok('tcp://0.0.0.0:80')).toEqual({ kind: 'tcp', host: '0.0.0.0', port: 80, family: 4 });
    expect(ok('tcp://[::1]:81')).toEqual({ kind: 'tcp', host: '::1', port: 81, family: 6 });
    expect(ok('tcp://localhost')).toEqual({ kind: 'tcp', host: 'localhost', port: 8000, family: 0 });
  });

  it('unix:PATH and unix://PATH', () => {
    expect(ok('unix:/tmp/app.sock')).toEqual({ kind: 'unix', path: '/tmp/app.sock' });
    expect(ok('unix:///tmp/app.sock')).toEqual({ kind: 'unix', path: '/tmp/app.sock' });
    expect(ok('unix:relative.sock')).toEqual({ kind: 'unix', path: 'relative.sock' });
    expect(ok('unix://relative.sock')).toEqual({ kind: 'unix', path: 'relative.sock' });
  });

  it('fd://N', () => {
    expect(ok('fd://3')).toEqual({ kind: 'fd', fd: 3 });
    expect(ok('fd://0')).toEqual({ kind: 'fd', fd: 0 });
  });
});

describe('parseBind: rejected forms', () => {
  it('a port above 65535', () => {
    expect(problem('127.0.0.1:65536')).toMatch(/port must be a number from 0 to 65535/);
    expect(problem('127.0.0.1:99999')).toContain('"99999"');
    expect(problem('70000')).toMatch(/0 to 65535/);
    expect(problem('[::1]:65536')).toMatch(/0 to 65535/);
  });

  it('a non-numeric or missing port', () => {
    expect(problem('localhost:http')).toMatch(/port must be a number/);
    expect(problem('localhost:-1')).toMatch(/port must be a number/);
    expect(problem('localhost:')).toMatch(/port must be a number/);
    expect(problem('[::1]:')).toMatch(/port must be a number/);
    expect(problem('[::1]:abc')).toMatch(/port must be a number/);
  });

  it('unbracketed IPv6, with or without a port', () => {
    expect(problem('::1:8000')).toMatch(/IPv6 address in brackets/);
    expect(problem('fe80::1')).toMatch(/brackets/);
  });

  it('broken brackets', () => {
    expect(problem('[::1:8000')).toMatch(/closing \]/);
    expect(problem('[127.0.0.1]:80')).toMatch(/not an IPv6 address/);
    expect(problem('[::1]8000')).toMatch(/expected :PORT after \]/);
  });

  it('empty input', () => {
    expect(problem('')).toBe('an empty address');
    expect(problem('   ')).toBe('an empty address');
  });

  it('unix: with no path', () => {
    expect(problem('unix:')).toMatch(/needs a socket path/);
    expect(problem('unix://')).toMatch(/needs a socket path/);
  });

  it('fd:// without a number', () => {
    expect(problem('fd://x')).toMatch(/file descriptor number/);
    expect(problem('fd://')).toMatch(/file descriptor number/);
    expect(problem('fd://-1')).toMatch(/file descriptor number/);
    expect(problem('fd://3.5')).toMatch(/file descriptor number/);
  });

  it('bad host characters', () => {
    expect(problem('bad host:80')).toMatch(/not an IP address or host name/);
    expect(problem('under_score:80')).toMatch(/not an IP address or host name/);
    expect(problem('-leading:80')).toMatch(/not an IP address or host name/);
    expect(problem('trailing.:80')).toMatch(/not an IP address or host name/);
    expect(problem('a/b')).toMatch(/not an IP address or host name/);
  });
});

describe('formatBind', () => {
  it('formats as an operator reads it in logs', () => {
    expect(formatBind(ok('127.0.0.1:8000'))).toBe('http://127.0.0.1:8000');
    expect(formatBind(ok('[::1]:8080'))).toBe('http://[::1]:8080');
    expect(formatBind(ok('localhost'))).toBe('http://localhost:8000');
    expect(formatBind(ok('9000'), 'https')).toBe('https://0.0.0.0:9000');
    expect(formatBind(ok('unix:///tmp/a.sock'))).toBe('unix:/tmp/a.sock');
    expect(formatBind(ok('fd://5'))).toBe('fd://5');
  });

  it('bindText is the --bind value, and hostPortText the HOST:PORT the metrics endpoints print', () => {
    expect(bindText(ok('127.0.0.1:8000'))).toBe('127.0.0.1:8000');
    expect(bindText(ok('[::1]:8080'))).toBe('[::1]:8080');
    expect(bindText(ok('unix:/tmp/a.sock'))).toBe('unix:/tmp/a.sock');
    expect(hostPortText({ host: '::ffff:127.0.0.1', port: 9100 })).toBe('[::ffff:127.0.0.1]:9100');
    expect(hostPortText({ host: 'statsd', port: 8125 })).toBe('statsd:8125');
  });

  it.each([
    '127.0.0.1:8000',
    '0.0.0.0:0',
    'localhost:1234',
    'localhost',
    '[::1]:8080',
    '[::]',
    '9000',
    'tcp://[fe80::1]:443',
    'unix:/tmp/app.sock',
    'unix://rel/app.sock',
    'fd://3',
  ])('round trips %s through formatBind(…, "tcp") and parseBind', (raw) => {
    const address = ok(raw);
    const text = formatBind(address, 'tcp');
    expect(ok(text)).toEqual(address);
    expect(formatBind(ok(text), 'tcp')).toBe(text);
  });
});
