/**
 * Logs through the real CLI: the access log in Gunicorn's default format and
 * with every atom, field by field; rename + USR1 under load loses and
 * duplicates nothing; --log-format json makes every line of a run JSON;
 * --capture-output puts what workers print into the error log.
 */
import fs from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, cleanup, get, runCli, start, tmpDir, waitFor } from './harness.js';
import { describeFailures, failedCount, runLoad } from './load.js';

afterEach(cleanup);

const lines = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

describe('access log', () => {
  it("Gunicorn's default format, field by field", async () => {
    const dir = tmpDir();
    const access = path.join(dir, 'access.log');
    const s = start(['node-app.mjs', '-b', '127.0.0.1:0', '--access-logfile', access, '--log-level', 'debug']);
    const port = await s.port();
    await s.readyWorkers(1);
    const before = Date.now();
    const res = await request(`http://127.0.0.1:${port}/hello?x=1&y=2`, {
      headers: {
        'user-agent': 'test "agent"/1.0',
        referer: 'http://example.test/from',
        authorization: `Basic ${Buffer.from('alice:secret').toString('base64')}`,
      },
    });
    const body = await res.body.text();
    const [line] = await waitFor('one access line', () => (lines(access).length === 1 ? lines(access) : null));
    const m =
      /^(\S+) (\S+) (\S+) \[(\d\d)\/(\w{3})\/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-]\d{4})\] "(.*)" (\d{3}) (\S+) "(.*)" "(.*)"$/.exec(
        line!,
      );
    expect(m, line).not.toBeNull();
    const [, h, l, u, day, mon, year, , , , , r, status, bytes, referer, agent] = m!;
    expect(h).toBe('127.0.0.1');
    expect(l).toBe('-');
    expect(u).toBe('alice');
    const d = new Date(before);
    expect(Number(day)).toBe(d.getDate());
    expect(mon).toBe(
      ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getMonth()],
    );
    expect(Number(year)).toBe(d.getFullYear());
    expect(r).toBe('GET /hello?x=1&y=2 HTTP/1.1');
    expect(status).toBe('200');
    expect(Number(bytes)).toBe(Buffer.byteLength(body));
    expect(referer).toBe('http://example.test/from');
    expect(agent).toBe('test \\"agent\\"/1.0');
  });

  it('a format with every atom, field by field; missing values print -', async () => {
    const dir = tmpDir();
    const access = path.join(dir, 'access.log');
    const format = [
      'h=%(h)s',
      'l=%(l)s',
      'u=%(u)s',
      't=%(t)s',
      'r="%(r)s"',
      'm=%(m)s',
      'U=%(U)s',
      'q=%(q)s',
      'H=%(H)s',
      's=%(s)s',
      'B=%(B)s',
      'b=%(b)s',
      'f=%(f)s',
      'a="%(a)s"',
      'T=%(T)s',
      'M=%(M)s',
      'D=%(D)s',
      'L=%(L)s',
      'p=%(p)s',
      'in=%({x-request-id}i)s',
      'out=%({x-worker-pid}o)s',
      'env=%({TSU_TEST_VAR}e)s',
      'none=%({x-absent}i)s',
    ].join('|');
    const s = start([
      'node-app.mjs',
      '-b',
      '127.0.0.1:0',
      '--access-logfile',
      access,
      '--access-logformat',
      format,
      '-e',
      'TSU_TEST_VAR=from-env',
      '--log-level',
      'debug',
    ]);
    const port = await s.port();
    await s.readyWorkers(1);
    const res = await request(`http://127.0.0.1:${port}/slow?ms=120`, {
      headers: { 'x-request-id': 'req-42', 'user-agent': 'ua/1' },
    });
    const body = await res.body.text();
    const [line] = await waitFor('one access line', () => (lines(access).length === 1 ? lines(access) : null));
    const f = Object.fromEntries(
      line!.split('|').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    const workerPid = String(res.headers['x-worker-pid']);
    expect(f).toMatchObject({
      h: '127.0.0.1',
      l: '-',
      u: '-',
      r: '"GET /slow?ms=120 HTTP/1.1"',
      m: 'GET',
      U: '/slow',
      q: 'ms=120',
      H: 'HTTP/1.1',
      s: '200',
      B: String(Buffer.byteLength(body)),
      b: String(Buffer.byteLength(body)),
      f: '-',
      a: '"ua/1"',
      p: `<${workerPid}>`,
      in: 'req-42',
      out: workerPid,
      env: 'from-env',
      none: '-',
    });
    expect(f.t).toMatch(/^\[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]$/);
    // The request waited 120 ms: the four duration atoms agree with that and with each other.
    expect(Number(f.T)).toBe(0);
    expect(Number(f.M)).toBeGreaterThanOrEqual(120);
    expect(Number(f.M)).toBeLessThan(2000);
    expect(Math.floor(Number(f.D) / 1000)).toBe(Number(f.M));
    expect(Math.abs(Number(f.L) * 1000 - Number(f.M))).toBeLessThan(1);
  });

  it('an unknown atom is a usage error', async () => {
    const r = await runCli(['node-app.mjs', '--access-logformat', '%(h)s %(Z)s']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'tsunicorn: error: invalid value for --access-logformat: "%(h)s %(Z)s" (expected unknown access-log atom %(Z)s)',
    );
  });

  it('rename + USR1 during 2000 requests: every request logged exactly once across the two files', async () => {
    const dir = tmpDir();
    const access = path.join(dir, 'access.log');
    const s = start([
      'node-app.mjs',
      '-w',
      '2',
      '-b',
      '127.0.0.1:0',
      '--access-logfile',
      access,
      '--access-logformat',
      '%(q)s',
      '--log-level',
      'debug',
    ]);
    const port = await s.port();
    await s.readyWorkers(2);
    let n = 0;
    const client = async () => {
      while (n < 2000) {
        const i = n++;
        const r = await request(`http://127.0.0.1:${port}/?i=${i}`);
        await r.body.text();
      }
    };
    const clients = Promise.all(Array.from({ length: 10 }, client));
    await waitFor('some requests logged', () => lines(access).length > 300);
    fs.renameSync(access, `${access}.1`);
    s.signal('SIGUSR1');
    await clients;
    const logged = await waitFor('2000 lines across the two files', () => {
      const all = [...lines(`${access}.1`), ...lines(access)];
      return all.length >= 2000 ? all : null;
    });
    expect(logged).toHaveLength(2000);
    const seen = new Set(logged.map((l) => l.replace(/^i=/, '')));
    expect(seen.size).toBe(2000);
    for (let i = 0; i < 2000; i++) expect(seen.has(String(i))).toBe(true);
    // Both files got lines: the reopen happened mid-run.
    expect(lines(`${access}.1`).length).toBeGreaterThan(0);
    expect(lines(access).length).toBeGreaterThan(0);
  }, 60_000);
});

describe('--log-format json', () => {
  it('every line of a whole run (boot, requests, HUP, stop) parses as JSON, error and access log alike', async () => {
    const s = start([
      'node-app.mjs',
      '-w',
      '2',
      '-b',
      '127.0.0.1:0',
      '--log-format',
      'json',
      '--access-logfile',
      '-',
      '--log-level',
      'debug',
    ]);
    await waitFor('json Listening line', () => s.lines.some((l) => l.includes('Listening at: http')));
    const port = Number(/:(\d+) \(/.exec(s.lines.find((l) => l.includes('Listening at'))!)![1]);
    await waitFor('2 ready', () => s.lines.filter((l) => l.includes('is ready')).length >= 2);
    const load = await runLoad({ url: `http://127.0.0.1:${port}/`, concurrency: 5, durationMs: 500, keepAlive: true });
    expect(failedCount(load), describeFailures(load)).toBe(0);
    expect((await get(`http://127.0.0.1:${port}/boom`)).status).toBe(500);
    s.signal('SIGHUP');
    await waitFor('4 ready', () => s.lines.filter((l) => l.includes('is ready')).length >= 4);
    s.signal('SIGTERM');
    expect((await s.waitExit()).code).toBe(0);
    const errorLines = s.lines.filter(Boolean);
    const accessLines = s.stdout.filter(Boolean);
    expect(errorLines.length).toBeGreaterThan(10);
    expect(accessLines.length).toBe(load.total + 1);
    for (const l of errorLines) {
      const o = JSON.parse(l) as Record<string, unknown>;
      expect(o).toMatchObject({
        level: expect.any(String),
        time: expect.any(String),
        pid: expect.any(Number),
        msg: expect.any(String),
      });
    }
    for (const l of accessLines) {
      expect(JSON.parse(l)).toMatchObject({
        type: 'access',
        method: 'GET',
        status: expect.any(Number),
        duration_ms: expect.any(Number),
      });
    }
    expect(errorLines.some((l) => JSON.parse(l).level === 'error' && JSON.parse(l).msg.includes('boom'))).toBe(true);
  }, 30_000);
});

describe('--capture-output', () => {
  it("workers' console output goes to the error log as log lines with the worker's pid", async () => {
    const dir = tmpDir();
    fs.writeFileSync(
      path.join(dir, 'noisy.mjs'),
      "console.log('hello at import');\nexport default (req, res) => { console.error(`handling ${req.url}`); res.end(String(process.pid)); };\n",
    );
    const s = start(
      ['noisy.mjs', '-b', '127.0.0.1:0', '--capture-output', '--access-logfile', '-', '--log-level', 'debug'],
      { cwd: dir },
    );
    const port = await s.port();
    await s.readyWorkers(1);
    const pid = (await get(`http://127.0.0.1:${port}/x`)).body;
    await s.waitLog(new RegExp(`\\[${pid}\\] \\[INFO\\] hello at import$`));
    await s.waitLog(new RegExp(`\\[${pid}\\] \\[ERROR\\] handling /x$`));
    // The access log still goes to stdout, not into the error log.
    await waitFor('access line on stdout', () => s.stdout.some((l) => l.includes('"GET /x HTTP/1.1" 200')));
    expect(s.lines.some((l) => l.includes('GET /x HTTP/1.1'))).toBe(false);
  });

  it('without it, worker output goes straight to the terminal (stdout stays stdout)', async () => {
    const dir = tmpDir();
    fs.copyFileSync(path.join(FIXTURES, 'node-app.mjs'), path.join(dir, 'node-app.mjs'));
    fs.writeFileSync(
      path.join(dir, 'noisy.mjs'),
      "console.log('plain stdout line');\nexport default (req, res) => res.end('ok');\n",
    );
    const s = start(['noisy.mjs', '-b', '127.0.0.1:0', '--log-level', 'debug'], { cwd: dir });
    await s.readyWorkers(1);
    await waitFor('raw stdout line', () => s.stdout.includes('plain stdout line'));
  });
});
