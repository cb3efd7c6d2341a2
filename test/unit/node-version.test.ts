import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MIN_NODE, nodeVersionError } from '../../bin/node-version.js';

describe("the launcher's Node.js version check", () => {
  it.each(['20.19.0', '20.20.1', '21.0.0', '22.12.0', '24.1.0', '100.0.0'])('accepts %s', (v) => {
    expect(nodeVersionError(v)).toBeNull();
  });

  it.each(['20.18.3', '20.0.0', '18.20.4', '16.0.0', 'garbage'])('refuses %s with one line', (v) => {
    expect(nodeVersionError(v)).toBe(`Node.js >= 20.19 is required; this is v${v}`);
  });

  it('agrees with package.json "engines"', () => {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe(`>=${MIN_NODE.join('.')}`);
  });
});
