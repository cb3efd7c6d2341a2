import { describe, expect, it } from 'vitest';
import { type AppSpec, formatAppSpec, parseAppSpec, parseLiteralList } from '../../src/config/app-spec.js';

const ok = (raw: string): AppSpec => {
  const r = parseAppSpec(raw);
  if (!r.ok) throw new Error(`parseAppSpec(${JSON.stringify(raw)}) failed: ${r.problem}`);
  return r.spec;
};
const problem = (raw: string): string => {
  const r = parseAppSpec(raw);
  if (r.ok) throw new Error(`parseAppSpec(${JSON.stringify(raw)}) unexpectedly gave ${JSON.stringify(r.spec)}`);
  return r.problem;
};

describe('parseAppSpec: accepted forms', () => {
  it('MODULE alone means the default export', () => {
    expect(ok('app')).toEqual({ module: 'app', exportName: undefined, args: undefined });
    expect(ok('@scope/pkg')).toEqual({ module: '@scope/pkg', exportName: undefined, args: undefined });
  });

  it('MODULE:EXPORT', () => {
    expect(ok('app:handler')).toEqual({ module: 'app', exportName: 'handler', args: undefined });
    expect(ok('app:$h_1')).toEqual({ module: 'app', exportName: '$h_1', args: undefined });
  });

  it('a path with a factory call and no arguments', () => {
    expect(ok('./dir/app.ts:create()')).toEqual({ module: './dir/app.ts', exportName: 'create', args: [] });
  });

  it('a factory call with literal arguments of every kind', () => {
    expect(ok(`app:create('x', 1, true, null, "y")`)).toEqual({
      module: 'app',
      exportName: 'create',
      args: ['x', 1, true, null, 'y'],
    });
    expect(ok('app:f(-1.5, 2e3, false, 0)').args).toEqual([-1.5, 2000, false, 0]);
  });

  it('escaped quotes and escapes inside strings', () => {
    expect(ok(`app:f('it\\'s', "say \\"hi\\"")`).args).toEqual([`it's`, 'say "hi"']);
    expect(ok(`app:f('a\\nb\\tc\\\\d')`).args).toEqual(['a\nb\tc\\d']);
    // The other quote needs no escape, and separators inside strings are not separators.
    expect(ok(`app:f("it's", 'a, b', ')')`).args).toEqual([`it's`, 'a, b', ')']);
  });

  it('whitespace around the spec, the export, and the arguments', () => {
    expect(ok('  app:handler  ')).toEqual({ module: 'app', exportName: 'handler', args: undefined });
    expect(ok('app:  handler')).toEqual({ module: 'app', exportName: 'handler', args: undefined });
    expect(ok(`app:create (  'x' ,1 ,  true  )`)).toEqual({
      module: 'app',
      exportName: 'create',
      args: ['x', 1, true],
    });
    expect(ok('app:create(   )').args).toEqual([]);
    expect(ok(`app:f(' keep  spaces ')`).args).toEqual([' keep  spaces ']);
  });
});

describe('parseAppSpec: rejected forms', () => {
  it('an empty module', () => {
    expect(problem('')).toMatch(/MODULE is empty/);
    expect(problem('   ')).toMatch(/MODULE is empty/);
    expect(problem(':handler')).toMatch(/MODULE is empty/);
  });

  it('a colon with nothing after it', () => {
    expect(problem('app:')).toMatch(/EXPORT after ":" is empty/);
    expect(problem('app:   ')).toMatch(/EXPORT after ":" is empty/);
  });

  it('an export name that is not an identifier', () => {
    expect(problem('app:1bad')).toBe('"1bad" is not a valid export name');
    expect(problem('app:a-b')).toMatch(/not a valid export name/);
    expect(problem('app:a.b')).toMatch(/not a valid export name/);
    expect(problem('app:(1)')).toMatch(/"" is not a valid export name/);
  });

  it('an unterminated string', () => {
    expect(problem(`app:create('x)`)).toBe('arguments of create(): unterminated string');
    expect(problem(`app:create("x\\")`)).toMatch(/unterminated string/);
  });

  it('a missing closing parenthesis', () => {
    expect(problem('app:create(')).toMatch(/must end with "\)"/);
    expect(problem(`app:create('x'`)).toMatch(/must end with "\)"/);
    expect(problem('app:create)')).toMatch(/not a valid export name/);
  });

  it('garbage arguments', () => {
    expect(problem('app:create(x)')).toMatch(/^arguments of create\(\): unexpected "x\)?"/);
    expect(problem('app:create(1 2)')).toMatch(/expected ","/);
    expect(problem('app:create(1,)')).toMatch(/unexpected/);
    expect(problem('app:create(,1)')).toMatch(/unexpected/);
    expect(problem('app:create(truex)')).toMatch(/expected ","/);
    expect(problem('app:create(undefined)')).toMatch(/use quoted strings, numbers, true, false or null/);
    expect(problem('app:create({})')).toMatch(/unexpected/);
    expect(problem('app:create(.5)')).toMatch(/unexpected/);
  });
});

describe('parseLiteralList', () => {
  it('parses an empty list and a single value', () => {
    expect(parseLiteralList('')).toEqual({ ok: true, values: [] });
    expect(parseLiteralList('  ')).toEqual({ ok: true, values: [] });
    expect(parseLiteralList('"only"')).toEqual({ ok: true, values: ['only'] });
  });
});

describe('formatAppSpec', () => {
  it.each([
    'app',
    'app:handler',
    './dir/app.ts:create()',
    `app:create("x", 1, true, null, "y")`,
    `app:f("it's \\"q\\"")`,
  ])('round trips %s', (raw) => {
    const spec = ok(raw);
    expect(formatAppSpec(spec)).toBe(raw);
    expect(ok(formatAppSpec(spec))).toEqual(spec);
  });

  it('normalises quotes and spacing', () => {
    expect(formatAppSpec(ok(`app: create( 'x',2 )`))).toBe('app:create("x", 2)');
  });
});
