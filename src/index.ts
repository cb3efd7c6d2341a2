/**
 * Public API.
 *
 *   // tsunicorn.config.ts
 *   import { defineConfig } from 'tsunicorn';
 *   export default defineConfig({ workers: 4, bind: ['0.0.0.0:8000'] });
 */
import type { Hooks } from './config/hooks.js';
import type { FileSettingKey, Settings } from './config/settings.js';

export type { Hooks, ServerInfo, WorkerInfo, WorkerExitInfo } from './config/hooks.js';

export type { Settings } from './config/settings.js';
export type { LogLevel } from './log/logger.js';
/** The client of a request: `req.tsunicorn` (node interface), the fetch handler's second argument. */
export type { ClientInfo } from './worker/http/forwarded.js';
export type { FetchHandler } from './worker/app/fetch-adapter.js';
export { ExitCode, ERRORS, TsuError, type ErrorCode } from './errors.js';
export { VERSION } from './version.js';

/** What a config file may set: any setting except the command-line-only ones, all optional. */
export type TsunicornConfig = Partial<Pick<Settings, FileSettingKey>> & Hooks;

/** Identity function that gives a config file its types; a function may compute the config (sync or async). */
export function defineConfig<C extends TsunicornConfig | (() => TsunicornConfig | Promise<TsunicornConfig>)>(
  config: C,
): C {
  return config;
}

/** Runs the CLI with the given arguments, as `tsunicorn ARGS...`; resolves with the exit code. */
export async function run(argv: string[] = process.argv.slice(2)): Promise<number> {
  const { main } = await import('./cli.js');
  return main(argv);
}
