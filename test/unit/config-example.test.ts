/** config.example.ts must name every setting a config file may set, and load cleanly. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve.js';
import { SETTING_KEYS, defaults, settingSpec } from '../../src/config/settings.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const example = path.join(root, 'config.example.ts');

describe('config.example.ts', () => {
  it('sets every file setting', () => {
    const text = fs.readFileSync(example, 'utf8');
    for (const key of SETTING_KEYS) {
      if (settingSpec(key).cliOnly) continue;
      expect(text, `config.example.ts is missing ${key}`).toMatch(new RegExp(`^\\s*${key}:`, 'm'));
    }
  });

  it('loads, and every value equals the default', async () => {
    const { settings } = await resolveConfig({ argv: ['-c', example], env: {}, cwd: root });
    const d = defaults({});
    for (const key of SETTING_KEYS) {
      if (settingSpec(key).cliOnly) continue;
      expect(settings[key], key).toEqual(d[key]);
    }
  });
});
