/**
 * The command line, built with yargs from the settings table. yargs only
 * splits and names the arguments; every value is typed and validated by the
 * table's kinds (resolve.ts), the same code that checks config files.
 */
import yargs, { type Argv } from 'yargs';
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
  settingSpec(key).flags.find((f) => f.startsWith('--'))?.slice(2);

function build(args: string | string[]): Argv {
  let y = yargs(args)
    .scriptName('tsunicorn')
    .usage('Usage: tsunicorn [OPTIONS] MODULE[:EXPORT]\n\nA prefork application server for Node.js, driven like Gunicorn.')
    .parserConfiguration({
      'camel-case-expansion': false,
      'boolean-negation': true,
      'duplicate-arguments-array': true,
      'strip-aliased': true,
      'halt-at-non-option': false,
    })
    .help(false)
    .version(false)
    .exitProcess(false)
    .strictOptions()
    .showHelpOnFail(false)
    .fail((msg, err) => {
      const unknown = /^Unknown arguments?: (.*)$/.exec(msg ?? '');
      if (unknown) {
        const names = unknown[1]!.split(', ').map((n) => (n.length === 1 ? `-${n}` : `--${n}`));
        throw new TsuError('TSU_ERR_USAGE', `unknown option ${names.join(', ')} (see tsunicorn --help)`);
      }
      throw err instanceof TsuError ? err : new TsuError('TSU_ERR_USAGE', msg || err?.message || 'bad command line', { cause: err });
    });

  for (const section of SECTIONS) {
    const names: string[] = [];
    for (const key of SETTING_KEYS) {
      const spec = settingSpec(key);
      const name = longName(key);
      if (!name || spec.section !== section) continue;
      const aliases = spec.flags.filter((f) => f !== `--${name}`).map((f) => f.replace(/^-+/, ''));
      const shownDefault = spec.defaultDoc ?? spec.kind.show(spec.default({}));
      y = y.option(name, {
        alias: aliases,
        type: spec.kind.flag ? 'boolean' : spec.kind.list ? 'array' : 'string',
        string: !spec.kind.flag,
        requiresArg: !spec.kind.flag,
        describe: `${spec.doc.replace(/`/g, '')}${spec.kind.flag ? '' : ` [default: ${shownDefault.replace(/`/g, '')}]`}`,
        defaultDescription: undefined,
      });
      names.push(name);
    }
    if (names.length) y = y.group(names, `${section}:`);
  }
  return y
    .option('help', { alias: 'h', type: 'boolean', describe: 'Show this help and exit.' })
    .option('version', { alias: 'v', type: 'boolean', describe: 'Print the version and exit.' })
    .group(['help', 'version'], 'Other:')
    .wrap(Math.min(110, process.stdout.columns || 100));
}

/** Splits and names arguments. Throws TsuError(TSU_ERR_USAGE) on unknown flags or a missing value. */
export async function parseArgs(args: string | string[]): Promise<RawArgs> {
  const argv = (await build(args).parseAsync()) as Record<string, unknown> & { _: (string | number)[] };
  const values: Partial<Record<SettingKey, unknown>> = {};
  for (const key of SETTING_KEYS) {
    const name = longName(key);
    if (!name || !(name in argv) || argv[name] === undefined) continue;
    const spec = SETTINGS[key];
    let value = argv[name];
    // A non-list option given twice: the last one wins, as with Gunicorn's argparse.
    if (Array.isArray(value) && !spec.kind.list) value = value[value.length - 1];
    if (spec.kind.list && Array.isArray(value)) value = value.map(String);
    values[key] = value;
  }
  const positional = argv._.map(String);
  if (positional.length > 1) {
    throw new TsuError('TSU_ERR_USAGE', `expected one MODULE[:EXPORT], got ${positional.length}: ${positional.join(' ')}`);
  }
  if (positional[0] !== undefined) values.app = positional[0];
  return { values, help: argv.help === true, version: argv.version === true };
}

export async function helpText(): Promise<string> {
  return build([]).getHelp();
}
