/**
 * TLS: HTTPS with certificates generated at test time by the openssl CLI (a
 * CA, a server and a client certificate), client certificates, the
 * sslContext hook, a HUP picking up a renewed certificate, and the start-up
 * failures: a key that cannot be read or does not match is one line and exit
 * code 2 from the arbiter, with no worker started.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, runCli, start, tmpDir, waitFor } from './harness.js';

afterAll(cleanup);

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}
const OPENSSL = hasOpenssl();
if (!OPENSSL) console.log('hardening-tls: skipped: no openssl CLI on PATH to generate test certificates');

let dir = '';
const f = (name: string) => path.join(dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** An EC key and a certificate for `cn` signed by the test CA. */
function issue(name: string, cn: string, ext: string): void {
  fs.writeFileSync(f(`${name}.ext`), `${ext}\n`);
  openssl(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${cn}`,
  );
  openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
  );
}

beforeAll(() => {
  if (!OPENSSL) return;
  dir = tmpDir('tsu-tls-');
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=tsunicorn test CA',
  );
  issue('server', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost');
  issue('renewed', 'renewed.localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost');
  issue('client', 'test client', 'extendedKeyUsage=clientAuth');
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.key');
  fs.writeFileSync(f('not-pem.key'), 'this is not a key\n');
});

interface Got {
  status: number;
  body: string;
  cn: string;
}

function get(port: number, opts: https.RequestOptions = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path: '/whoami', ca: fs.readFileSync(f('ca.crt')), agent: false, ...opts },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          const cert = (res.socket as tls.TLSSocket).getPeerCertificate();
          resolve({ status: res.statusCode ?? 0, body, cn: String(cert?.subject?.CN ?? '') });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(!OPENSSL)('TLS', () => {
  it.each([
    ['node', 'hardening-app.mjs'],
    ['fetch', 'hardening-fetch.mjs'],
  ])('%s interface: HTTPS with the generated certificate; the app sees scheme https', async (iface, app) => {
    const s = start([
      app,
      '-w',
      '1',
      '-b',
      '127.0.0.1:0',
      '--certfile',
      f('server.crt'),
      '--keyfile',
      f('server.key'),
      '--log-level',
      'debug',
    ]);
    await s.waitLog(/Listening at: https:\/\/127\.0\.0\.1:\d+ \(/);
    const port = await s.port();
    await s.readyWorkers(1);
    const r = await get(port);
    expect(r.status).toBe(200);
    expect(r.cn).toBe('localhost');
    const body = JSON.parse(r.body) as Record<string, unknown>;
    expect(body).toMatchObject({ scheme: 'https', address: '127.0.0.1' });
    if (iface === 'fetch') expect(body.url).toBe(`https://127.0.0.1:${port}/whoami`);
    // Plain HTTP to the TLS port: a handshake failure, and the worker carries on.
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
    expect((await get(port)).status).toBe(200);
    expect(s.countLog(/Booting worker/)).toBe(1);
    await s.kill();
  });

  it('limits, malformed input and --headers-timeout apply over TLS too', async () => {
    const s = start([
      'hardening-app.mjs',
      '-w',
      '1',
      '-b',
      '127.0.0.1:0',
      '--certfile',
      f('server.crt'),
      '--keyfile',
      f('server.key'),
      '--headers-timeout',
      '1',
      '--log-level',
      'debug',
    ]);
    const port = await s.port();
    await s.readyWorkers(1);
    const raw = (data: string) =>
      new Promise<string>((resolve) => {
        const socket = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(f('ca.crt')) }, () =>
          socket.write(data),
        );
        let text = '';
        socket.on('data', (d) => (text += d.toString('latin1')));
        socket.on('close', () => resolve(text.split('\r\n')[0]!));
        socket.on('error', () => {});
      });
    expect(await raw(`GET /${'a'.repeat(5000)} HTTP/1.1\r\nHost: x\r\n\r\n`)).toBe('HTTP/1.1 414 URI Too Long');
    expect(await raw('GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request');
    expect(await raw('GET / HTTP/1.1\r\nHost: x\r\n')).toBe('HTTP/1.1 408 Request Timeout');
    expect(s.countLog(/Booting worker/)).toBe(1);
    await s.kill();
  });

  it('--cert-reqs required with --ca-certs: a client without a certificate is refused, one with a certificate from the CA is served', async () => {
    const s = start([
      'hardening-app.mjs',
      '-w',
      '1',
      '-b',
      '127.0.0.1:0',
      '--certfile',
      f('server.crt'),
      '--keyfile',
      f('server.key'),
      '--ca-certs',
      f('ca.crt'),
      '--cert-reqs',
      'required',
      '--log-level',
      'debug',
    ]);
    const port = await s.port();
    await s.readyWorkers(1);
    await expect(get(port)).rejects.toThrow();
    const r = await get(port, { cert: fs.readFileSync(f('client.crt')), key: fs.readFileSync(f('client.key')) });
    expect(r.status).toBe(200);
    await s.kill();
  });

  it('--cert-reqs optional: a client without a certificate is served too', async () => {
    const s = start([
      'hardening-app.mjs',
      '-w',
      '1',
      '-b',
      '127.0.0.1:0',
      '--certfile',
      f('server.crt'),
      '--keyfile',
      f('server.key'),
      '--ca-certs',
      f('ca.crt'),
      '--cert-reqs',
      '1',
      '--log-level',
      'debug',
    ]);
    const port = await s.port();
    await s.readyWorkers(1);
    expect((await get(port)).status).toBe(200);
    await s.kill();
  });

  it('the sslContext hook adjusts the options in the workers (TLS 1.3 only)', async () => {
    const config = f('tls13.config.mjs');
    fs.writeFileSync(config, "export default { sslContext(settings, options) { options.minVersion = 'TLSv1.3'; } };\n");
    const s = start([
      'hardening-app.mjs',
      '-c',
      config,
      '-w',
      '1',
      '-b',
      '127.0.0.1:0',
      '--certfile',
      f('server.crt'),
      '--keyfile',
      f('server.key'),
      '--log-level',
      'debug',
    ]);
    const port = await s.port();
    await s.readyWorkers(1);
    expect((await get(port)).status).toBe(200);
    await expect(get(port, { maxVersion: 'TLSv1.2' })).rejects.toThrow();
    await s.kill();
  });

  it('HUP re-reads the certificate: new connections get the renewed one', async () => {
    const work = tmpDir('tsu-tls-hup-');
    fs.copyFileSync(f('server.crt'), path.join(work, 'cert.pem'));
    fs.copyFileSync(f('server.key'), path.join(work, 'key.pem'));
    const s = start([
      'hardening-app.mjs',
      '-w',
      '1',
      '-b',
      '127.0.0.1:0',
      '--certfile',
      path.join(work, 'cert.pem'),
      '--keyfile',
      path.join(work, 'key.pem'),
      '--log-level',
      'debug',
    ]);
    const port = await s.port();
    await s.readyWorkers(1);
    expect((await get(port)).cn).toBe('localhost');
    fs.copyFileSync(f('renewed.crt'), path.join(work, 'cert.pem'));
    fs.copyFileSync(f('renewed.key'), path.join(work, 'key.pem'));
    s.signal('SIGHUP');
    await s.readyWorkers(2);
    await waitFor('the renewed certificate', async () => (await get(port)).cn === 'renewed.localhost');
    await s.kill();
  });

  describe('start-up failures: one line, exit code 2, no worker', () => {
    const cases: [string, () => string[], RegExp][] = [
      [
        'a key file that does not exist',
        () => ['--certfile', f('server.crt'), '--keyfile', f('missing.key')],
        /cannot read --keyfile .*missing\.key: ENOENT/,
      ],
      [
        'a certificate file that does not exist',
        () => ['--certfile', f('missing.crt'), '--keyfile', f('server.key')],
        /cannot read --certfile .*missing\.crt: ENOENT/,
      ],
      [
        'a key that does not match the certificate',
        () => ['--certfile', f('server.crt'), '--keyfile', f('other.key')],
        /--keyfile .*other\.key does not match --certfile/,
      ],
      [
        'a key file that is not PEM',
        () => ['--certfile', f('server.crt'), '--keyfile', f('not-pem.key')],
        /not a valid PEM file/,
      ],
      [
        'a bad cipher list',
        () => ['--certfile', f('server.crt'), '--keyfile', f('server.key'), '--ciphers', 'NOT-A-CIPHER'],
        /--ciphers "NOT-A-CIPHER"/,
      ],
      [
        '--proxy-protocol with TLS',
        () => ['--certfile', f('server.crt'), '--keyfile', f('server.key'), '--proxy-protocol'],
        /--proxy-protocol cannot be combined with --certfile/,
      ],
    ];
    it.each(cases)('%s', async (_name, args, message) => {
      const r = await runCli(['hardening-app.mjs', '-w', '2', '-b', '127.0.0.1:0', ...args()]);
      expect(r.code, r.stderr).toBe(2);
      const errors = r.stderr.split('\n').filter((l) => /\[ERROR\]|\[CRITICAL\]|error:/.test(l));
      expect(errors, r.stderr).toHaveLength(1);
      expect(errors[0]).toMatch(message);
      expect(r.stderr).not.toMatch(/Booting worker|Listening at|\n\s+at /);
    });

    it('an sslContext hook that throws', async () => {
      const config = f('throws.config.mjs');
      fs.writeFileSync(config, "export default { sslContext() { throw new Error('no TLS today'); } };\n");
      const r = await runCli([
        'hardening-app.mjs',
        '-c',
        config,
        '-b',
        '127.0.0.1:0',
        '--certfile',
        f('server.crt'),
        '--keyfile',
        f('server.key'),
      ]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/the sslContext hook threw: no TLS today/);
      expect(r.stderr).not.toMatch(/Booting worker/);
    });
  });
});
