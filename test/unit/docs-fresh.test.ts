import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderSettingsDoc } from '../../src/config/settings-doc.js';
import { renderErrorsDoc } from '../../src/errors-doc.js';
import { ERRORS } from '../../src/errors.js';
import { SETTING_KEYS } from '../../src/config/settings.js';

const committed = (rel: string): string =>
  readFileSync(fileURLToPath(new URL(`../../${rel}`, import.meta.url)), 'utf8');
const STALE = 'is stale: run `npm run build && npm run docs` and commit the result';

describe('generated docs', () => {
  it('docs/settings.md matches the settings table', () => {
    expect(renderSettingsDoc(), `docs/settings.md ${STALE}`).toBe(committed('docs/settings.md'));
  });

  it('docs/errors.md matches the error table', () => {
    expect(renderErrorsDoc(), `docs/errors.md ${STALE}`).toBe(committed('docs/errors.md'));
  });

  it('settings.md has a heading for every setting, in table order within its section', () => {
    const doc = renderSettingsDoc();
    const headings = [...doc.matchAll(/^### `(\w+)`$/gm)].map((m) => m[1]);
    expect([...headings].sort()).toEqual([...SETTING_KEYS].sort());
    expect(doc).toMatch(/^- Command line: `-w`, `--workers`$/m);
  });

  it('errors.md lists every error code with its exit code, and exit codes 0-4', () => {
    const doc = renderErrorsDoc();
    for (const [code, spec] of Object.entries(ERRORS)) {
      expect(doc).toContain(`| \`${code}\` | ${spec.exit} | ${spec.doc} |`);
    }
    for (const exit of [0, 1, 2, 3, 4]) expect(doc).toMatch(new RegExp(`^\\| ${exit} \\| `, 'm'));
  });

  it('renders the same text whatever the environment says', () => {
    const saved = { PORT: process.env.PORT, WEB_CONCURRENCY: process.env.WEB_CONCURRENCY };
    const before = renderSettingsDoc();
    try {
      process.env.PORT = '9999';
      process.env.WEB_CONCURRENCY = '7';
      expect(renderSettingsDoc()).toBe(before);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
