/** The access log's line writer: whole lines, batches within PIPE_BUF, reopen between writes, drain. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LineWriter } from '../../src/log/line-writer.js';
import { accessTime, compileAccessFormat } from '../../src/log/access-log.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'tsu-lw-'));

describe('LineWriter', () => {
  it('writes every line once, in order, and drain() resolves when all is written', async () => {
    const file = path.join(tmp(), 'a.log');
    const w = new LineWriter(file);
    for (let i = 0; i < 5000; i++) w.write(`line ${i} ${'x'.repeat(i % 200)}`);
    await w.drain();
    const got = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
    expect(got).toHaveLength(5000);
    for (const [i, l] of got.entries()) expect(l.startsWith(`line ${i} `)).toBe(true);
    await w.close();
  });

  it('reopen() after a rename sends later lines to the new file, none lost or doubled', async () => {
    const dir = tmp();
    const file = path.join(dir, 'a.log');
    const w = new LineWriter(file);
    for (let i = 0; i < 1000; i++) w.write(`${i}`);
    fs.renameSync(file, `${file}.1`);
    w.reopen();
    for (let i = 1000; i < 2000; i++) w.write(`${i}`);
    await w.drain();
    const old = fs.readFileSync(`${file}.1`, 'utf8').split('\n').filter(Boolean);
    const now = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
    expect([...old, ...now].map(Number)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    // Everything queued after the reopen went to the new file.
    expect(now.map(Number).every((n) => n >= old.length)).toBe(true);
    await w.close();
  });

  it('flushSync() writes what is queued', async () => {
    const file = path.join(tmp(), 'a.log');
    const w = new LineWriter(file);
    w.write('one');
    w.write('two');
    w.flushSync();
    expect(fs.readFileSync(file, 'utf8')).toContain('two\n');
    await w.close();
  });

  it('close() writes what is queued, then drops later lines; destroy() writes before it returns', async () => {
    const file = path.join(tmp(), 'a.log');
    const w = new LineWriter(file);
    w.write('one');
    const closed = w.close();
    w.write('after close');
    await Promise.all([closed, w.close()]);
    expect(fs.readFileSync(file, 'utf8')).toBe('one\n');

    const file2 = path.join(tmp(), 'b.log');
    const d = new LineWriter(file2);
    d.write('two');
    const destroyed = d.destroy();
    expect(fs.readFileSync(file2, 'utf8')).toBe('two\n');
    await destroyed;
    await d.close();
  });
});

describe('access format', () => {
  const record = {
    remoteAddress: '10.0.0.1',
    method: 'POST',
    url: '/p?q=1',
    httpVersion: '1.1',
    status: 201,
    bytes: 0,
    requestHeaders: { 'user-agent': 'say "hi"' },
    responseHeader: (n: string) => (n === 'x-out' ? ['a', 'b'] : undefined),
    startedAt: Date.UTC(2026, 0, 2, 3, 4, 5),
    durationNs: 1_500_000_000n,
  };

  it('compiles atoms, escapes quotes, prints - for missing and zero bytes', () => {
    const f = compileAccessFormat(
      '%(h)s "%(r)s" %(s)s %(b)s %(B)s "%(a)s" %(T)s %(M)s %({x-out}o)s %({nope}i)s %%(h)s',
    );
    expect(f(record)).toBe('10.0.0.1 "POST /p?q=1 HTTP/1.1" 201 - 0 "say \\"hi\\"" 1 1500 a, b - %(h)s');
  });

  it('%(t)s is Apache-style local time', () => {
    expect(accessTime(Date.now())).toMatch(
      /^\[\d\d\/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]$/,
    );
  });

  it('rejects an unknown atom', () => {
    expect(() => compileAccessFormat('%(Q)s')).toThrow('unknown access-log atom %(Q)s');
  });

  const noDevFull = !fs.existsSync('/dev/full');
  it.skipIf(noDevFull)('a failing write (ENOSPC) loses lines: counted, told when it fails and recovers', async () => {
    const dir = tmp();
    const file = path.join(dir, 'a.log');
    fs.symlinkSync('/dev/full', file);
    const told: unknown[] = [];
    const w = new LineWriter(file, 1, (t) => told.push(t));
    for (let i = 0; i < 10; i++) w.write(`lost ${i}`);
    await w.drain();
    for (let i = 10; i < 25; i++) w.write(`lost ${i}`);
    await w.drain();
    expect(told).toEqual([{ kind: 'failing', code: 'ENOSPC' }]);
    // Space again (here: the path now names a plain file) and a reopen: writes resume and the loss is reported.
    fs.unlinkSync(file);
    w.reopen();
    w.write('kept');
    await w.drain();
    expect(told).toEqual([
      { kind: 'failing', code: 'ENOSPC' },
      { kind: 'recovered', code: 'ENOSPC', lost: 25 },
    ]);
    expect(fs.readFileSync(file, 'utf8')).toBe('kept\n');
    await w.close();
  });
});
