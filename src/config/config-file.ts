/**
 * Finding and evaluating the config file, with cosmiconfig.
 *
 * The file is re-read on every HUP, so each loader must evaluate the file
 * afresh rather than return a module cached by the first import:
 *   - .ts/.mts/.cts are imported with a unique query string where Node strips types
 *     itself, else (Node 20, or syntax only tsx handles) through tsx's namespaced
 *     `tsImport`, which loads a new copy each call (src/typescript.ts);
 *   - .mjs/.js are imported with a unique query string;
 *   - .cjs is required after dropping it from the require cache.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import fs from 'node:fs';
import type { Loader } from 'cosmiconfig';
import { TsuError, describeError } from '../errors.js';
import { moduleExports } from '../interop.js';
import { importTypeScript } from '../typescript.js';

const CONFIG_MODULE_NAME = 'tsunicorn';

const SEARCH_PLACES = [
  'package.json',
  'tsunicorn.config.ts',
  'tsunicorn.config.mts',
  'tsunicorn.config.cts',
  'tsunicorn.config.mjs',
  'tsunicorn.config.js',
  'tsunicorn.config.cjs',
  'tsunicorn.config.json',
] as const;

export interface LoadedConfigFile {
  filepath: string;
  /** The config object: setting values and (later) hooks. */
  values: Record<string, unknown>;
}

let generation = 0;

/** ESM namespaces and CJS exports both reduce to the config object; a function is called (defineConfig(() => ...)). */
async function unwrap(mod: unknown): Promise<unknown> {
  const exports = moduleExports(mod as Record<string, unknown>);
  let value = 'default' in exports ? exports.default : exports;
  if (typeof value === 'function') value = await (value as () => unknown)();
  return value;
}

const loadEsm: Loader = async (filepath) => unwrap(await import(`${pathToFileURL(filepath).href}?v=${++generation}`));

const loadCjs: Loader = async (filepath) => {
  const require = createRequire(filepath);
  delete require.cache[require.resolve(filepath)];
  return unwrap(require(filepath));
};

const loadTs: Loader = async (filepath) => unwrap((await importTypeScript(filepath, ++generation)).module);

async function explorer() {
  // Loaded on demand: an arbiter without a config file need not carry its memory.
  const { cosmiconfig } = await import('cosmiconfig');
  return cosmiconfig(CONFIG_MODULE_NAME, {
    searchPlaces: [...SEARCH_PLACES],
    searchStrategy: 'none',
    cache: false,
    loaders: {
      '.ts': loadTs,
      '.mts': loadTs,
      '.cts': loadTs,
      '.mjs': loadEsm,
      '.js': loadEsm,
      '.cjs': loadCjs,
    },
  });
}

/** A cheap look before loading cosmiconfig: is there any place a config could be in `cwd`? */
function mayHaveConfig(cwd: string): boolean {
  for (const place of SEARCH_PLACES) {
    const file = path.join(cwd, place);
    if (place !== 'package.json') {
      if (fs.existsSync(file)) return true;
      continue;
    }
    try {
      if (CONFIG_MODULE_NAME in (JSON.parse(fs.readFileSync(file, 'utf8')) as object)) return true;
    } catch {
      // No package.json, or not JSON: cosmiconfig would find nothing there either.
    }
  }
  return false;
}

/**
 * Loads `explicitPath` (an error if missing) or discovers a config file in
 * `cwd`. Returns null when there is none.
 */
export async function loadConfigFile(explicitPath: string | null, cwd: string): Promise<LoadedConfigFile | null> {
  const where = explicitPath ? path.resolve(cwd, explicitPath) : cwd;
  if (!explicitPath && !mayHaveConfig(cwd)) return null;
  let result: Awaited<ReturnType<Awaited<ReturnType<typeof explorer>>['search']>>;
  try {
    result = explicitPath ? await (await explorer()).load(where) : await (await explorer()).search(where);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (explicitPath && e.code === 'ENOENT') {
      throw new TsuError('TSU_ERR_CONFIG_LOAD', `config file ${explicitPath} does not exist`, { cause: err });
    }
    const file = explicitPath ?? (e as { filepath?: string }).filepath ?? 'config file';
    throw new TsuError('TSU_ERR_CONFIG_LOAD', `cannot load ${file}: ${describeError(err)}`, { cause: err });
  }
  if (!result) return null;
  const { config, filepath } = result;
  if (config === null || config === undefined) return { filepath, values: {} };
  if (typeof config !== 'object' || Array.isArray(config)) {
    throw new TsuError(
      'TSU_ERR_CONFIG_LOAD',
      `${path.relative(cwd, filepath) || filepath}: the config must be an object of settings`,
    );
  }
  return { filepath, values: config as Record<string, unknown> };
}
