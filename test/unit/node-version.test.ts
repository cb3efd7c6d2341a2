import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENGINES, nodeVersionError } from '../../bin/node-version.js';

describe("the launcher's Node.js version check", () => {
  const supported = ['20.19.0', '20.20.1', '22.12.0', '22.23.3', '23.0.0', '24.1.0', '26.10.0', '100.0.0'];
  it.each(supported)('accepts %s', (v) => {
    expect(nodeVersionError(v)).toBeNull();
  });

  const unsupported = ['20.18.3', '20.0.0', '21.7.3', '22.11.0', '18.20.4', '16.0.0', 'garbage'];
  it.each(unsupported)('refuses %s with one line', (v) => {
    expect(nodeVersionError(v)).toBe(`Node.js 20.19+ or 22.12+ is required; this is v${v}`);
  });

  it('agrees with package.json "engines"', () => {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      engines: { node: string };
    };
    expect(pkg.engines.node).toBe(ENGINES);
    expect(ENGINES).toBe('^20.19.0 || >=22.12.0');
  });
});
