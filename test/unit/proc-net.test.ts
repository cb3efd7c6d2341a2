/** Parsing of /proc's socket tables: fd links, /proc/net/tcp{,6} rows in either byte order, /proc/net/unix. */
import { describe, expect, it } from 'vitest';
import { parseTcpRow, socketInode, tcpSocketAddress, unixSocketPath } from '../../src/arbiter/platform/proc-net.js';

describe('/proc parsing', () => {
  it('socketInode reads readlink /proc/self/fd/N', () => {
    expect(socketInode('socket:[2941612]')).toBe(2941612);
    expect(socketInode('pipe:[2941612]')).toBeNull();
    expect(socketInode('/dev/null')).toBeNull();
  });

  it('unixSocketPath finds a socket by inode; unnamed and abstract sockets have no path', () => {
    const text = [
      'Num       RefCount Protocol Flags    Type St Inode Path',
      '0000000000000000: 00000002 00000000 00010000 0001 01 2941612 /run/app dir/app.sock',
      '0000000000000000: 00000002 00000000 00010000 0001 01 2941613 @/org/abstract',
      '0000000000000000: 00000003 00000000 00000000 0001 03 2941614',
    ].join('\n');
    expect(unixSocketPath(text, 2941612)).toBe('/run/app dir/app.sock');
    expect(unixSocketPath(text, 2941613)).toBeNull();
    expect(unixSocketPath(text, 2941614)).toBeNull();
    expect(unixSocketPath(text, 1)).toBeUndefined();
  });

  it('tcpSocketAddress decodes addresses printed in host byte order, both endiannesses', () => {
    const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
    const v4 = `${header}\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1 0000000000000000 100 0 0 10 0`;
    expect(tcpSocketAddress(v4, 555, 4, 'LE')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(tcpSocketAddress(v4.replace('0100007F', '7F000001'), 555, 4, 'BE')).toEqual({
      host: '127.0.0.1',
      port: 8080,
    });
    expect(tcpSocketAddress(v4, 556, 4, 'LE')).toBeNull();
    const v6 = (hex: string) =>
      `${header}\n   0: ${hex}:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1`;
    expect(tcpSocketAddress(v6('00000000000000000000000000000000'), 777, 6, 'LE')).toEqual({ host: '::', port: 80 });
    expect(tcpSocketAddress(v6('00000000000000000000000001000000'), 777, 6, 'LE')).toEqual({ host: '::1', port: 80 });
    expect(tcpSocketAddress(v6('B80D0120000000000000000001000000'), 777, 6, 'LE')).toEqual({
      host: '2001:db8::1',
      port: 80,
    });
  });

  it('parseTcpRow: state, inode, loopback, and IPv4-mapped addresses as Node prints them', () => {
    const row = (hex: string, st = '0A') =>
      `   0: ${hex}:1F90 00000000:0000 ${st} 00000000:00000000 00:00000000 00000000     0        0 555 1`;
    expect(parseTcpRow(row('0100007F'), 4, 'LE')).toEqual({
      host: '127.0.0.1',
      port: 8080,
      inode: 555,
      listening: true,
      loopbackV4: true,
    });
    expect(parseTcpRow(row('0200007F', '01'), 4, 'LE')).toMatchObject({
      host: '127.0.0.2',
      listening: false,
      loopbackV4: false,
    });
    expect(parseTcpRow(row('0000000000000000FFFF00000100007F'), 6, 'LE')).toMatchObject({
      host: '::ffff:127.0.0.1',
      loopbackV4: true,
    });
    expect(parseTcpRow(row('00000000000000000000000001000000'), 6, 'LE')).toMatchObject({
      host: '::1',
      loopbackV4: false,
    });
    expect(parseTcpRow('  sl  local_address rem_address   st tx_queue', 4)).toBeNull();
    expect(parseTcpRow(row('0100007F'), 6, 'LE')).toBeNull();
  });
});
