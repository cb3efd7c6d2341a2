/** The error log's file writer: lines it cannot write are counted and reported after the next one it can. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { SyncFile } from '../../src/log/sync-file.js';

it.skipIf(!fs.existsSync('/dev/full'))('a full disk (ENOSPC) loses lines, counted; reported after a reopen', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsu-sf-')), 'error.log');
  fs.symlinkSync('/dev/full', file);
  const reports: number[] = [];
  const out = new SyncFile(file, (n) => reports.push(n));
  for (let i = 0; i < 3; i++) out.write(`lost ${i}\n`);
  expect(reports).toEqual([]);
  fs.unlinkSync(file);
  out.reopen();
  out.write('kept\n');
  out.write('kept too\n');
  expect(reports).toEqual([3]);
  expect(fs.readFileSync(file, 'utf8')).toBe('kept\nkept too\n');
});
