/**
 * Serving: both app interfaces over TCP and a unix socket, the process tree,
 * spreading of new connections across workers, and every module flavour.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Server, cleanup, cmdline, get, start, tmpDir, waitFor } from './harness.js';

afterEach(cleanup);

async function distinctPids(url: string, n: number, socketPath?: string): Promise<Set<string>> {
  const pids = new Set<string>();
  for (let i = 0; i < n; i++) {
    const res = await get(url, { socketPath });
    expect(res.status).toBe(200);
    pids.add(res.body.trim().split(' ').pop()!);
  }
  return pids;
}

async function checkTree(s: Server, n: number): Promise<number[]> {
  // Workers are exactly the master's children, each titled as a worker.
  const workers = await waitFor(`${n} workers`, () => {
    const w = s.workers();
    return w.length === n ? w : null;
  });
  for (const pid of workers) expect(cmdline(pid)).toMatch(/^tsunicorn: worker \[/);
  expect(cmdline(s.pid)).toMatch(/^tsunicorn: master \[/);
  return workers;
}

describe.each([
  ['node', 'node-app.mjs', /^node \d+$/],
  ['fetch', 'fetch-app.mjs', /^fetch \d+$/],
])('%s interface with -w 3', (_name, app, bodyRe) => {
  it('answers over TCP; 3 workers; new connections spread over at least 2 of them', async () => {
    const s = start([app, '-w', '3', '-b', '127.0.0.1:0', '--log-level', 'debug']);
    const port = await s.port();
    await s.readyWorkers(3);
    const workers = await checkTree(s, 3);
    const res = await get(`http://127.0.0.1:${port}/`);
    expect(res.body.trim()).toMatch(bodyRe);
    const pids = await distinctPids(`http://127.0.0.1:${port}/`, 60);
    expect(pids.size).toBeGreaterThanOrEqual(2);
    for (const pid of pids) expect(workers).toContain(Number(pid));
  });

  it('answers over a unix socket, which is removed at exit', async () => {
    const dir = tmpDir();
    const sock = path.join(dir, 'app.sock');
    const s = start([app, '-w', '3', '-b', `unix:${sock}`, '--log-level', 'debug']);
    await s.waitLog(new RegExp(`Listening at: unix:${sock} \\(${s.pid}\\)`));
    await s.readyWorkers(3);
    await checkTree(s, 3);
    const pids = await distinctPids('http://localhost/', 60, sock);
    expect(pids.size).toBeGreaterThanOrEqual(2);
    s.signal('SIGTERM');
    expect((await s.waitExit()).code).toBe(0);
    expect(fs.existsSync(sock)).toBe(false);
  });
});

describe('module flavours', () => {
  it.each([
    [
      'TypeScript module with an enum',
      'ts-app.ts:handler',
      (b: string) => expect(JSON.parse(b).greeting).toBe('hello from typescript'),
    ],
    [
      'TypeScript module without extension',
      'ts-app:handler',
      (b: string) => expect(JSON.parse(b).greeting).toBe('hello from typescript'),
    ],
    ['CommonJS module.exports', 'cjs-app.cjs', (b: string) => expect(b).toMatch(/^cjs \d+/)],
    ['factory with an argument', "factory:create('x')", (b: string) => expect(b).toBe('factory x\n')],
    [
      'async factory returning a fetch object',
      "factory:createAsync('y', 2)",
      (b: string) => expect(b).toBe('async factory yy\n'),
    ],
  ])('%s serves', async (_name, spec, check) => {
    const s = start([spec, '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug']);
    const port = await s.port();
    await s.readyWorkers(1);
    const res = await get(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(200);
    check(res.body);
  });

  it('a request listener that throws answers 500 and the error is logged; the worker keeps serving', async () => {
    for (const app of ['node-app.mjs', 'fetch-app.mjs']) {
      const s = start([app, '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug']);
      const port = await s.port();
      await s.readyWorkers(1);
      const bad = await get(`http://127.0.0.1:${port}/boom`);
      expect(bad.status).toBe(500);
      await s.waitLog(/\[ERROR\] Error handling request GET \/boom: boom from/);
      expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(200);
      expect(s.countLog(/Booting worker/)).toBe(1);
      await s.kill();
    }
  });
});
