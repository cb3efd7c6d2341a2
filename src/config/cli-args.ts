/**
 * The command line, from the settings table. Parsing uses yargs-parser (the
 * parser inside yargs) directly; yargs itself is loaded only to render
 * `--help`. The reason is memory: yargs pulls in its help renderer (cliui,
 * string-width and friends), which the arbiter would carry for its whole life
 * (docs/benchmarks.md, measurements behind the code's choices).
 *
 * Parsing only splits and names the arguments; every value is typed and
 * validated by the table's kinds (resolve.ts), the code that checks config
 * files too.
 */
import yargsParser from 'yargs-parser';
import { TsuError } from '../errors.js';
import { SETTINGS, SETTING_KEYS, type SettingKey, settingSpec } from './settings.js';
import { SECTIONS } from './setting-types.js';

/** What the user wrote on one command line (or in TSUNICORN_CMD_ARGS), untyped. */
export interface RawArgs {
  values: Partial<Record<SettingKey, unknown>>;
  help: boolean;
  version: boolean;
}

const longName = (key: SettingKey): string | undefined =>
  settingSpec(key)
    .flags.find((f) => f.startsWith('--'))
    ?.slice(2);

/** Every option the parser knows: setting flags plus --help and --version, with aliases and types. */
interface OptionTable {
  alias: Record<string, string[]>;
  boolean: string[];
  string: string[];
  array: string[];
  /** Every spelling (name or alias) → the canonical name, to name unknown and value-less options. */
  spellings: Map<string, string>;
}

let table: OptionTable | null = null;

function options(): OptionTable {
  if (table) return table;
  const t: OptionTable = { alias: {}, boolean: ['help', 'version'], string: [], array: [], spellings: new Map() };
  t.alias.help = ['h'];
  t.alias.version = ['v'];
  for (const key of SETTING_KEYS) {
    const name = longName(key);
    if (!name) continue;
    const spec = settingSpec(key);
    t.alias[name] = spec.flags.filter((f) => f !== `--${name}`).map((f) => f.replace(/^-+/, ''));
    if (spec.kind.flag) t.boolean.push(name);
    else if (spec.kind.list) t.array.push(name);
    else t.string.push(name);
  }
  for (const [name, aliases] of Object.entries(t.alias)) {
    t.spellings.set(name, name);
    for (const a of aliases) t.spellings.set(a, name);
  }
  table = t;
  return t;
}

const dashes = (name: string) => (name.length === 1 ? `-${name}` : `--${name}`);

/** Splits TSUNICORN_CMD_ARGS like a shell would: whitespace separates, quotes group, backslash escapes. */
export function splitArgs(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: '"' | "'" | null = null;
  let inToken = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inToken = true;
    } else if (ch === '\\' && i + 1 < text.length) {
      cur += text[++i];
      inToken = true;
    } else if (/\s/.test(ch)) {
      if (inToken) out.push(cur);
      cur = '';
      inToken = false;
    } else {
      cur += ch;
      inToken = true;
    }
  }
  if (quote) throw new TsuError('TSU_ERR_USAGE', `unterminated ${quote} quote`);
  if (inToken) out.push(cur);
  return out;
}

/**
 * yargs-parser reads a lone `-` as a positional argument (stdin, by
 * convention), but Gunicorn's `--access-logfile -` means stdout: glue a `-`
 * that follows an option taking a value onto it, as `--opt=-`.
 */
function glueDash(args: string[], t: OptionTable): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const name = /^--?([^=]+)$/.exec(a)?.[1];
    const canonical = name !== undefined ? t.spellings.get(name) : undefined;
    if (canonical && !t.boolean.includes(canonical) && args[i + 1] === '-') {
      out.push(`${a}=-`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

/** Splits and names arguments. Throws TsuError(TSU_ERR_USAGE) on unknown options or a missing value. */
export async function parseArgs(args: string | string[]): Promise<RawArgs> {
  const t = options();
  const list = glueDash(typeof args === 'string' ? splitArgs(args) : args, t);
  const parsed = yargsParser.detailed(list, {
    alias: t.alias,
    boolean: t.boolean,
    string: [...t.string, ...t.array],
    array: t.array.map((key) => ({ key, string: true })),
    configuration: {
      'camel-case-expansion': false,
      'boolean-negation': true,
      'duplicate-arguments-array': true,
      'strip-aliased': true,
      'dot-notation': false,
      'parse-numbers': false,
      'parse-positional-numbers': false,
    },
  });
  if (parsed.error) throw new TsuError('TSU_ERR_USAGE', parsed.error.message);
  const argv = parsed.argv as Record<string, unknown> & { _: (string | number)[] };

  const unknown = Object.keys(argv).filter((k) => k !== '_' && k !== '--' && !t.spellings.has(k));
  if (unknown.length)
    throw new TsuError('TSU_ERR_USAGE', `unknown option ${unknown.map(dashes).join(', ')} (see tsunicorn --help)`);

  const values: Partial<Record<SettingKey, unknown>> = {};
  for (const key of SETTING_KEYS) {
    const name = longName(key);
    if (!name || argv[name] === undefined) continue;
    const spec = SETTINGS[key];
    let value = argv[name];
    // A non-list option given twice: the last one wins, as with Gunicorn's argparse.
    if (Array.isArray(value) && !spec.kind.list) value = value[value.length - 1];
    const missing = spec.kind.list
      ? (value as unknown[]).length === 0 || (value as unknown[]).includes('')
      : value === '';
    if (!spec.kind.flag && missing) throw new TsuError('TSU_ERR_USAGE', `option --${name} needs a value`);
    if (spec.kind.list && Array.isArray(value)) value = value.map(String);
    values[key] = value;
  }
  const positional = argv._.map(String);
  if (positional.length > 1) {
    throw new TsuError(
      'TSU_ERR_USAGE',
      `expected one MODULE[:EXPORT], got ${positional.length}: ${positional.join(' ')}`,
    );
  }
  if (positional[0] !== undefined) values.app = positional[0];
  return { values, help: argv.help === true, version: argv.version === true };
}

/** `--help`, grouped by section, rendered by yargs from the same table. */
export async function helpText(): Promise<string> {
  const { default: yargs } = await import('yargs');
  let y = yargs([])
    .scriptName('tsunicorn')
    .usage(
      'Usage: tsunicorn [OPTIONS] MODULE[:EXPORT]\n\nA prefork application server for Node.js, driven like Gunicorn.',
    )
    .help(false)
    .version(false)
    .exitProcess(false);
  for (const section of SECTIONS) {
    const names: string[] = [];
    for (const key of SETTING_KEYS) {
      const spec = settingSpec(key);
      const name = longName(key);
      if (!name || spec.section !== section) continue;
      const shownDefault = spec.defaultDoc ?? spec.kind.show(spec.default({}));
      y = y.option(name, {
        alias: options().alias[name],
        type: spec.kind.flag ? 'boolean' : spec.kind.list ? 'array' : 'string',
        describe: spec.doc.replace(/`/g, '') + (spec.kind.flag ? '' : ` [default: ${shownDefault.replace(/`/g, '')}]`),
      });
      names.push(name);
    }
    if (names.length) y = y.group(names, `${section}:`);
  }
  return y
    .option('help', { alias: 'h', type: 'boolean', describe: 'Show this help and exit.' })
    .option('version', { alias: 'v', type: 'boolean', describe: 'Print the version and exit.' })
    .group(['help', 'version'], 'Other:')
    .wrap(Math.min(110, process.stdout.columns || 100))
    .getHelp();
}
