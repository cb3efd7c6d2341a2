import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlServer } from '../../src/arbiter/control/server.js';
import type { Logger } from '../../src/log/logger.js';

const warnings: string[] = [];
const log = { warning: (m: string) => warnings.push(m) } as unknown as Logger;
const dirs: string[] = [];

async function serve(): Promise<{ server: ControlServer; file: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsu-ctl-server-'));
  dirs.push(dir);
  const file = path.join(dir, 'control.sock');
  const server = await ControlServer.listen(file, (_request, reply) => reply({ ok: true, message: 'pong' }), log);
  if (!server) throw new Error(`no control server: ${warnings.join('; ')}`);
  return { server, file };
}

/** A connected client that has had one answer, and a promise of its connection's end. */
async function client(file: string): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  const socket = net.connect(file);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.write('{"cmd":"status"}\n');
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  return { socket, closed };
}

const settled = async (p: Promise<unknown>) => {
  let done = false;
  void p.then(() => {
    done = true;
  });
  await new Promise((r) => setTimeout(r, 50));
  return done;
};

afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('ControlServer close and destroy', () => {
  it('close() removes the file at once and resolves when the open connection ends; twice is one close', async () => {
    const { server, file } = await serve();
    const { socket, closed } = await client(file);
    const first = server.close();
    const second = server.close();
    expect(fs.existsSync(file)).toBe(false);
    expect(await settled(first)).toBe(false);
    socket.end();
    await closed;
    await Promise.all([first, second]);
    await server.destroy();
  });

  it('destroy() drops open connections at once, and settles a close still under way', async () => {
    const { server, file } = await serve();
    const { closed } = await client(file);
    const closing = server.close();
    expect(await settled(closing)).toBe(false);
    await server.destroy();
    await closed;
    await closing;
    expect(fs.existsSync(file)).toBe(false);
  });

  it('close() with no connection resolves at once', async () => {
    const { server, file } = await serve();
    await server.close();
    expect(fs.existsSync(file)).toBe(false);
  });
});
