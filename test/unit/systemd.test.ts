import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { bindText, parseBind } from '../../src/config/bind-address.js';
import {
  type ActivatedSocket,
  activatedBinds,
  describeFd,
  listenFds,
  removeListenFdsEnv,
} from '../../src/arbiter/platform/socket-activation.js';
import type { BindAddress } from '../../src/config/bind-address.js';

describe('describeFd on real sockets of this process', () => {
  const servers: net.Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });
  const listen = (arg: { port: number; host: string } | { path: string }) =>
    new Promise<{ fd: number; server: net.Server }>((resolve, reject) => {
      const server = net.createServer();
      servers.push(server);
      server.once('error', reject);
      server.listen(arg, () => resolve({ fd: (server as unknown as { _handle: { fd: number } })._handle.fd, server }));
    });

  it('a TCP listener on 127.0.0.1', async () => {
    const { fd, server } = await listen({ port: 0, host: '127.0.0.1' });
    expect(describeFd(fd)).toEqual({
      kind: 'tcp',
      host: '127.0.0.1',
      port: (server.address() as net.AddressInfo).port,
      family: 4,
    });
  });

  it.skipIf(!fs.readFileSync('/proc/net/if_inet6', 'utf8').includes(' lo'))('a TCP listener on ::1', async () => {
    const { fd, server } = await listen({ port: 0, host: '::1' });
    expect(describeFd(fd)).toEqual({
      kind: 'tcp',
      host: '::1',
      port: (server.address() as net.AddressInfo).port,
      family: 6,
    });
  });

  it('a unix socket, by its path', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsu-unit-')), 'x.sock');
    const { fd } = await listen({ path: file });
    expect(describeFd(fd)).toEqual({ kind: 'unix', path: file });
  });

  it('an fd that is not a socket is shown by number', () => {
    const fd = fs.openSync('/dev/null', 'r');
    try {
      expect(describeFd(fd)).toEqual({ kind: 'fd', fd });
    } finally {
      fs.closeSync(fd);
    }
  });
});

describe('listenFds (sd_listen_fds) and removeListenFdsEnv', () => {
  const describe3 = (fd: number): BindAddress =>
    fd === 3 ? { kind: 'tcp', host: '0.0.0.0', port: 80, family: 4 } : { kind: 'unix', path: '/run/app.sock' };

  it('takes fds 3.. when LISTEN_PID is this process, with names, and clears the variables', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_FDS: '2', LISTEN_PID: '42', LISTEN_FDNAMES: 'web:', OTHER: 'x' };
    expect(listenFds(env, 42, describe3)).toEqual([
      { fd: 3, address: { kind: 'tcp', host: '0.0.0.0', port: 80, family: 4 }, bind: '0.0.0.0:80', name: 'web' },
      { fd: 4, address: { kind: 'unix', path: '/run/app.sock' }, bind: 'unix:/run/app.sock', name: null },
    ]);
    removeListenFdsEnv(env);
    expect(env).toEqual({ OTHER: 'x' });
  });

  it.each<[NodeJS.ProcessEnv, string]>([
    [{ LISTEN_FDS: '1', LISTEN_PID: '43' }, 'another pid'],
    [{ LISTEN_FDS: '1' }, 'no LISTEN_PID'],
    [{ LISTEN_FDS: 'x', LISTEN_PID: '42' }, 'a malformed count'],
    [{ LISTEN_FDS: '0', LISTEN_PID: '42' }, 'zero sockets'],
  ])('ignores %j (%s), and still clears the variables', (vars, _why) => {
    const env: NodeJS.ProcessEnv = { ...vars };
    expect(listenFds(env, 42, describe3)).toEqual([]);
    removeListenFdsEnv(env);
    expect(env).toEqual({});
  });
});

describe('activatedBinds: mapping --bind onto activated sockets', () => {
  const sock = (fd: number, bind: string): ActivatedSocket => {
    const r = parseBind(bind);
    if (!r.ok) throw new Error(r.problem);
    return { fd, address: r.address, bind, name: null };
  };
  const tcp = sock(3, '127.0.0.1:8080');
  const any6 = sock(4, '[::]:9090');
  const unix = sock(5, 'unix:/run/app.sock');

  it('changes nothing without activated sockets', async () => {
    expect(await activatedBinds(['127.0.0.1:8000'], false, [])).toEqual({ binds: ['127.0.0.1:8000'], warnings: [] });
  });

  it('without an explicit --bind, serves exactly the activated sockets, in order', async () => {
    expect(await activatedBinds(['127.0.0.1:8000'], false, [tcp, any6, unix])).toEqual({
      binds: ['127.0.0.1:8080', '[::]:9090', 'unix:/run/app.sock'],
      warnings: [],
    });
  });

  it('matches by address: same host and port, wildcards alike, host names resolved, unix by path, fd://N by number', async () => {
    const cwd = process.cwd();
    const rel = path.relative(cwd, '/run/app.sock');
    const out = await activatedBinds(['localhost:8080', '0.0.0.0:9090', `unix:${rel}`], true, [tcp, any6, unix]);
    expect(out).toEqual({ binds: ['127.0.0.1:8080', '[::]:9090', 'unix:/run/app.sock'], warnings: [] });
    expect((await activatedBinds(['fd://4'], true, [tcp, any6])).binds).toEqual(['[::]:9090', '127.0.0.1:8080']);
  });

  it('binds what matches nothing, and serves unmatched activated sockets too, with a warning', async () => {
    const out = await activatedBinds(['127.0.0.1:8081', '127.0.0.1:0', 'unix:/run/other.sock'], true, [tcp, unix]);
    expect(out.binds).toEqual([
      '127.0.0.1:8081',
      '127.0.0.1:0',
      'unix:/run/other.sock',
      '127.0.0.1:8080',
      'unix:/run/app.sock',
    ]);
    expect(out.warnings).toEqual([
      'Socket from systemd (fd 3, 127.0.0.1:8080) matches no --bind; serving on it as well',
      'Socket from systemd (fd 5, unix:/run/app.sock) matches no --bind; serving on it as well',
    ]);
  });

  it('bindText round-trips through parseBind', () => {
    for (const b of ['127.0.0.1:8080', '[::]:9090', '[2001:db8::1]:1', 'unix:/run/app.sock', 'fd://7']) {
      const r = parseBind(b);
      expect(r.ok && bindText(r.address)).toBe(b);
    }
  });
});
