/**
 * Loading TypeScript: config files in the arbiter and app modules in workers.
 *
 * Where the running Node strips types itself (node-compat's nativeTypeScript), a .ts/.mts/.cts
 * file is imported as it is, and tsx is never loaded. Native stripping takes erasable syntax only
 * and resolves imports as written, so a file that needs more is loaded with tsx instead: one that
 * uses enums, parameter properties or namespaces (ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX), imports
 * `./x.js` meaning `x.ts` or an extensionless or tsconfig-paths specifier (not found), or imports a
 * type without `import type` (no such export). Such an error is raised while loading and linking,
 * before any of the app's code has run. .tsx files, and Node 20, always use tsx. tsx is imported
 * lazily, so neither a JavaScript-only deployment nor an erasable-TypeScript one loads it.
 */
import { pathToFileURL } from 'node:url';
import { forcedFallback, nativeTypeScript } from './node-compat.js';

const TS_EXTENSIONS = ['.ts', '.mts', '.cts', '.tsx'];

export function isTypeScriptPath(file: string): boolean {
  return TS_EXTENSIONS.some((ext) => file.endsWith(ext));
}

/** Which loader brought a TypeScript file in: Node's type stripping, or tsx (and why, when native was tried first). */
export type TypeScriptLoader = { by: 'node' } | { by: 'tsx'; reason: string };
type Loaded = { module: unknown; loader: TypeScriptLoader };

const TSX_CODES = new Set([
  'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX',
  'ERR_MODULE_NOT_FOUND',
  'ERR_UNSUPPORTED_DIR_IMPORT',
  'ERR_UNKNOWN_FILE_EXTENSION',
]);

/** The reason to retry with tsx when a native import failed this way, or null when tsx would fail the same. */
export function tsxRetryReason(err: unknown): string | null {
  if (typeof err !== 'object' || err === null) return null;
  const { code, message, name } = err as { code?: unknown; message?: unknown; name?: unknown };
  const text = typeof message === 'string' ? message.split('\n')[0]! : '';
  if (typeof code === 'string' && TSX_CODES.has(code)) return `${code}: ${text}`;
  // `import { SomeType } from './x.ts'` without `import type`: tsx (esbuild) drops the unused import.
  if (name === 'SyntaxError' && /does not provide an export named/.test(text)) return `SyntaxError: ${text}`;
  return null;
}

/** tsx's ESM or CJS API; if tsx was pruned (it is a dependency), a clear error naming why it was needed. */
async function tsxApi<T>(load: () => Promise<T>, file: string, reason: string): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new Error(`loading ${file} needs tsx (${reason}), which is not installed: npm install tsx`, { cause: err });
  }
}

const noNative = (): string =>
  forcedFallback('type-stripping') ? 'TSUNICORN_NODE_FALLBACK=type-stripping' : 'this Node has no type stripping';

function nativeFirst(file: string): boolean {
  return nativeTypeScript() && !file.endsWith('.tsx');
}

/** Imports a TypeScript file as a fresh module (no cache), for config files re-read on HUP. */
export async function importTypeScript(file: string, fresh: number): Promise<Loaded> {
  let reason = file.endsWith('.tsx') ? 'a .tsx file' : noNative();
  if (nativeFirst(file)) {
    try {
      return { module: await import(`${pathToFileURL(file).href}?v=${fresh}`), loader: { by: 'node' } };
    } catch (err) {
      const retry = tsxRetryReason(err);
      if (!retry) throw err;
      reason = retry;
    }
  }
  const { tsImport } = await tsxApi(() => import('tsx/esm/api'), file, reason);
  return { module: await tsImport(file, { parentURL: import.meta.url }), loader: { by: 'tsx', reason } };
}

let registered = false;

/** Lets this process import and require TypeScript with tsx from now on. */
async function registerTsx(file: string, reason: string): Promise<void> {
  if (registered) return;
  const [esm, cjs] = await tsxApi(() => Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')]), file, reason);
  registered = true;
  esm.register();
  cjs.register();
}

/** Imports a TypeScript app module (a worker, once): natively where it can, else with tsx registered. */
export async function importTypeScriptApp(file: string): Promise<Loaded> {
  const url = pathToFileURL(file).href;
  let reason = file.endsWith('.tsx') ? 'a .tsx file' : noNative();
  const native = nativeFirst(file);
  if (native) {
    try {
      return { module: await import(url), loader: { by: 'node' } };
    } catch (err) {
      const retry = tsxRetryReason(err);
      if (!retry) throw err;
      reason = retry;
    }
  }
  await registerTsx(file, reason);
  // A new URL: Node 22 keeps the failed native attempt in its module map under the plain one.
  return { module: await import(native ? `${url}?tsx` : url), loader: { by: 'tsx', reason } };
}
