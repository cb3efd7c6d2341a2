import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openLogFile, trustedDirectory } from '../../src/log/open-log.js';

const dirs: string[] = [];
const dir = (mode: number) => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tsu-openlog-'));
  fs.chmodSync(d, mode);
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('openLogFile', () => {
  it('creates and appends to a regular file', () => {
    const file = path.join(dir(0o755), 'a.log');
    const fd = openLogFile(file);
    fs.writeSync(fd, 'one\n');
    fs.closeSync(fd);
    expect(fs.readFileSync(file, 'utf8')).toBe('one\n');
  });

  it('follows a link only where nobody else can write the directory', () => {
    const target = path.join(dir(0o755), 'target');
    const shared = dir(0o1777);
    fs.symlinkSync(target, path.join(shared, 'a.log'));
    expect(() => openLogFile(path.join(shared, 'a.log'))).toThrow(/symbolic link in a directory other users can write/);
    expect(fs.existsSync(target)).toBe(false);
    const own = dir(0o755);
    fs.symlinkSync(target, path.join(own, 'a.log'));
    fs.closeSync(openLogFile(path.join(own, 'a.log')));
    expect(fs.existsSync(target)).toBe(true);
  });

  it('refuses a hard link to another file', () => {
    const d = dir(0o755);
    fs.writeFileSync(path.join(d, 'victim'), 'x');
    fs.linkSync(path.join(d, 'victim'), path.join(d, 'a.log'));
    expect(() => openLogFile(path.join(d, 'a.log'))).toThrow(/2 hard links/);
  });

  it('a FIFO with no reader fails at once instead of blocking', () => {
    const fifo = path.join(dir(0o755), 'a.log');
    execFileSync('mkfifo', [fifo]);
    expect(() => openLogFile(fifo)).toThrow(/ENXIO/);
  });
});

describe('trustedDirectory', () => {
  it.each([
    [0o755, true],
    [0o775, false],
    [0o757, false],
    [0o1777, false],
    [0o700, true],
  ])('mode %o: %s', (mode, expected) => {
    expect(trustedDirectory(dir(mode))).toBe(expected);
  });
});
