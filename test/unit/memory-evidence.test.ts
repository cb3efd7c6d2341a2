/** --max-worker-heap strikes, and --diagnostics-dir file handling (exclusive creation, the cap). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Diagnostics, checkDiagnosticsDir } from '../../src/arbiter/diagnostics/diagnostics-dir.js';
import { HEAP_STRIKES, heapStrikes } from '../../src/arbiter/decisions/heap-rule.js';
import type { Logger } from '../../src/log/logger.js';

const MB = 1048576;

describe('heapStrikes', () => {
  it.each<[string, number, { used: number; limit: number } | undefined, number, number]>([
    ['over the threshold: one more', 0, { used: 90 * MB, limit: 100 * MB }, 80, 1],
    ['still over: counts on', 2, { used: 81 * MB, limit: 100 * MB }, 80, 3],
    ['at the threshold is not over', 2, { used: 80 * MB, limit: 100 * MB }, 80, 0],
    ['under again (a collection freed it): back to 0', 2, { used: 40 * MB, limit: 100 * MB }, 80, 0],
    ['disabled', 5, { used: 99 * MB, limit: 100 * MB }, 0, 0],
    ['no reading on the beat', 2, undefined, 80, 0],
    ['an unreadable limit', 2, { used: 1, limit: 0 }, 80, 0],
  ])('%s', (_name, previous, heap, percent, strikes) => expect(heapStrikes(previous, heap, percent)).toBe(strikes));

  it('recycles after three beats in a row', () => expect(HEAP_STRIKES).toBe(3));
});

describe('Diagnostics', () => {
  const dirs: string[] = [];
  const messages: string[] = [];
  const log = { info: (m: string) => messages.push(m), error: (m: string) => messages.push(m) } as unknown as Logger;
  const fresh = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tsu-diag-'));
    dirs.push(d);
    return checkDiagnosticsDir(path.join(d, 'reports'));
  };
  afterEach(() => {
    vi.useRealTimers();
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
    messages.length = 0;
  });

  it('keeps the newest --diagnostics-keep files of its own and leaves other files alone', () => {
    const dir = fresh();
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine');
    const d = new Diagnostics(dir, 3, log);
    vi.useFakeTimers();
    for (let i = 0; i < 5; i++) {
      vi.setSystemTime(new Date(Date.UTC(2026, 11, 5, 0, 0, i)));
      d.report(1000 + i, `{"n":${i}}`);
    }
    const names = fs.readdirSync(dir).sort();
    expect(names).toEqual([
      'notes.txt',
      'tsunicorn-report-1002-20261205T000002000Z.json',
      'tsunicorn-report-1003-20261205T000003000Z.json',
      'tsunicorn-report-1004-20261205T000004000Z.json',
    ]);
  });

  it('never writes through a symlink planted at its file name: it takes the next name', () => {
    const dir = fresh();
    const target = path.join(path.dirname(dir), 'victim');
    fs.writeFileSync(target, 'untouched');
    vi.useFakeTimers();
    vi.setSystemTime(new Date(Date.UTC(2026, 11, 5, 1, 2, 3, 456)));
    fs.symlinkSync(target, path.join(dir, 'tsunicorn-timeout-7-20261205T010203456Z.txt'));
    new Diagnostics(dir, 10, log).timeout(7, 'GET /x', 'at spin (file:///app.mjs:1:1)', null);
    expect(fs.readFileSync(target, 'utf8')).toBe('untouched');
    const written = path.join(dir, 'tsunicorn-timeout-7-20261205T010203456Z-1.txt');
    expect(fs.readFileSync(written, 'utf8')).toContain('serving: GET /x');
    expect(fs.statSync(written).mode & 0o777).toBe(0o600);
  });

  it('refuses a directory that is a symlink, not a directory, or writable by others', () => {
    const dir = fresh();
    fs.symlinkSync(dir, `${dir}-link`);
    expect(() => checkDiagnosticsDir(`${dir}-link`)).toThrow(/is a symbolic link/);
    fs.writeFileSync(`${dir}-file`, '');
    expect(() => checkDiagnosticsDir(`${dir}-file`)).toThrow(/is not a directory|EEXIST|ENOTDIR/);
    fs.chmodSync(dir, 0o777);
    expect(() => checkDiagnosticsDir(dir)).toThrow(/is writable by group or others \(mode 777\)/);
  });
});
