/**
 * The value kinds a setting can have. Each kind knows how to turn raw input
 * (a CLI string, a config-file value, an environment variable) into a typed
 * value, or say in a few words what it allows. The settings table combines
 * these with names, flags, docs and defaults.
 */
import { isIP } from 'node:net';

export type Section =
  | 'Config'
  | 'Server socket'
  | 'Worker processes'
  | 'Server mechanics'
  | 'Security'
  | 'SSL'
  | 'Logging'
  | 'Metrics and control'
  | 'Process naming';

export const SECTIONS: readonly Section[] = [
  'Config',
  'Server socket',
  'Worker processes',
  'Server mechanics',
  'Security',
  'SSL',
  'Logging',
  'Metrics and control',
  'Process naming',
];

/** Result of parsing one raw value: the value, or what is allowed. */
type Parsed<T> = { ok: true; value: T } | { ok: false; allowed: string };

export interface Kind<T> {
  /** Human name for docs and --help, e.g. "INT", "STRING". */
  readonly meta: string;
  /** True for on/off flags (`--x` / `--no-x` on the command line). */
  readonly flag?: boolean;
  /** True when the flag may be repeated and the value is a list. */
  readonly list?: boolean;
  parse(raw: unknown): Parsed<T>;
  /** How the value prints in --print-config and docs. */
  show(value: T): string;
}

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const no = <T>(allowed: string): Parsed<T> => ({ ok: false, allowed });

export function int(min: number, max = Number.MAX_SAFE_INTEGER): Kind<number> {
  const allowed = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
  return {
    meta: 'INT',
    parse(raw) {
      const n =
        typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN;
      return Number.isInteger(n) && n >= min && n <= max ? ok(n) : no(allowed);
    },
    show: String,
  };
}

/** A count, or `auto` to have it worked out at start (-w auto: arbiter/decisions/worker-count.ts). */
export function intOrAuto(min: number, max: number): Kind<number | 'auto'> {
  const count = int(min, max);
  return {
    meta: 'INT|auto',
    parse(raw) {
      if (typeof raw === 'string' && raw.trim().toLowerCase() === 'auto') return ok('auto' as const);
      const n = count.parse(raw);
      return n.ok ? n : no(`${n.allowed}, or auto`);
    },
    show: String,
  };
}

/** A duration in seconds; fractions allowed. */
export function seconds(min = 0): Kind<number> {
  return {
    meta: 'SECONDS',
    parse(raw) {
      const n =
        typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : NaN;
      return Number.isFinite(n) && n >= min ? ok(n) : no(`a number of seconds >= ${min}`);
    },
    show: String,
  };
}

/** A decimal number from min to max (a ratio, a fraction). */
export function decimal(min: number, max = Number.MAX_VALUE): Kind<number> {
  const allowed = max === Number.MAX_VALUE ? `a number >= ${min}` : `a number from ${min} to ${max}`;
  return {
    meta: 'NUMBER',
    parse(raw) {
      const n =
        typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : NaN;
      return Number.isFinite(n) && n >= min && n <= max ? ok(n) : no(allowed);
    },
    show: String,
  };
}

/** An integer setting that only accepts 1, with the reason as what is allowed (--threads). */
export function onlyOne(reason: string): Kind<number> {
  return {
    meta: 'INT',
    parse(raw) {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
      return n === 1 ? ok(1) : no(`1; ${reason}`);
    },
    show: String,
  };
}

export function str(check?: (s: string) => string | undefined, meta = 'STRING'): Kind<string> {
  return {
    meta,
    parse(raw) {
      if (typeof raw !== 'string' || raw === '') return no('a non-empty string');
      const problem = check?.(raw);
      return problem ? no(problem) : ok(raw);
    },
    show: (v) => v,
  };
}

/** A string that may be unset (null): an optional path, for example. */
export function optionalStr(meta = 'STRING', check?: (s: string) => string | undefined): Kind<string | null> {
  return {
    meta,
    parse(raw) {
      if (raw === null || raw === undefined) return ok(null);
      if (typeof raw !== 'string' || raw === '') return no('a non-empty string');
      const problem = check?.(raw);
      return problem ? no(problem) : ok(raw);
    },
    show: (v) => (v === null ? 'None' : v),
  };
}

export function bool(): Kind<boolean> {
  return {
    meta: 'BOOL',
    flag: true,
    parse(raw) {
      if (typeof raw === 'boolean') return ok(raw);
      if (typeof raw === 'string') {
        const s = raw.toLowerCase();
        if (['true', '1', 'yes', 'on'].includes(s)) return ok(true);
        if (['false', '0', 'no', 'off'].includes(s)) return ok(false);
      }
      return no('true or false');
    },
    show: (v) => String(v),
  };
}

export function choice<const C extends string>(choices: readonly C[], aliases: Record<string, C> = {}): Kind<C> {
  return {
    meta: choices.join('|'),
    parse(raw) {
      if (typeof raw === 'string') {
        const s = raw.toLowerCase();
        if ((choices as readonly string[]).includes(s)) return ok(s as C);
        if (Object.hasOwn(aliases, s)) return ok(aliases[s] as C);
      }
      return no(`one of ${choices.join(', ')}`);
    },
    show: (v) => v,
  };
}

/** A repeatable string flag; a config file gives an array (or one string). */
export function list(check?: (s: string) => string | undefined, meta = 'STRING'): Kind<string[]> {
  return {
    meta,
    list: true,
    parse(raw) {
      const items = typeof raw === 'string' ? [raw] : raw;
      if (!Array.isArray(items) || !items.every((s) => typeof s === 'string' && s !== '')) {
        return no('a string or an array of non-empty strings');
      }
      for (const item of items as string[]) {
        const problem = check?.(item);
        if (problem) return no(`${problem} (in ${JSON.stringify(item)})`);
      }
      return ok([...(items as string[])]);
    },
    show: (v) => (v.length ? v.join(', ') : '[]'),
  };
}

/**
 * A list of IP addresses and networks (`10.0.0.0/8`, `fd00::/8`), or `*` for any: Gunicorn's
 * comma-separated `--forwarded-allow-ips` form on the command line; a string or an array in a config file.
 */
export function addressList(): Kind<string[]> {
  const allowed = "'*' or comma-separated IP addresses and CIDR networks";
  return {
    meta: 'ADDRESSES',
    parse(raw) {
      const items = typeof raw === 'string' ? raw.split(',') : Array.isArray(raw) ? raw : null;
      if (!items?.every((s) => typeof s === 'string')) return no(allowed);
      const out = (items as string[]).map((s) => s.trim()).filter((s) => s !== '');
      for (const item of out) {
        if (item !== '*' && !isAddressOrNetwork(item)) return no(`${allowed} (${JSON.stringify(item)} is neither)`);
      }
      return ok(out);
    },
    show: (v) => v.join(','),
  };
}

function isAddressOrNetwork(s: string): boolean {
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) return false;
  if (slash < 0) return true;
  const bits = s.slice(slash + 1);
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/**
 * Header name → value pairs (`--secure-scheme-headers`): `NAME=VALUE,NAME=VALUE` on the command line
 * (an empty string for none), an object in a config file. Names are kept upper-case, as Gunicorn keeps them.
 */
export function headerMap(): Kind<Record<string, string>> {
  const allowed =
    'NAME=VALUE pairs separated by commas (an empty string for none), or an object of header names to values';
  const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
  return {
    meta: 'NAME=VALUE,...',
    parse(raw) {
      let pairs: [string, unknown][];
      if (typeof raw === 'string') {
        pairs = [];
        for (const part of raw.split(',')) {
          if (part.trim() === '') continue;
          const eq = part.indexOf('=');
          if (eq < 0) return no(allowed);
          pairs.push([part.slice(0, eq).trim(), part.slice(eq + 1).trim()]);
        }
      } else if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
        pairs = Object.entries(raw as Record<string, unknown>);
      } else {
        return no(allowed);
      }
      const out: Record<string, string> = {};
      for (const [name, value] of pairs) {
        if (!token.test(name) || typeof value !== 'string') return no(allowed);
        out[name.toUpperCase()] = value;
      }
      return ok(out);
    },
    show: (v) =>
      Object.entries(v)
        .map(([k, x]) => `${k}=${x}`)
        .join(',') || "''",
  };
}

/**
 * A file-mode mask (`--umask`): `0o22`, `022` (octal, as the shell writes it), `0x12` or decimal; unset keeps the
 * inherited one.
 */
export function umask(): Kind<number | null> {
  const allowed = 'a mode mask from 0 to 0o777: octal as 022 or 0o22, hex as 0x12, or decimal';
  return {
    meta: 'MASK',
    parse(raw) {
      if (raw === null || raw === undefined) return ok(null);
      let n = NaN;
      if (typeof raw === 'number') n = raw;
      else if (typeof raw === 'string') {
        const s = raw.trim().toLowerCase();
        if (/^0$|^0o?[0-7]+$/.test(s)) n = parseInt(s.replace(/^0o?/, '') || '0', 8);
        else if (/^0x[0-9a-f]+$/.test(s)) n = parseInt(s.slice(2), 16);
        else if (/^[1-9]\d*$/.test(s)) n = Number(s);
      }
      return Number.isInteger(n) && n >= 0 && n <= 0o777 ? ok(n) : no(allowed);
    },
    show: (v) => (v === null ? 'None' : `0o${v.toString(8).padStart(3, '0')}`),
  };
}
