/**
 * bin/tsunicorn.js on an unsupported Node: the version is faked before the
 * launcher runs (`--import` of a module that redefines process.versions and
 * process.version), so the real launcher's check is what is tested.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT } from './harness.js';

function runAs(version: string, args: string[]) {
  const fake =
    `Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '${version}' } });` +
    `Object.defineProperty(process, 'version', { value: 'v${version}' });`;
  return spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(fake)}`, BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 15_000,
  });
}

describe('the launcher', () => {
  it('refuses an unsupported Node.js with one clear line and exit 1', () => {
    const r = runAs('18.20.4', ['--version']);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('tsunicorn: error: Node.js 20.19+ or 22.12+ is required; this is v18.20.4\n');
  });

  it('refuses a 22 before 22.12 (no require of ES modules without a flag)', () => {
    const r = runAs('22.11.0', ['--version']);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('tsunicorn: error: Node.js 20.19+ or 22.12+ is required; this is v22.11.0\n');
  });

  it('runs on a supported one: --version prints the version', () => {
    const r = runAs('20.19.0', ['--version']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^tsunicorn \(version \d+\.\d+\.\d+\)\n$/);
    expect(r.status).toBe(0);
  });
});
