/**
 * The framework examples (examples/), run with the exact command lines of docs/frameworks.md (a free
 * port in place of 8000) under -w 2: a route, a JSON body round trip, a 404, and a thrown error that
 * comes back as a 500 and shows in the log, with the worker still serving afterwards.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, cleanup, get, start, tmpDir, waitFor } from './harness.js';

afterEach(cleanup);

/** What each example answers at `/`, and the log line its /boom error must produce. */
const EXPECTED: Record<string, { framework: string; errorLog: RegExp }> = {
  'examples/express/app.mjs:app': {
    framework: 'express',
    errorLog: /^express: error handling GET \/boom: Error: boom from express/,
  },
  'examples/koa/app.mjs': { framework: 'koa', errorLog: /^koa: error handling GET \/boom: Error: boom from koa/ },
  'examples/koa/app.mjs:handler': {
    framework: 'koa',
    errorLog: /^koa: error handling GET \/boom: Error: boom from koa/,
  },
  'examples/fastify/app.mjs:create()': {
    framework: 'fastify',
    errorLog: /^fastify: error handling GET \/boom: Error: boom from fastify/,
  },
  'examples/hono/app.mjs': { framework: 'hono', errorLog: /^hono: error handling GET \/boom: Error: boom from hono/ },
  'examples/fetch/app.mjs': {
    framework: 'fetch',
    errorLog: /\[ERROR\] Error handling request GET \/boom: boom from fetch/,
  },
  'examples/cjs/app.cjs': { framework: 'cjs', errorLog: /\[ERROR\] Error handling request GET \/boom: boom from cjs/ },
};

/** Splits a shell command line on spaces, honouring double quotes (all the docs use). */
function shellWords(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

/** The `node bin/tsunicorn.js …` lines of docs/frameworks.md whose app is one of EXPECTED. */
function documentedCommands(): { line: string; spec: string; args: string[] }[] {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'frameworks.md'), 'utf8');
  return doc
    .split('\n')
    .filter((l) => l.startsWith('node bin/tsunicorn.js '))
    .map((line) => {
      const words = shellWords(line).slice(2);
      return { line, spec: words[0]!, args: words };
    })
    .filter((c) => c.spec in EXPECTED);
}

const commands = documentedCommands();

describe('docs/frameworks.md', () => {
  it('has a command line for every framework example', () => {
    expect(commands.map((c) => c.spec).sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const c of commands) expect(c.line).toMatch(/ -w 2 -b 127\.0\.0\.1:8000$/);
  });
});

describe.each(commands)('$line', ({ spec, args }) => {
  it('serves a route, round-trips JSON, answers 404, and turns a thrown error into a logged 500', async () => {
    const { framework, errorLog } = EXPECTED[spec]!;
    const argv = args.map((a) => (a === '127.0.0.1:8000' ? '127.0.0.1:0' : a));
    const s = start([...argv, '--log-level', 'debug'], { cwd: ROOT });
    const port = await s.port();
    await s.readyWorkers(2);
    const workers = s.workers();
    expect(workers).toHaveLength(2);
    const base = `http://127.0.0.1:${port}`;

    const home = await get(`${base}/`);
    expect(home.status).toBe(200);
    const info = JSON.parse(home.body) as { framework: string; pid: number };
    expect(info.framework).toBe(framework);
    expect(workers).toContain(info.pid);

    const payload = { name: 'tsunicorn', list: [1, 2.5, null, true], nested: { 'clé ü': 'värde ✓' } };
    const echo = await fetch(`${base}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    });
    expect(echo.status).toBe(200);
    expect(echo.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await echo.json()).toEqual({ echo: payload });

    expect((await get(`${base}/no/such/route`)).status).toBe(404);

    const boom = await get(`${base}/boom`);
    expect(boom.status).toBe(500);
    await s.waitLog(errorLog);

    // Nothing crashed: the same two workers serve on.
    expect((await get(`${base}/`)).status).toBe(200);
    expect(s.workers().sort()).toEqual(workers.sort());
    expect(s.countLog(/Booting worker/)).toBe(2);
  });
});

describe('framework error logging with --capture-output', () => {
  it("a framework's console.error lands in --error-logfile as an ERROR line of the worker", async () => {
    const logFile = path.join(tmpDir(), 'error.log');
    const s = start(
      [
        'examples/express/app.mjs:app',
        '-w',
        '2',
        '-b',
        '127.0.0.1:0',
        '--capture-output',
        '--error-logfile',
        logFile,
        '--log-level',
        'debug',
      ],
      { cwd: ROOT },
    );
    await waitFor(
      'the server to listen',
      () =>
        fs.existsSync(logFile) && /Listening at: http:\/\/127\.0\.0\.1:(\d+)/.test(fs.readFileSync(logFile, 'utf8')),
    );
    const port = Number(fs.readFileSync(logFile, 'utf8').match(/Listening at: http:\/\/127\.0\.0\.1:(\d+)/)![1]);
    await waitFor('2 ready workers', () => (fs.readFileSync(logFile, 'utf8').match(/is ready$/gm) ?? []).length >= 2);
    expect((await get(`http://127.0.0.1:${port}/boom`)).status).toBe(500);
    await waitFor('the error in the error log', () =>
      /\[\d+\] \[ERROR\] express: error handling GET \/boom: Error: boom from express$/m.test(
        fs.readFileSync(logFile, 'utf8'),
      ),
    );
    expect(s.workers()).toHaveLength(2);
  });
});
