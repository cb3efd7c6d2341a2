/**
 * Proxies: X-Forwarded-For and the secure-scheme headers are honoured only
 * from --forwarded-allow-ips peers (127.0.0.2 here, connected to with
 * net.connect({ localAddress: '127.0.0.2' })) and ignored from anyone else;
 * both app interfaces see the result. PROXY protocol v1 and v2 from
 * --proxy-allow-from peers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, cleanup, start } from './harness.js';
import { sendRaw } from './raw.js';

afterAll(cleanup);

const TRUSTED = '127.0.0.2';
const UNTRUSTED = '127.0.0.1';

function whoami(extra = '', target = '/whoami'): string {
  return `GET ${target} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n${extra}\r\n`;
}

async function json(port: number, bytes: string | Buffer, localAddress = UNTRUSTED): Promise<Record<string, unknown>> {
  const r = await sendRaw(port, bytes, { localAddress });
  expect(r.statuses, r.text).toEqual([200]);
  return JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
}

async function serve(args: string[]): Promise<{ s: Server; port: number }> {
  const s = start([...args, '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug']);
  const port = await s.port();
  await s.readyWorkers(1);
  return { s, port };
}

describe.each([
  ['node', 'hardening-app.mjs'],
  ['fetch', 'hardening-fetch.mjs'],
])('%s interface, --forwarded-allow-ips 127.0.0.2', (iface, app) => {
  let port: number;
  beforeAll(async () => {
    ({ port } = await serve([app, '--forwarded-allow-ips', TRUSTED]));
  });

  it('from the trusted peer: X-Forwarded-For gives the client, X-Forwarded-Proto the scheme', async () => {
    const body = await json(port, whoami('X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n'), TRUSTED);
    expect(body).toMatchObject({ address: '203.0.113.9', scheme: 'https', peerAddress: TRUSTED });
    if (iface === 'fetch') expect(body.url).toBe('https://app.test/whoami');
  });

  it('from the trusted peer: the rightmost untrusted hop is the client, not what the client wrote on the left', async () => {
    const body = await json(port, whoami('X-Forwarded-For: 6.6.6.6, 203.0.113.9\r\n'), TRUSTED);
    expect(body).toMatchObject({ address: '203.0.113.9', scheme: 'http' });
  });

  it('from an untrusted peer: both headers are ignored', async () => {
    const body = await json(port, whoami('X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n'), UNTRUSTED);
    expect(body).toMatchObject({ address: UNTRUSTED, scheme: 'http', peerAddress: UNTRUSTED });
    if (iface === 'fetch') expect(body.url).toBe('http://app.test/whoami');
  });

  it('without headers, the client is the peer', async () => {
    expect(await json(port, whoami(), TRUSTED)).toMatchObject({ address: TRUSTED, scheme: 'http' });
  });
});

describe('--secure-scheme-headers and --forwarded-allow-ips *', () => {
  it('a custom scheme header counts, the default ones no longer do', async () => {
    const { port } = await serve([
      'hardening-app.mjs',
      '--forwarded-allow-ips',
      '*',
      '--secure-scheme-headers',
      'X-Scheme=https',
    ]);
    expect(await json(port, whoami('X-Scheme: https\r\n'))).toMatchObject({ scheme: 'https' });
    expect(await json(port, whoami('X-Forwarded-Proto: https\r\n'))).toMatchObject({ scheme: 'http' });
    // Every hop trusted: the leftmost address.
    expect(await json(port, whoami('X-Forwarded-For: 198.51.100.1, 203.0.113.9\r\n'))).toMatchObject({
      address: '198.51.100.1',
    });
  });
});

/** A PROXY v2 header for a TCP4 client. */
function proxyV2(src: string, srcPort: number, dst = '127.0.0.1', dstPort = 80, command = 0x21): Buffer {
  const sig = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  const addr = Buffer.alloc(12);
  for (const [i, o] of src.split('.').entries()) addr[i] = Number(o);
  for (const [i, o] of dst.split('.').entries()) addr[4 + i] = Number(o);
  addr.writeUInt16BE(srcPort, 8);
  addr.writeUInt16BE(dstPort, 10);
  return Buffer.concat([sig, Buffer.from([command, 0x11, 0, 12]), addr]);
}

describe('--proxy-protocol --proxy-allow-from 127.0.0.2', () => {
  let port: number;
  let s: Server;
  beforeAll(async () => {
    ({ s, port } = await serve(['hardening-app.mjs', '--proxy-protocol', '--proxy-allow-from', TRUSTED]));
  });

  it('v1 from an allowed peer: the address in the header is the client', async () => {
    const body = await json(port, `PROXY TCP4 203.0.113.7 127.0.0.1 56324 80\r\n${whoami()}`, TRUSTED);
    expect(body).toMatchObject({ address: '203.0.113.7', peerAddress: '203.0.113.7' });
  });

  it('v1 for an IPv6 client', async () => {
    const body = await json(port, `PROXY TCP6 2001:db8::7 ::1 56324 80\r\n${whoami()}`, TRUSTED);
    expect(body).toMatchObject({ address: '2001:db8::7' });
  });

  it('v2 from an allowed peer, with the request in the same write', async () => {
    const body = await json(port, Buffer.concat([proxyV2('198.51.100.23', 40000), Buffer.from(whoami())]), TRUSTED);
    expect(body).toMatchObject({ address: '198.51.100.23' });
  });

  it('v2 LOCAL (a health check from the balancer): the connection’s own address', async () => {
    const body = await json(
      port,
      Buffer.concat([proxyV2('0.0.0.0', 0, '0.0.0.0', 0, 0x20), Buffer.from(whoami())]),
      TRUSTED,
    );
    expect(body).toMatchObject({ address: TRUSTED });
  });

  it('pipelined keep-alive requests after the header all see its client', async () => {
    const req = 'GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n';
    const r = await sendRaw(port, `PROXY TCP4 203.0.113.8 127.0.0.1 5 80\r\n${req}${req}${whoami()}`, {
      localAddress: TRUSTED,
    });
    expect(r.statuses).toEqual([200, 200, 200]);
    expect(r.text.match(/"address":"203\.0\.113\.8"/g)).toHaveLength(3);
  });

  it('the header is optional, as in Gunicorn: plain HTTP from an allowed peer is served', async () => {
    expect(await json(port, whoami(), TRUSTED)).toMatchObject({ address: TRUSTED });
  });

  it('a PROXY header from a peer not allowed is not believed (400: not HTTP)', async () => {
    const r = await sendRaw(port, `PROXY TCP4 203.0.113.7 127.0.0.1 56324 80\r\n${whoami()}`, {
      localAddress: UNTRUSTED,
    });
    expect(r.statuses).toEqual([400]);
    expect(r.closed).toBe(true);
  });

  it('a malformed header from an allowed peer gets 400 and a close', async () => {
    for (const bad of [
      'PROXY TCP4 1.2.3 127.0.0.1 1 2\r\n',
      'PROXY TCP9 1.2.3.4 1.2.3.4 1 2\r\n',
      `PROXY ${'x'.repeat(200)}`,
    ]) {
      const r = await sendRaw(port, `${bad}${whoami()}`, { localAddress: TRUSTED });
      expect(r.statuses, bad).toEqual([400]);
      expect(r.closed).toBe(true);
    }
    expect(s.countLog(/Booting worker/)).toBe(1);
  });

  it('X-Forwarded-For from the PROXY-named client is ignored unless that client is trusted', async () => {
    const body = await json(
      port,
      `PROXY TCP4 203.0.113.7 127.0.0.1 5 80\r\n${whoami('X-Forwarded-For: 6.6.6.6\r\n')}`,
      TRUSTED,
    );
    expect(body).toMatchObject({ address: '203.0.113.7' });
  });
});
