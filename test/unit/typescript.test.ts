import { describe, expect, it } from 'vitest';
import { tsxRetryReason } from '../../src/typescript.js';

const err = (props: Record<string, unknown>): Error => Object.assign(new Error(String(props.message ?? '')), props);

describe('when a native TypeScript import is retried with tsx', () => {
  const enumMessage = 'TypeScript enum is not supported in strip-only mode';
  const noExport = "The requested module './t.ts' does not provide an export named 'T'";
  it.each([
    [
      'non-erasable syntax',
      err({ code: 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX', message: `${enumMessage}\n  1 | enum` }),
      `ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX: ${enumMessage}`,
    ],
    [
      './x.js meaning x.ts',
      err({ code: 'ERR_MODULE_NOT_FOUND', message: "Cannot find module '/a/x.js'" }),
      "ERR_MODULE_NOT_FOUND: Cannot find module '/a/x.js'",
    ],
    [
      'a directory import',
      err({ code: 'ERR_UNSUPPORTED_DIR_IMPORT', message: 'Directory import' }),
      'ERR_UNSUPPORTED_DIR_IMPORT: Directory import',
    ],
    [
      '.tsx',
      err({ code: 'ERR_UNKNOWN_FILE_EXTENSION', message: 'Unknown file extension ".tsx"' }),
      'ERR_UNKNOWN_FILE_EXTENSION: Unknown file extension ".tsx"',
    ],
    ['a type imported without `import type`', new SyntaxError(noExport), `SyntaxError: ${noExport}`],
  ])('%s: yes', (_what, e, reason) => {
    expect(tsxRetryReason(e)).toBe(reason);
  });

  it.each([
    ['the app throws at import', new Error('no DATABASE_URL')],
    ['a real syntax error', new SyntaxError('Unexpected token')],
    ['a thrown string', 'boom'],
    ['null', null],
  ])('%s: no', (_what, e) => {
    expect(tsxRetryReason(e)).toBeNull();
  });
});
