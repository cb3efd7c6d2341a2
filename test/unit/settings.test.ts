import { describe, expect, it } from 'vitest';
import { SECTIONS, bool, choice, int, list, optionalStr, seconds, str } from '../../src/config/setting-types.js';
import { SETTINGS, SETTING_KEYS, defaults, flagOf, settingSpec } from '../../src/config/settings.js';

const rejects = (parsed: { ok: boolean; allowed?: string }): string => {
  expect(parsed.ok).toBe(false);
  if (parsed.ok) throw new Error('unreachable');
  expect(parsed.allowed).toBeTruthy();
  return parsed.allowed!;
};

describe('the settings table', () => {
  it.each(SETTING_KEYS)('the default of %s parses with its own kind to itself', (key) => {
    const spec = settingSpec(key);
    const value = spec.default({});
    expect(spec.kind.parse(value)).toEqual({ ok: true, value });
    expect(typeof spec.kind.show(value)).toBe('string');
  });

  it('every setting has a section in SECTIONS, a non-empty doc and a meta', () => {
    for (const key of SETTING_KEYS) {
      const spec = settingSpec(key);
      expect(SECTIONS, key).toContain(spec.section);
      expect(spec.doc.trim().length, key).toBeGreaterThan(10);
      expect(spec.kind.meta, key).not.toBe('');
    }
  });

  it('every section is used', () => {
    for (const section of SECTIONS) {
      expect(
        SETTING_KEYS.some((k) => settingSpec(k).section === section),
        section,
      ).toBe(true);
    }
  });

  it('every flag is unique across settings and well formed', () => {
    const seen = new Map<string, string>();
    for (const key of SETTING_KEYS) {
      for (const flag of settingSpec(key).flags) {
        // `_` only for Gunicorn's own spelling `--limit-request-field_size`.
        expect(flag, key).toMatch(/^(-[A-Za-z]|--[a-z][a-z0-9-]*|--limit-request-field_size)$/);
        expect(seen.get(flag), `${flag} is used by ${seen.get(flag)} and ${key}`).toBeUndefined();
        seen.set(flag, key);
      }
    }
    // The CLI reserves these for itself.
    for (const reserved of ['-h', '--help', '-v', '--version']) expect(seen.has(reserved), reserved).toBe(false);
  });

  it('a setting with flags has a long flag; flagOf names the first (others are aliases such as --log-file)', () => {
    for (const key of SETTING_KEYS) {
      const flags = settingSpec(key).flags;
      if (flags.length === 0) {
        expect(flagOf(key)).toBe(key);
        continue;
      }
      const long = flags.filter((f) => f.startsWith('--'));
      expect(long.length, key).toBeGreaterThanOrEqual(1);
      expect(flagOf(key)).toBe(long[0]);
    }
    expect(flagOf('workerConnections')).toBe('--worker-connections');
    expect(flagOf('workers')).toBe('--workers');
  });

  it("uses Gunicorn's spellings for Gunicorn's settings", () => {
    expect(SETTINGS.workers.flags).toEqual(['-w', '--workers']);
    expect(SETTINGS.bind.flags).toEqual(['-b', '--bind']);
    expect(SETTINGS.workerClass.flags).toEqual(['-k', '--worker-class']);
    expect(SETTINGS.timeout.flags).toEqual(['-t', '--timeout']);
    expect(SETTINGS.config.flags).toEqual(['-c', '--config']);
    expect(SETTINGS.pid.flags).toEqual(['-p', '--pid']);
  });
});

describe('defaults(env)', () => {
  it('with an empty environment', () => {
    const d = defaults({});
    expect(d.bind).toEqual(['127.0.0.1:8000']);
    expect(d.workers).toBe(1);
    expect(d.config).toBeNull();
    expect(d.app).toBeNull();
    expect(Object.keys(d).sort()).toEqual([...SETTING_KEYS].sort());
  });

  it('$PORT binds all interfaces on that port', () => {
    expect(defaults({ PORT: '9000' }).bind).toEqual(['0.0.0.0:9000']);
    expect(defaults({ PORT: 'http' }).bind).toEqual(['127.0.0.1:8000']);
    expect(defaults({ PORT: '' }).bind).toEqual(['127.0.0.1:8000']);
  });

  it('$WEB_CONCURRENCY sets the worker count, ignoring junk', () => {
    expect(defaults({ WEB_CONCURRENCY: '3' }).workers).toBe(3);
    expect(defaults({ WEB_CONCURRENCY: 'abc' }).workers).toBe(1);
    expect(defaults({ WEB_CONCURRENCY: '0' }).workers).toBe(1);
    expect(defaults({ WEB_CONCURRENCY: '-2' }).workers).toBe(1);
    expect(defaults({ WEB_CONCURRENCY: '2.5' }).workers).toBe(1);
    expect(defaults({ WEB_CONCURRENCY: 'auto' }).workers).toBe('auto');
    expect(defaults({ WEB_CONCURRENCY: ' AUTO ' }).workers).toBe('auto');
  });

  it('returns fresh arrays, so one resolved config cannot mutate another', () => {
    const a = defaults({});
    a.bind.push('x');
    expect(defaults({}).bind).toEqual(['127.0.0.1:8000']);
  });
});

describe('value kinds', () => {
  it('int: parses numbers and digit strings within range', () => {
    const k = int(1, 10);
    expect(k.parse(5)).toEqual({ ok: true, value: 5 });
    expect(k.parse('7')).toEqual({ ok: true, value: 7 });
    expect(k.parse(' 10 ')).toEqual({ ok: true, value: 10 });
    expect(rejects(k.parse(0))).toBe('an integer from 1 to 10');
    expect(rejects(k.parse('11'))).toBe('an integer from 1 to 10');
    expect(rejects(k.parse(2.5))).toBe('an integer from 1 to 10');
    expect(rejects(k.parse('2.5'))).toBe('an integer from 1 to 10');
    expect(rejects(k.parse('3x'))).toBe('an integer from 1 to 10');
    expect(rejects(k.parse(''))).toBe('an integer from 1 to 10');
    expect(rejects(k.parse(true))).toBe('an integer from 1 to 10');
    expect(rejects(k.parse(null))).toBe('an integer from 1 to 10');
    expect(rejects(int(1).parse(0))).toBe('an integer >= 1');
    expect(int(1).parse(Number.MAX_SAFE_INTEGER).ok).toBe(true);
  });

  it('int: the table ranges are enforced', () => {
    expect(rejects(SETTINGS.workers.kind.parse('0'))).toBe('an integer from 1 to 1024, or auto');
    expect(rejects(SETTINGS.workers.kind.parse('1025'))).toBe('an integer from 1 to 1024, or auto');
    expect(rejects(SETTINGS.workers.kind.parse('automatic'))).toBe('an integer from 1 to 1024, or auto');
    expect(SETTINGS.workers.kind.parse('auto')).toEqual({ ok: true, value: 'auto' });
    expect(SETTINGS.workers.kind.parse(4)).toEqual({ ok: true, value: 4 });
    expect(rejects(SETTINGS.backlog.kind.parse(65536))).toBe('an integer from 1 to 65535');
  });

  it('seconds: non-negative numbers, fractions allowed', () => {
    const k = seconds(0);
    expect(k.parse(0)).toEqual({ ok: true, value: 0 });
    expect(k.parse('2.5')).toEqual({ ok: true, value: 2.5 });
    expect(k.parse(30)).toEqual({ ok: true, value: 30 });
    expect(rejects(k.parse(-1))).toBe('a number of seconds >= 0');
    expect(rejects(k.parse('-0.5'))).toBe('a number of seconds >= 0');
    expect(rejects(k.parse('soon'))).toBe('a number of seconds >= 0');
    expect(rejects(k.parse(''))).toBe('a number of seconds >= 0');
    expect(rejects(k.parse('  '))).toBe('a number of seconds >= 0');
    expect(rejects(k.parse(Infinity))).toBe('a number of seconds >= 0');
    expect(rejects(k.parse(NaN))).toBe('a number of seconds >= 0');
    expect(rejects(k.parse(false))).toBe('a number of seconds >= 0');
  });

  it('bool: booleans and the usual strings, case-insensitive', () => {
    const k = bool();
    for (const s of ['true', 'TRUE', '1', 'yes', 'on']) expect(k.parse(s), s).toEqual({ ok: true, value: true });
    for (const s of ['false', 'False', '0', 'no', 'off']) expect(k.parse(s), s).toEqual({ ok: true, value: false });
    expect(k.parse(true)).toEqual({ ok: true, value: true });
    expect(rejects(k.parse('maybe'))).toBe('true or false');
    expect(rejects(k.parse(''))).toBe('true or false');
    expect(rejects(k.parse(1))).toBe('true or false');
    expect(rejects(k.parse(null))).toBe('true or false');
  });

  it('choice: listed values, case-insensitive, with aliases', () => {
    const k = SETTINGS.logLevel.kind;
    expect(k.parse('debug')).toEqual({ ok: true, value: 'debug' });
    expect(k.parse('ERROR')).toEqual({ ok: true, value: 'error' });
    expect(k.parse('warn')).toEqual({ ok: true, value: 'warning' });
    expect(rejects(k.parse('verbose'))).toBe('one of debug, info, warning, error, critical');
    expect(rejects(k.parse(3))).toBe('one of debug, info, warning, error, critical');
    expect(SETTINGS.workerClass.kind.parse('SYNC')).toEqual({ ok: true, value: 'sync' });
    expect(rejects(SETTINGS.workerClass.kind.parse('gthread'))).toBe('one of async, sync');
  });

  it('choice: names inherited from Object.prototype are not aliases', () => {
    // `s in aliases` walks the prototype chain: "constructor" would resolve to the Object function.
    const k = choice(['a', 'b'] as const, { x: 'a' });
    expect(rejects(k.parse('constructor'))).toBe('one of a, b');
    expect(rejects(k.parse('__proto__'))).toBe('one of a, b');
    expect(rejects(SETTINGS.logLevel.kind.parse('constructor'))).toMatch(/^one of /);
  });

  it('list: a string or an array of strings, each checked', () => {
    const k = SETTINGS.bind.kind;
    expect(k.parse('127.0.0.1:1')).toEqual({ ok: true, value: ['127.0.0.1:1'] });
    expect(k.parse(['unix:/a', '[::1]:2'])).toEqual({ ok: true, value: ['unix:/a', '[::1]:2'] });
    expect(k.parse([])).toEqual({ ok: true, value: [] });
    expect(rejects(k.parse(['127.0.0.1:1', 'host:99999']))).toMatch(
      /^port must be a number from 0 to 65535.*\(in "host:99999"\)$/,
    );
    expect(rejects(k.parse([8000]))).toBe('a string or an array of non-empty strings');
    expect(rejects(k.parse(['']))).toBe('a string or an array of non-empty strings');
    expect(rejects(k.parse(8000))).toBe('a string or an array of non-empty strings');
    expect(rejects(SETTINGS.env.kind.parse(['A=1', 'not-an-assignment']))).toBe('KEY=VALUE (in "not-an-assignment")');
    expect(SETTINGS.env.kind.parse(['A_1=x=y', 'B='])).toEqual({ ok: true, value: ['A_1=x=y', 'B='] });
    expect(list().show([])).toBe('[]');
    expect(list().show(['a', 'b'])).toBe('a, b');
  });

  it('list: the parsed value is a copy of the input array', () => {
    const input = ['a'];
    const parsed = list().parse(input);
    expect(parsed.ok && parsed.value).not.toBe(input);
  });

  it('optionalStr and str', () => {
    const k = optionalStr('PATH');
    expect(k.parse(null)).toEqual({ ok: true, value: null });
    expect(k.parse(undefined)).toEqual({ ok: true, value: null });
    expect(k.parse('/x')).toEqual({ ok: true, value: '/x' });
    expect(rejects(k.parse(''))).toBe('a non-empty string');
    expect(rejects(k.parse(3))).toBe('a non-empty string');
    expect(k.show(null)).toBe('None');
    expect(rejects(SETTINGS.app.kind.parse('app:1bad'))).toBe('"1bad" is not a valid export name');
    expect(SETTINGS.app.kind.parse('app:create()')).toEqual({ ok: true, value: 'app:create()' });
    expect(rejects(str().parse(''))).toBe('a non-empty string');
    expect(rejects(str((s) => (s === 'x' ? 'not x' : undefined)).parse('x'))).toBe('not x');
  });
});
