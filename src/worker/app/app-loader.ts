/**
 * Loading the user's app in a worker (or in the arbiter for --check-config).
 *
 * Failures map to Gunicorn's exit codes: the module or export cannot be found
 * → TSU_ERR_APP_NOT_FOUND / TSU_ERR_APP_EXPORT (exit 4); the module throws
 * while importing or its factory throws → TSU_ERR_APP_IMPORT (exit 3).
 */
import fs from 'node:fs';
import type { RequestListener } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type AppSpec, formatAppSpec } from '../../config/app-spec.js';
import { TsuError, describeError } from '../../errors.js';
import { moduleExports } from '../../interop.js';
import { type TypeScriptLoader, importTypeScriptApp, isTypeScriptPath } from '../../typescript.js';
import { type AppErrorHandler, type FetchHandler, toRequestListener } from './fetch-adapter.js';
import { replaceGlobalResponse } from './light-response.js';
import { type AppExtras, findAppExtras } from './app-extras.js';

export type AppInterface = 'node' | 'fetch';

export interface LoadedApp extends AppExtras {
  listener: RequestListener;
  interface: AppInterface;
  /** The file that was imported. */
  file: string;
  /** How a TypeScript app was loaded: Node's type stripping or tsx. */
  typescript?: TypeScriptLoader;
}

const EXTENSIONS = ['', '.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'];

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** MODULE as a path relative to cwd (with or without extension, or a directory index), else as a package. */
function resolveModule(module: string, cwd: string): string {
  const base = path.resolve(cwd, module);
  for (const ext of EXTENSIONS) if (isFile(base + ext)) return base + ext;
  for (const ext of EXTENSIONS.slice(1))
    if (isFile(path.join(base, `index${ext}`))) return path.join(base, `index${ext}`);
  const looksLikePath = module.startsWith('.') || module.startsWith('/') || /\.[cm]?[jt]s$/.test(module);
  if (!looksLikePath) {
    try {
      return createRequire(path.join(cwd, 'noop.js')).resolve(module);
    } catch {
      // Fall through to the not-found error.
    }
  }
  throw new TsuError(
    'TSU_ERR_APP_NOT_FOUND',
    `cannot find app module ${JSON.stringify(module)} ` +
      `(looked for ${path.relative(cwd, base) || base}{${EXTENSIONS.filter(Boolean).join(',')}} in ${cwd}` +
      `${looksLikePath ? '' : ' and for a package of that name'})`,
  );
}

function exportNames(ns: Record<string, unknown>): string {
  const names = Object.keys(ns).filter((k) => k !== '__esModule');
  return names.length ? names.join(', ') : 'none';
}

type Candidate = RequestListener | FetchHandler | { fetch: FetchHandler } | { callback(): RequestListener };

/** Decides node vs fetch for an export, unless `--interface` says. */
function adaptApp(
  value: unknown,
  forced: 'auto' | AppInterface,
  specText: string,
  onError?: AppErrorHandler,
): { listener: RequestListener; interface: AppInterface } {
  const v = value as Candidate;
  const hasFetch =
    v !== null &&
    (typeof v === 'object' || typeof v === 'function') &&
    typeof (v as { fetch?: unknown }).fetch === 'function';
  // Koa: the app object has callback(); the request listener is app.callback().
  const koa = v !== null && typeof v === 'object' && typeof (v as { callback?: unknown }).callback === 'function';

  if (forced === 'fetch' || (forced === 'auto' && (hasFetch || (typeof v === 'function' && v.length === 1)))) {
    if (hasFetch) {
      const obj = v as { fetch: FetchHandler };
      return { listener: toRequestListener(obj.fetch.bind(obj), onError), interface: 'fetch' };
    }
    if (typeof v === 'function') return { listener: toRequestListener(v as FetchHandler, onError), interface: 'fetch' };
  } else if (koa) {
    return { listener: (v as { callback(): RequestListener }).callback(), interface: 'node' };
  } else if (typeof v === 'function') {
    return { listener: v as RequestListener, interface: 'node' };
  }
  const what = v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
  throw new TsuError(
    'TSU_ERR_APP_EXPORT',
    `${specText} is ${what}, not an app: export a request listener (req, res), ` +
      'a fetch handler (Request) => Response, ' +
      `or an object with a fetch method${forced === 'auto' ? '' : ` (--interface ${forced})`}`,
  );
}

/**
 * Imports and adapts the app. With `lightResponse` (setting fetchFastResponse) the global Response is the
 * light one (light-response.ts) while the app is imported, since the app may capture `Response` as it loads;
 * the interface is only known after that, and only a fetch app keeps it.
 */
export async function loadApp(
  spec: AppSpec,
  forced: 'auto' | AppInterface,
  cwd: string,
  onError?: AppErrorHandler,
  lightResponse = false,
): Promise<LoadedApp> {
  const restoreResponse = lightResponse && forced !== 'node' ? replaceGlobalResponse() : null;
  let app: LoadedApp | null = null;
  try {
    app = await importApp(spec, forced, cwd, onError);
    return app;
  } finally {
    if (restoreResponse && app?.interface !== 'fetch') restoreResponse();
  }
}

async function importApp(
  spec: AppSpec,
  forced: 'auto' | AppInterface,
  cwd: string,
  onError?: AppErrorHandler,
): Promise<LoadedApp> {
  const specText = formatAppSpec(spec);
  const file = resolveModule(spec.module, cwd);
  let ns: Record<string, unknown>;
  let typescript: TypeScriptLoader | undefined;
  try {
    let mod: unknown;
    if (isTypeScriptPath(file)) ({ module: mod, loader: typescript } = await importTypeScriptApp(file));
    else mod = await import(pathToFileURL(file).href);
    ns = moduleExports(mod as Record<string, unknown>);
  } catch (err) {
    // As in Gunicorn, a module that is found but throws (a syntax error, a
    // missing dependency of its own) is a boot error (3), not a load error (4).
    throw new TsuError(
      'TSU_ERR_APP_IMPORT',
      `app module ${path.relative(cwd, file) || file} failed to import: ${describeError(err)}`,
      { cause: err },
    );
  }

  let value: unknown;
  if (spec.exportName === undefined) {
    value = ns.default;
    if (value === undefined) {
      throw new TsuError(
        'TSU_ERR_APP_EXPORT',
        `app module ${spec.module} has no default export; ` +
          `name one as ${spec.module}:EXPORT (exports: ${exportNames(ns)})`,
      );
    }
  } else {
    // A CJS module's named exports may only be visible on its default (module.exports).
    const cjs = ns.default as Record<string, unknown> | null | undefined;
    const cjsIsObject = cjs !== null && (typeof cjs === 'object' || typeof cjs === 'function');
    value = spec.exportName in ns ? ns[spec.exportName] : cjsIsObject ? cjs?.[spec.exportName] : undefined;
    if (value === undefined) {
      throw new TsuError(
        'TSU_ERR_APP_EXPORT',
        `app module ${spec.module} has no export ${JSON.stringify(spec.exportName)} (exports: ${exportNames(ns)})`,
      );
    }
  }

  const exported = value;
  if (spec.args) {
    if (typeof value !== 'function') {
      throw new TsuError(
        'TSU_ERR_APP_EXPORT',
        `${spec.module}:${spec.exportName} is called as a factory but is ${typeof value}, not a function`,
      );
    }
    try {
      value = await (value as (...a: unknown[]) => unknown)(...spec.args);
    } catch (err) {
      throw new TsuError('TSU_ERR_APP_IMPORT', `app factory ${specText} threw: ${describeError(err)}`, { cause: err });
    }
  }
  const app = { ...adaptApp(value, forced, specText, onError), ...findAppExtras(value, exported, ns), file };
  return typescript ? { ...app, typescript } : app;
}
