/** Command-line splitting: TSUNICORN_CMD_ARGS quoting, Gunicorn's `-` for stdout, unknown options. */
import { describe, expect, it } from 'vitest';
import { parseArgs, splitArgs } from '../../src/config/cli-args.js';

describe('splitArgs', () => {
  it('splits like a shell: whitespace, quotes, escapes', () => {
    expect(splitArgs(`-w 3  --env 'A=x y' -e "B=\\"q\\"" C\\ D ''`)).toEqual([
      '-w',
      '3',
      '--env',
      'A=x y',
      '-e',
      'B="q"',
      'C D',
      '',
    ]);
  });
  it('refuses an unterminated quote', () => {
    expect(() => splitArgs(`-e 'A=1`)).toThrow("unterminated ' quote");
  });
});

describe('parseArgs', () => {
  it('takes `-` as a value (stdout), not as a positional argument', async () => {
    const a = await parseArgs(['app.mjs', '--access-logfile', '-', '--error-logfile', '-']);
    expect(a.values).toMatchObject({ app: 'app.mjs', accessLogfile: '-', errorLogfile: '-' });
    const b = await parseArgs('--access-logfile - app.mjs');
    expect(b.values).toMatchObject({ app: 'app.mjs', accessLogfile: '-' });
  });
  it('names unknown options and options without a value', async () => {
    await expect(parseArgs(['x', '--nope'])).rejects.toThrow('unknown option --nope (see tsunicorn --help)');
    await expect(parseArgs(['x', '-w'])).rejects.toThrow('option --workers needs a value');
  });
  it('aliases land on the setting: -w, --log-file', async () => {
    expect((await parseArgs(['-w', '4', '--log-file', 'e.log', 'x'])).values).toMatchObject({
      workers: '4',
      errorLogfile: 'e.log',
    });
  });
});
