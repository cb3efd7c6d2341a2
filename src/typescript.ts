/**
 * Loading TypeScript: config files in the arbiter and app modules in workers.
 *
 * We use tsx on every Node version rather than Node's own type stripping
 * (unflagged from 22.18/23.6): the same file then means the same thing on
 * Node 20 and on the newest LTS, including what native stripping refuses
 * (enums, parameter properties, `./x.js` imports of `x.ts`, tsconfig paths).
 * tsx is imported lazily, so a JavaScript-only deployment never loads it.
 */

const TS_EXTENSIONS = ['.ts', '.mts', '.cts', '.tsx'];

export function isTypeScriptPath(file: string): boolean {
  return TS_EXTENSIONS.some((ext) => file.endsWith(ext));
}

/** Imports a TypeScript file as a fresh module (no cache), for config files re-read on HUP. */
export async function importTypeScript(file: string): Promise<unknown> {
  const { tsImport } = await import('tsx/esm/api');
  return tsImport(file, { parentURL: import.meta.url });
}

let registered = false;

/** Lets this process import and require TypeScript from now on (a worker loading a TS app). */
export async function registerTypeScript(): Promise<void> {
  if (registered) return;
  registered = true;
  const [esm, cjs] = await Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')]);
  esm.register();
  cjs.register();
}
