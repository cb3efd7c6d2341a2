import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ResolveInput, printConfig, resolveConfig } from '../../src/config/resolve.js';
import { defaults } from '../../src/config/settings.js';
import { TsuError } from '../../src/errors.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory holding the given files. */
function project(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-resolve-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

const resolve = (cwd: string, argv: string[] = [], env: NodeJS.ProcessEnv = {}) =>
  resolveConfig({ argv, env, cwd } satisfies ResolveInput);

/** The TsuError a promise rejects with; fails the test on anything else. */
async function tsuError(promise: Promise<unknown>): Promise<TsuError> {
  const err = await promise.then(
    (v) => {
      throw new Error(`expected a TsuError, resolved with ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TsuError);
  return err as TsuError;
}

/** One `key = value` line of --print-config output. */
const line = (printed: string, key: string): string | undefined =>
  printed.split('\n').find((l) => l.startsWith(`${key} `) || l.startsWith(`${key}=`));

describe('resolveConfig: precedence', () => {
  it('with nothing given, every setting has its default and no config file is loaded', async () => {
    const dir = project();
    const { settings, configFile } = await resolve(dir);
    expect(configFile).toBeNull();
    expect(settings).toEqual(defaults({}));
  });

  it('defaults < config file < TSUNICORN_CMD_ARGS < command line, per setting', async () => {
    const dir = project({
      'tsunicorn.config.json': JSON.stringify({ workers: 2, timeout: 10, keepAlive: 7, backlog: 100 }),
    });
    const env = { TSUNICORN_CMD_ARGS: '--workers 3 --timeout 20 --log-level warn', WEB_CONCURRENCY: '6', PORT: '9000' };
    const { settings, configFile } = await resolve(dir, ['-w', '4', 'app:handler'], env);
    expect(configFile).toBe(path.join(dir, 'tsunicorn.config.json'));
    expect(settings.workers).toBe(4); // CLI beats env args, file and $WEB_CONCURRENCY
    expect(settings.timeout).toBe(20); // env args beat the file
    expect(settings.logLevel).toBe('warning');
    expect(settings.keepAlive).toBe(7); // file beats the default
    expect(settings.backlog).toBe(100);
    expect(settings.bind).toEqual(['0.0.0.0:9000']); // default from $PORT
    expect(settings.gracefulTimeout).toBe(30); // untouched default
    expect(settings.app).toBe('app:handler');
    expect(settings.config).toBe(configFile);
  });

  it('a config file beats the environment fallbacks', async () => {
    const dir = project({ 'tsunicorn.config.json': JSON.stringify({ workers: 2, bind: '127.0.0.1:7000' }) });
    const { settings } = await resolve(dir, [], { WEB_CONCURRENCY: '6', PORT: '9000' });
    expect(settings.workers).toBe(2);
    expect(settings.bind).toEqual(['127.0.0.1:7000']);
  });

  it('a repeated list flag collects values and replaces the file list; a repeated scalar flag takes the last', async () => {
    const dir = project({ 'tsunicorn.config.json': JSON.stringify({ bind: ['unix:/tmp/x.sock'] }) });
    const { settings } = await resolve(dir, ['-b', '127.0.0.1:1', '--bind', '[::1]:2', '-w', '2', '-w', '5']);
    expect(settings.bind).toEqual(['127.0.0.1:1', '[::1]:2']);
    expect(settings.workers).toBe(5);
  });

  it('-w auto, "auto" in a config file and WEB_CONCURRENCY=auto resolve to auto; --print-config shows it', async () => {
    expect((await resolve(project(), ['-w', 'auto'])).settings.workers).toBe('auto');
    expect((await resolve(project({ 'tsunicorn.config.json': '{"workers":"auto"}' }))).settings.workers).toBe('auto');
    const { settings } = await resolve(project(), [], { WEB_CONCURRENCY: 'auto' });
    expect(line(printConfig(settings), 'workers')).toMatch(/^workers +? = auto$/);
    expect((await resolve(project(), ['-w', 'auto', '-w', '3'])).settings.workers).toBe(3);
  });

  it('printConfig shows the resolved values, one sorted `key = value` line per setting', async () => {
    const dir = project({ 'tsunicorn.config.json': JSON.stringify({ workers: 2, timeout: 10, keepAlive: 7 }) });
    const { settings } = await resolve(dir, ['--timeout', '1.5', '-b', '127.0.0.1:1', '-b', 'unix:/tmp/s'], {
      TSUNICORN_CMD_ARGS: '-w 3',
    });
    const printed = printConfig(settings);
    const lines = printed.split('\n');
    expect(lines).toHaveLength(Object.keys(settings).length);
    const keys = lines.map((l) => l.split('=')[0]!.trim());
    expect(keys).toEqual([...keys].sort());
    expect(line(printed, 'workers')).toMatch(/^workers +? = 3$/);
    expect(line(printed, 'timeout')).toMatch(/^timeout += 1\.5$/);
    expect(line(printed, 'keepAlive')).toMatch(/^keepAlive += 7$/);
    expect(line(printed, 'bind')).toMatch(/^bind += {1,2}127\.0\.0\.1:1, unix:\/tmp\/s$/);
    expect(line(printed, 'pid')).toMatch(/^pid += {1,2}None$/);
    const width = Math.max(...Object.keys(settings).map((k) => k.length));
    expect(line(printed, 'config')).toBe(
      `config${' '.repeat(width - 'config'.length)} = ${path.join(dir, 'tsunicorn.config.json')}`,
    );
    // The `=` signs line up.
    expect(new Set(lines.map((l) => l.indexOf(' = '))).size).toBe(1);
  });
});

describe('resolveConfig: config file discovery', () => {
  it('tsunicorn.config.json', async () => {
    const dir = project({ 'tsunicorn.config.json': '{ "workers": 3 }' });
    expect((await resolve(dir)).settings.workers).toBe(3);
  });

  it('tsunicorn.config.mjs', async () => {
    const dir = project({ 'tsunicorn.config.mjs': 'export default { workers: 4, bind: ["127.0.0.1:1"] };\n' });
    const { settings, configFile } = await resolve(dir);
    expect(configFile).toBe(path.join(dir, 'tsunicorn.config.mjs'));
    expect(settings.workers).toBe(4);
    expect(settings.bind).toEqual(['127.0.0.1:1']);
  });

  it('tsunicorn.config.cjs', async () => {
    const dir = project({ 'tsunicorn.config.cjs': 'module.exports = { workers: 5 };\n' });
    expect((await resolve(dir)).settings.workers).toBe(5);
  });

  it('tsunicorn.config.ts with type annotations', async () => {
    const dir = project({
      'tsunicorn.config.ts':
        'interface C { workers: number }\nconst w: number = 3;\nexport default { workers: w } satisfies C;\n',
    });
    const { settings, configFile } = await resolve(dir);
    expect(configFile).toBe(path.join(dir, 'tsunicorn.config.ts'));
    expect(settings.workers).toBe(3);
  });

  it('the "tsunicorn" key of package.json', async () => {
    const dir = project({ 'package.json': JSON.stringify({ name: 'x', tsunicorn: { workers: 6, app: 'srv:app' } }) });
    const { settings, configFile } = await resolve(dir);
    expect(configFile).toBe(path.join(dir, 'package.json'));
    expect(settings.workers).toBe(6);
    expect(settings.app).toBe('srv:app');
  });

  it('a package.json without the key is skipped for a config file', async () => {
    const dir = project({ 'package.json': JSON.stringify({ name: 'x' }), 'tsunicorn.config.json': '{ "workers": 7 }' });
    const { settings, configFile } = await resolve(dir);
    expect(configFile).toBe(path.join(dir, 'tsunicorn.config.json'));
    expect(settings.workers).toBe(7);
  });

  it('-c PATH loads that file (relative to cwd) instead of discovering one', async () => {
    const dir = project({
      'tsunicorn.config.json': '{ "workers": 2 }',
      'other.mjs': 'export default { workers: 9 };\n',
    });
    const { settings, configFile } = await resolve(dir, ['-c', 'other.mjs']);
    expect(configFile).toBe(path.join(dir, 'other.mjs'));
    expect(settings.workers).toBe(9);
    expect(settings.config).toBe(path.join(dir, 'other.mjs'));
  });

  it('-c can come from TSUNICORN_CMD_ARGS', async () => {
    const dir = project({ 'alt.json': '{ "workers": 8 }' });
    const { settings } = await resolve(dir, [], { TSUNICORN_CMD_ARGS: '-c alt.json' });
    expect(settings.workers).toBe(8);
  });

  it('a config file exporting a function (defineConfig(() => ({...})) style), sync or async', async () => {
    const sync = project({
      'tsunicorn.config.mjs':
        'const defineConfig = (c) => c;\nexport default defineConfig(() => ({ workers: 2, timeout: 3 }));\n',
    });
    expect((await resolve(sync)).settings).toMatchObject({ workers: 2, timeout: 3 });
    const async_ = project({
      'tsunicorn.config.ts': 'export default async (): Promise<{ workers: number }> => ({ workers: 11 });\n',
    });
    expect((await resolve(async_)).settings.workers).toBe(11);
  });

  it('an empty default export sets nothing (discovery skips it) and is no error when named with -c', async () => {
    const dir = project({ 'tsunicorn.config.mjs': 'export default undefined;\n' });
    expect((await resolve(dir)).settings).toEqual(defaults({}));
    const { settings, configFile } = await resolve(dir, ['-c', 'tsunicorn.config.mjs']);
    expect(configFile).toBe(path.join(dir, 'tsunicorn.config.mjs'));
    expect(settings.workers).toBe(1);
  });
});

describe('resolveConfig: re-reading (HUP)', () => {
  it.each([
    ['tsunicorn.config.mjs', (n: number) => `export default { workers: ${n} };\n`],
    ['tsunicorn.config.cjs', (n: number) => `module.exports = { workers: ${n} };\n`],
    ['tsunicorn.config.ts', (n: number) => `const w: number = ${n};\nexport default { workers: w };\n`],
    ['tsunicorn.config.json', (n: number) => `{ "workers": ${n} }`],
  ])('%s edited between two resolves gives the new value', async (name, body) => {
    const dir = project({ [name]: body(2) });
    expect((await resolve(dir)).settings.workers).toBe(2);
    writeFileSync(path.join(dir, name), body(3));
    expect((await resolve(dir)).settings.workers).toBe(3);
    writeFileSync(path.join(dir, name), body(4));
    expect((await resolve(dir)).settings.workers).toBe(4);
  });

  it('a config file added after the first resolve is found by the next', async () => {
    const dir = project();
    expect((await resolve(dir)).configFile).toBeNull();
    writeFileSync(path.join(dir, 'tsunicorn.config.mjs'), 'export default { workers: 5 };\n');
    expect((await resolve(dir)).settings.workers).toBe(5);
  });
});

describe('resolveConfig: errors', () => {
  it('-c to a missing file is TSU_ERR_CONFIG_LOAD naming the file', async () => {
    const dir = project();
    const err = await tsuError(resolve(dir, ['-c', 'nope.json']));
    expect(err.code).toBe('TSU_ERR_CONFIG_LOAD');
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain('nope.json');
  });

  it('a config file that throws or does not parse is TSU_ERR_CONFIG_LOAD naming the file', async () => {
    const throwing = project({ 'tsunicorn.config.mjs': 'throw new Error("boom in config");\n' });
    const err = await tsuError(resolve(throwing));
    expect(err.code).toBe('TSU_ERR_CONFIG_LOAD');
    expect(err.message).toContain('tsunicorn.config.mjs');
    expect(err.message).toContain('boom in config');

    const badJson = project({ 'tsunicorn.config.json': '{ workers: ' });
    const err2 = await tsuError(resolve(badJson));
    expect(err2.code).toBe('TSU_ERR_CONFIG_LOAD');
    expect(err2.message).toContain('tsunicorn.config.json');
  });

  it('a config that is not an object is TSU_ERR_CONFIG_LOAD', async () => {
    const dir = project({ 'tsunicorn.config.json': '[1, 2]' });
    const err = await tsuError(resolve(dir));
    expect(err.code).toBe('TSU_ERR_CONFIG_LOAD');
    expect(err.message).toMatch(/tsunicorn\.config\.json: the config must be an object/);
  });

  it('an unknown key in the file is TSU_ERR_UNKNOWN_SETTING with a "did you mean" hint', async () => {
    const dir = project({ 'tsunicorn.config.json': JSON.stringify({ worker_connections: 10 }) });
    const err = await tsuError(resolve(dir));
    expect(err.code).toBe('TSU_ERR_UNKNOWN_SETTING');
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe(
      'tsunicorn.config.json: unknown setting "worker_connections" (did you mean workerConnections?)',
    );
  });

  it('an unknown key with no close match has no hint', async () => {
    const dir = project({ 'tsunicorn.config.json': JSON.stringify({ zzz: 1 }) });
    const err = await tsuError(resolve(dir));
    expect(err.code).toBe('TSU_ERR_UNKNOWN_SETTING');
    expect(err.message).toBe('tsunicorn.config.json: unknown setting "zzz"');
  });

  it('a key named like an Object.prototype member is an unknown setting, not a crash', async () => {
    // `key in SETTINGS` finds "toString" and "constructor" on the prototype chain.
    for (const key of ['toString', 'constructor', 'hasOwnProperty']) {
      const dir = project({ 'tsunicorn.config.json': JSON.stringify({ [key]: 1 }) });
      const err = await tsuError(resolve(dir));
      expect(err.code, key).toBe('TSU_ERR_UNKNOWN_SETTING');
      expect(err.message, key).toContain(`unknown setting "${key}"`);
    }
  });

  it('a command-line-only setting in the file is refused, naming its flag', async () => {
    const dir = project({ 'tsunicorn.config.json': JSON.stringify({ printConfig: true }) });
    const err = await tsuError(resolve(dir));
    expect(err.code).toBe('TSU_ERR_UNKNOWN_SETTING');
    expect(err.message).toBe(
      'tsunicorn.config.json: printConfig can only be given on the command line (--print-config)',
    );
  });

  it('a bad value in the file is TSU_ERR_INVALID_SETTING naming the key, the value and what is allowed', async () => {
    const dir = project({ 'tsunicorn.config.json': JSON.stringify({ workers: 'many' }) });
    const err = await tsuError(resolve(dir));
    expect(err.code).toBe('TSU_ERR_INVALID_SETTING');
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe(
      'tsunicorn.config.json: invalid value for workers: "many" (expected an integer from 1 to 1024, or auto)',
    );

    const dir2 = project({ 'tsunicorn.config.mjs': 'export default { bind: ["127.0.0.1:99999"] };\n' });
    const err2 = await tsuError(resolve(dir2));
    expect(err2.code).toBe('TSU_ERR_INVALID_SETTING');
    expect(err2.message).toMatch(
      /^tsunicorn\.config\.mjs: invalid value for bind: \["127\.0\.0\.1:99999"\] \(expected port must be/,
    );
  });

  it('a bad command-line value names the flag', async () => {
    const dir = project();
    const err = await tsuError(resolve(dir, ['-w', 'abc']));
    expect(err.code).toBe('TSU_ERR_INVALID_SETTING');
    expect(err.message).toBe('invalid value for --workers: "abc" (expected an integer from 1 to 1024, or auto)');
    const err2 = await tsuError(resolve(dir, ['--log-level', 'loud']));
    expect(err2.message).toMatch(/^invalid value for --log-level: "loud" \(expected one of debug, /);
  });

  it('a bad TSUNICORN_CMD_ARGS value names the variable and the flag', async () => {
    const dir = project();
    const err = await tsuError(resolve(dir, [], { TSUNICORN_CMD_ARGS: '--timeout -1' }));
    expect(err.code).toMatch(/^TSU_ERR_(INVALID_SETTING|USAGE)$/);
    expect(err.message).toMatch(/^TSUNICORN_CMD_ARGS: /);
    const err2 = await tsuError(resolve(dir, [], { TSUNICORN_CMD_ARGS: '--timeout never' }));
    expect(err2.code).toBe('TSU_ERR_INVALID_SETTING');
    expect(err2.message).toBe(
      'TSUNICORN_CMD_ARGS: invalid value for --timeout: "never" (expected a number of seconds >= 0)',
    );
  });

  it('an unknown command-line flag is TSU_ERR_USAGE', async () => {
    const dir = project();
    const err = await tsuError(resolve(dir, ['--wrokers', '3']));
    expect(err.code).toBe('TSU_ERR_USAGE');
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain('wrokers');
    const err2 = await tsuError(resolve(dir, [], { TSUNICORN_CMD_ARGS: '--bogus' }));
    expect(err2.code).toBe('TSU_ERR_USAGE');
    expect(err2.message).toMatch(/^TSUNICORN_CMD_ARGS: .*bogus/);
  });

  it('a flag missing its value, or two app specs, is TSU_ERR_USAGE', async () => {
    const dir = project();
    // A flag at the end of the line, or followed by another flag, has no value: TSU_ERR_USAGE naming the option.
    for (const argv of [['-w'], ['--workers'], ['--bind', '--timeout', '3']]) {
      const missing = await tsuError(resolve(dir, argv));
      expect(missing.code, argv.join(' ')).toBe('TSU_ERR_USAGE');
      expect(missing.message, argv.join(' ')).toMatch(/^option --(workers|bind) needs a value$/);
    }
    const err = await tsuError(resolve(dir, ['a:app', 'b:app']));
    expect(err.code).toBe('TSU_ERR_USAGE');
    expect(err.message).toMatch(/expected one MODULE\[:EXPORT\], got 2/);
  });

  it('an unparsable app spec on the command line is TSU_ERR_INVALID_SETTING', async () => {
    const dir = project();
    const err = await tsuError(resolve(dir, ['app:1bad']));
    expect(err.code).toBe('TSU_ERR_INVALID_SETTING');
    expect(err.message).toContain('"1bad" is not a valid export name');
  });
});
