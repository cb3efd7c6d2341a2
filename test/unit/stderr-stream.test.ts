/** The error log on a pipe: never blocks, bounds what it holds, counts what it drops and says so once drained. */
import { Writable } from 'node:stream';
import { expect, it } from 'vitest';
import { MAX_BUFFERED, StderrStream } from '../../src/log/stderr-stream.js';

it('holds lines while the reader is stalled, drops and counts past the bound, reports the count once drained', () => {
  const written: string[] = [];
  const pending: (() => void)[] = [];
  // A pipe whose reader has stopped: nothing completes until release().
  const pipe = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _enc, done) {
      written.push(chunk.toString());
      pending.push(done);
    },
  });
  const reports: number[] = [];
  const out = new StderrStream((n) => reports.push(n), pipe);
  const line = `${'x'.repeat(99)}\n`;
  const total = Math.ceil(MAX_BUFFERED / line.length) + 50;
  for (let i = 0; i < total; i++) out.write(line);
  expect(pipe.writableLength).toBeLessThanOrEqual(MAX_BUFFERED + line.length);
  expect(reports).toEqual([]);
  // The reader catches up: everything held is written, then the loss is reported, once.
  while (pending.length) pending.shift()!();
  expect(reports).toHaveLength(1);
  const kept = written.length;
  expect(kept + reports[0]!).toBe(total);
  expect(reports[0]).toBeGreaterThan(0);
  out.write(line);
  expect(written.length).toBe(kept + 1);
});
