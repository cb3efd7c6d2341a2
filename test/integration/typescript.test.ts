/**
 * TypeScript apps and config files: loaded by Node's own type stripping where the running Node has
 * it (22.18+), without tsx ever being loaded; with tsx where it does not (Node 20), for syntax
 * stripping refuses (an enum), for imports it does not resolve (`./x.js` meaning x.ts), and when
 * TSUNICORN_NODE_FALLBACK=type-stripping turns it off. The fixtures report what of tsx they see.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, cleanup, get, start, tmpDir } from './harness.js';

afterEach(cleanup);

const native = Boolean((process.features as { typescript?: unknown }).typescript);
const NATIVE_DIR = path.join(FIXTURES, 'ts-native');
const NO_TSX = { tsxCjsHook: 0, sourceMaps: false, tsxFiles: [] };

function configLoaders(stdout: string[]): unknown {
  const line = stdout.find((l) => l.startsWith('config loaders '));
  return line ? JSON.parse(line.slice('config loaders '.length)) : undefined;
}

describe.runIf(native)('on a Node with type stripping', () => {
  it('a .ts config file and a .ts app are loaded without tsx, in the arbiter and in the worker', async () => {
    const s = start([], { cwd: NATIVE_DIR });
    const port = await s.port();
    await s.readyWorkers(1);
    expect(configLoaders(s.stdout)).toEqual(NO_TSX);
    await s.waitLog(/Loaded .*ts-native\/app\.ts with Node's type stripping$/);
    const body = JSON.parse((await get(`http://127.0.0.1:${port}/`)).body);
    expect(body).toEqual({ greeting: 'hello from erasable typescript', loaders: NO_TSX });
  });

  it('an app that needs tsx (an enum; ./x.js meaning x.ts) falls back to it, and says why', async () => {
    const s = start(['ts-app.ts:handler', '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug']);
    const port = await s.port();
    await s.readyWorkers(1);
    await s.waitLog(/Loaded .*ts-app\.ts with tsx \(ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX: .*enum/);
    expect(JSON.parse((await get(`http://127.0.0.1:${port}/`)).body).greeting).toBe('hello from typescript');

    const jsExt = path.join(FIXTURES, 'ts-js-ext');
    const j = start(['app.ts', '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug'], { cwd: jsExt });
    const jPort = await j.port();
    await j.readyWorkers(1);
    await j.waitLog(/Loaded .*ts-js-ext\/app\.ts with tsx \(ERR_MODULE_NOT_FOUND: /);
    expect((await get(`http://127.0.0.1:${jPort}/`)).body).toBe('hello via ./greeting.js');
  });

  it('a config file with an enum falls back to tsx', async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'tsunicorn.config.ts'), 'enum W { Two = 2 }\nexport default { workers: W.Two };\n');
    const s = start(['--print-config'], { cwd: dir });
    expect(await s.waitExit()).toEqual({ code: 0, signal: null });
    expect(s.stdout.filter((l) => /^workers\s+= 2$/.test(l))).toHaveLength(1);
  });
});

describe('tsx as the fallback', () => {
  const when = native ? 'TSUNICORN_NODE_FALLBACK=type-stripping' : 'the Node has no type stripping';
  it(`loads the same app and config with tsx when ${when}`, async () => {
    const s = start([], { cwd: NATIVE_DIR, env: { TSUNICORN_NODE_FALLBACK: 'type-stripping' } });
    const port = await s.port();
    await s.readyWorkers(1);
    // What the fixtures see of tsx when it is loaded: so the checks above can fail.
    expect(configLoaders(s.stdout)).toMatchObject({ sourceMaps: true });
    const why = '(TSUNICORN_NODE_FALLBACK=type-stripping|this Node has no type stripping)';
    await s.waitLog(new RegExp(`Loaded .*ts-native/app\\.ts with tsx \\(${why}\\)$`));
    const body = JSON.parse((await get(`http://127.0.0.1:${port}/`)).body);
    expect(body.loaders).toMatchObject({ tsxCjsHook: 1, sourceMaps: true });
  });

  it('loads an app with an enum', async () => {
    const s = start(['ts-app.ts:handler', '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug']);
    const port = await s.port();
    await s.readyWorkers(1);
    expect(JSON.parse((await get(`http://127.0.0.1:${port}/`)).body).greeting).toBe('hello from typescript');
  });
});
