/**
 * Parsing of the application spec, `MODULE[:EXPORT]`, where EXPORT may call a
 * factory with literal arguments: `app:create()`, `app:create('x', 1, true)`.
 * Arguments are JSON-like literals (strings in single or double quotes,
 * numbers, true, false, null), as Gunicorn accepts Python literals. Pure.
 */

export interface AppSpec {
  /** As written: a path (with or without extension) or a package name. */
  module: string;
  /** Export name; undefined means the default export. */
  exportName: string | undefined;
  /** Present when EXPORT is called as a factory. */
  args: unknown[] | undefined;
}

export type AppSpecParse = { ok: true; spec: AppSpec } | { ok: false; problem: string };

const IDENT = /^[A-Za-z_$][\w$]*$/;

/** What a factory argument may be, as an error message says it. */
const LITERALS = 'use quoted strings, numbers, true, false or null';

export function parseAppSpec(raw: string): AppSpecParse {
  const text = raw.trim();
  // A Windows drive letter is not a concern (POSIX only), so the first colon splits.
  const colon = text.indexOf(':');
  const module = (colon < 0 ? text : text.slice(0, colon)).trim();
  const exportPart = colon < 0 ? '' : text.slice(colon + 1).trim();
  if (module === '') return { ok: false, problem: 'MODULE is empty; expected MODULE[:EXPORT]' };
  if (colon >= 0 && exportPart === '') return { ok: false, problem: 'EXPORT after ":" is empty' };
  if (exportPart === '') return { ok: true, spec: { module, exportName: undefined, args: undefined } };

  const paren = exportPart.indexOf('(');
  const name = (paren < 0 ? exportPart : exportPart.slice(0, paren)).trim();
  if (!IDENT.test(name)) return { ok: false, problem: `${JSON.stringify(name)} is not a valid export name` };
  if (paren < 0) return { ok: true, spec: { module, exportName: name, args: undefined } };
  if (!exportPart.endsWith(')'))
    return { ok: false, problem: `factory call ${JSON.stringify(exportPart)} must end with ")"` };
  const args = parseLiteralList(exportPart.slice(paren + 1, -1));
  if (!args.ok) return { ok: false, problem: `arguments of ${name}(): ${args.problem}` };
  return { ok: true, spec: { module, exportName: name, args: args.values } };
}

type ListParse = { ok: true; values: unknown[] } | { ok: false; problem: string };

/** Parses `'x', 1, "y", true` into values. A small hand-written scanner: the grammar is tiny. */
export function parseLiteralList(src: string): ListParse {
  const values: unknown[] = [];
  let i = 0;
  const skip = () => {
    while (i < src.length && /\s/.test(src[i]!)) i++;
  };
  skip();
  if (i === src.length) return { ok: true, values };
  for (;;) {
    skip();
    const ch = src[i];
    if (ch === '"' || ch === "'") {
      let out = '';
      i++;
      while (i < src.length && src[i] !== ch) {
        if (src[i] === '\\' && i + 1 < src.length) {
          const esc = src[i + 1]!;
          out += esc === 'n' ? '\n' : esc === 't' ? '\t' : esc;
          i += 2;
        } else out += src[i++];
      }
      if (i >= src.length) return { ok: false, problem: 'unterminated string' };
      i++;
      values.push(out);
    } else {
      const m = /^(-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false|null)/.exec(src.slice(i));
      if (!m)
        return {
          ok: false,
          problem: `unexpected ${JSON.stringify(src.slice(i, i + 10))}; ${LITERALS}`,
        };
      values.push(JSON.parse(m[0]));
      i += m[0].length;
    }
    skip();
    if (i === src.length) return { ok: true, values };
    if (src[i] !== ',') return { ok: false, problem: `expected "," at ${JSON.stringify(src.slice(i, i + 10))}` };
    i++;
  }
}

export function formatAppSpec(spec: AppSpec): string {
  if (spec.exportName === undefined) return spec.module;
  const call = spec.args ? `(${spec.args.map((a) => JSON.stringify(a)).join(', ')})` : '';
  return `${spec.module}:${spec.exportName}${call}`;
}
