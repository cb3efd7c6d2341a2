/**
 * Failing well: each startup failure with its exit code and one clear line,
 * and never a fork loop.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, cleanup, medianMs, notDelayedBound, runCli, tmpDir } from './harness.js';

afterEach(cleanup);

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => /\[ERROR\]|error:/.test(l));

describe('bind failure', () => {
  it('a taken port: one line naming the address, exit 1 at once (no bind retries), no worker started', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      // Baseline: starting and exiting at once, on this box now. Retrying the bind (Gunicorn sleeps 1 s
      // between five tries) would add seconds.
      const baseline = await medianMs(3, () => runCli(['--version']));
      const t0 = performance.now();
      const r = await runCli(['node-app.mjs', '-w', '2', '-b', `127.0.0.1:${port}`]);
      const elapsed = performance.now() - t0;
      expect(r.code).toBe(1);
      expect(elapsed, `${elapsed.toFixed(0)} ms; --version ${baseline.toFixed(0)} ms`).toBeLessThanOrEqual(
        notDelayedBound(baseline, 4000),
      );
      expect(errorLines(r.stderr)).toEqual([
        expect.stringContaining(`cannot bind http://127.0.0.1:${port}: address already in use (EADDRINUSE)`),
      ]);
      expect(r.stderr).not.toMatch(/Booting worker/);
    } finally {
      blocker.close();
    }
  });

  it('an address this host does not have: exit 1, one line', async () => {
    const r = await runCli(['node-app.mjs', '-b', '192.0.2.1:8000']);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toEqual([
      expect.stringContaining('cannot bind http://192.0.2.1:8000: address not available on this host'),
    ]);
  });
});

describe('app failures', () => {
  it.each([
    ['module not found', 'no-such-module.mjs', 4, /cannot find app module "no-such-module.mjs"/],
    [
      'no default export',
      'no-default.mjs',
      4,
      /app module no-default.mjs has no default export; name one as no-default.mjs:EXPORT \(exports: notTheApp\)/,
    ],
    [
      'named export missing',
      'node-app.mjs:nothere',
      4,
      /app module node-app.mjs has no export "nothere" \(exports: default\)/,
    ],
    ['export is not an app', 'not-an-app.mjs', 4, /not-an-app.mjs is number, not an app/],
    [
      'module throws at import',
      'throws-at-import.mjs',
      3,
      /throws-at-import.mjs failed to import: this app is broken at import/,
    ],
    ['factory called on a non-function', "no-default.mjs:notTheApp('x')", 4, /is called as a factory but is number/],
  ])('%s (%s): exit %d, the cause printed once, no fork loop', async (_name, spec, code, re) => {
    const r = await runCli([spec, '-w', '3', '-b', '127.0.0.1:0']);
    expect(r.code).toBe(code);
    expect(r.stderr.split('\n').filter((l) => re.test(l))).toHaveLength(1);
    // Each of the 3 workers booted once; none was respawned.
    expect(r.stderr.match(/Booting worker/g)?.length ?? 0).toBeLessThanOrEqual(3);
    expect(r.stderr).toMatch(code === 4 ? /Reason: App failed to load\./ : /Reason: Worker failed to boot\./);
  });

  it('--check-config loads config and app: exit 0 when good, the load error when not', async () => {
    const good = await runCli(['node-app.mjs', '--check-config']);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/Config OK; app node-app.mjs loads as a node handler/);
    const bad = await runCli(['no-default.mjs', '--check-config']);
    expect(bad.code).toBe(4);
    expect(bad.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^tsunicorn: error: app module no-default.mjs has no default export/),
    ]);
    const broken = await runCli(['throws-at-import.mjs', '--check-config']);
    expect(broken.code).toBe(3);
  });
});

describe('usage and config errors: exit 2 with one line', () => {
  it.each([
    [
      ['node-app.mjs', '-w', 'abc'],
      /^tsunicorn: error: invalid value for --workers: "abc" \(expected an integer from 1 to 1024, or auto\)$/,
    ],
    [
      ['node-app.mjs', '-w', '0'],
      /^tsunicorn: error: invalid value for --workers: "0" \(expected an integer from 1 to 1024, or auto\)$/,
    ],
    [
      ['node-app.mjs', '-b', '127.0.0.1:99999'],
      /^tsunicorn: error: invalid value for --bind: .*port must be a number from 0 to 65535/,
    ],
    [
      ['node-app.mjs', '-k', 'gevent'],
      /^tsunicorn: error: invalid value for --worker-class: "gevent" \(expected one of async/,
    ],
    [
      ['node-app.mjs', '--timeout', '-3'],
      /^tsunicorn: error: invalid value for --timeout: "-3" \(expected a number of seconds >= 0\)$/,
    ],
    [['node-app.mjs', '--frobnicate', '3'], /^tsunicorn: error: unknown option --frobnicate \(see tsunicorn --help\)$/],
    [['node-app.mjs', '-w'], /^tsunicorn: error: option --workers needs a value$/],
    [[], /^tsunicorn: error: no app given/],
    [['node-app.mjs', 'second-app.mjs'], /^tsunicorn: error: expected one MODULE\[:EXPORT\], got 2/],
    [['node-app.mjs', '-c', 'missing.config.mjs'], /^tsunicorn: error: config file missing.config.mjs does not exist$/],
  ])('%j', async (args, re) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(re)]);
  });

  it('a bad value in TSUNICORN_CMD_ARGS names its origin', async () => {
    const r = await runCli(['node-app.mjs'], { env: { TSUNICORN_CMD_ARGS: '--workers many' } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'tsunicorn: error: TSUNICORN_CMD_ARGS: invalid value for --workers: "many" (expected an integer from 1 to 1024, or auto)',
    );
  });

  it('a bad value and an unknown key in a config file name the file, the key, the value and what is allowed', async () => {
    const dir = tmpDir();
    fs.copyFileSync(path.join(FIXTURES, 'node-app.mjs'), path.join(dir, 'node-app.mjs'));
    fs.writeFileSync(path.join(dir, 'tsunicorn.config.mjs'), 'export default { workers: "lots" };\n');
    const bad = await runCli(['node-app.mjs'], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe(
      'tsunicorn: error: tsunicorn.config.mjs: invalid value for workers: "lots" (expected an integer from 1 to 1024, or auto)',
    );

    fs.writeFileSync(path.join(dir, 'tsunicorn.config.mjs'), 'export default { worker_connections: 10 };\n');
    const unknown = await runCli(['node-app.mjs'], { cwd: dir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toBe(
      'tsunicorn: error: tsunicorn.config.mjs: unknown setting "worker_connections" (did you mean workerConnections?)',
    );

    fs.writeFileSync(path.join(dir, 'tsunicorn.config.mjs'), 'export default { workers: ;\n');
    const syntax = await runCli(['node-app.mjs'], { cwd: dir });
    expect(syntax.code).toBe(2);
    expect(syntax.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^tsunicorn: error: cannot load .*tsunicorn.config.mjs: Unexpected token/),
    ]);
  });
});

describe('one-shot modes', () => {
  it('--version and --help', async () => {
    const v = await runCli(['--version']);
    expect(v.code).toBe(0);
    const pkg = JSON.parse(fs.readFileSync(path.join(FIXTURES, '..', '..', 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(v.stdout.trim()).toBe(`tsunicorn (version ${pkg.version})`);
    const h = await runCli(['--help']);
    expect(h.code).toBe(0);
    for (const section of ['Server socket:', 'Worker processes:', 'Logging:']) expect(h.stdout).toContain(section);
    expect(h.stdout).toMatch(/-w, --workers/);
  });
});
