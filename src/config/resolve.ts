/**
 * Resolving the configuration. Layers, later wins:
 *   defaults (with $PORT, $WEB_CONCURRENCY) < config file < TSUNICORN_CMD_ARGS < command line.
 * The arbiter runs this at start and again on every HUP.
 */
import path from 'node:path';
import { TsuError } from '../errors.js';
import { type Hooks, isHookName } from './hooks.js';
import { type RawArgs, parseArgs } from './cli-args.js';
import { type LoadedConfigFile, loadConfigFile } from './config-file.js';
import { SETTINGS, SETTING_KEYS, type SettingKey, type Settings, defaults, flagOf, settingSpec } from './settings.js';

export interface ResolvedConfig {
  settings: Settings;
  /** Hook functions from the config file. */
  hooks: Hooks;
  /** Absolute path of the config file that was loaded, if any. */
  configFile: string | null;
}

export interface ResolveInput {
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
}

function closest(name: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const n = norm(name);
  return (
    candidates.find((c) => norm(c) === n) ?? candidates.find((c) => norm(c).startsWith(n) || n.startsWith(norm(c)))
  );
}

function formatValue(v: unknown): string {
  try {
    return typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  } catch {
    return String(v);
  }
}

/** Types and validates one layer. `origin` prefixes messages: the file name or TSUNICORN_CMD_ARGS. */
function typeLayer(raw: Partial<Record<string, unknown>>, origin: string | null, fromFile: boolean): Partial<Settings> {
  const out: Record<string, unknown> = {};
  const prefix = origin ? `${origin}: ` : '';
  for (const [key, value] of Object.entries(raw)) {
    if (!Object.hasOwn(SETTINGS, key)) {
      const hint = closest(key, SETTING_KEYS);
      throw new TsuError(
        'TSU_ERR_UNKNOWN_SETTING',
        `${prefix}unknown setting ${JSON.stringify(key)}${hint ? ` (did you mean ${hint}?)` : ''}`,
      );
    }
    const k = key as SettingKey;
    const spec = settingSpec(k);
    if (fromFile && spec.cliOnly) {
      throw new TsuError(
        'TSU_ERR_UNKNOWN_SETTING',
        `${prefix}${key} can only be given on the command line (${flagOf(k)})`,
      );
    }
    if (value === undefined) continue;
    const parsed = spec.kind.parse(value);
    if (!parsed.ok) {
      const name = fromFile ? key : flagOf(k);
      throw new TsuError(
        'TSU_ERR_INVALID_SETTING',
        `${prefix}invalid value for ${name}: ${formatValue(value)} (expected ${parsed.allowed})`,
      );
    }
    out[k] = parsed.value;
  }
  return out as Partial<Settings>;
}

/** Separates hook functions from setting values in a config file. */
function splitHooks(
  raw: Record<string, unknown>,
  origin: string | null,
): { hooks: Hooks; values: Record<string, unknown> } {
  const hooks: Record<string, unknown> = {};
  const values: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!isHookName(key)) {
      values[key] = value;
    } else if (typeof value === 'function') {
      hooks[key] = value;
    } else if (value !== undefined && value !== null) {
      throw new TsuError(
        'TSU_ERR_INVALID_SETTING',
        `${origin ? `${origin}: ` : ''}hook ${key} must be a function, got ${typeof value}`,
      );
    }
  }
  return { hooks: hooks as Hooks, values };
}

export interface ParsedCommandLine {
  cli: RawArgs;
  envArgs: RawArgs | null;
}

export async function parseCommandLine(argv: string[], env: NodeJS.ProcessEnv): Promise<ParsedCommandLine> {
  const cli = await parseArgs(argv);
  let envArgs: RawArgs | null = null;
  const cmdArgs = env.TSUNICORN_CMD_ARGS?.trim();
  if (cmdArgs) {
    try {
      envArgs = await parseArgs(cmdArgs);
    } catch (err) {
      if (err instanceof TsuError) throw new TsuError(err.code, `TSUNICORN_CMD_ARGS: ${err.message}`);
      throw err;
    }
  }
  return { cli, envArgs };
}

export async function resolveConfig(input: ResolveInput, parsed?: ParsedCommandLine): Promise<ResolvedConfig> {
  const { cli, envArgs } = parsed ?? (await parseCommandLine(input.argv, input.env));
  const cliLayer = typeLayer(cli.values, null, false);
  const envLayer = envArgs ? typeLayer(envArgs.values, 'TSUNICORN_CMD_ARGS', false) : {};

  // -c can come from either command-line layer; the command line wins.
  const configPath = cliLayer.config ?? envLayer.config ?? null;
  const file: LoadedConfigFile | null = await loadConfigFile(configPath, input.cwd);
  const fileName = file ? path.relative(input.cwd, file.filepath) || file.filepath : null;
  const { hooks, values } = splitHooks(file?.values ?? {}, fileName);
  const fileLayer = file ? typeLayer(values, fileName, true) : {};

  const settings: Settings = { ...defaults(input.env), ...fileLayer, ...envLayer, ...cliLayer };
  settings.config = file ? file.filepath : null;
  return { settings, hooks, configFile: settings.config };
}

/** `--print-config`: one `key = value` line per setting, Gunicorn style, sorted by key. */
export function printConfig(settings: Settings): string {
  const width = Math.max(...SETTING_KEYS.map((k) => k.length));
  return [...SETTING_KEYS]
    .sort()
    .map((k) => `${k.padEnd(width)} = ${settingSpec(k).kind.show(settings[k] as never)}`)
    .join('\n');
}
