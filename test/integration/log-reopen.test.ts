/**
 * USR1 reopens the log files after a logrotate-style rename: the arbiter and every worker, including one
 * still booting, write to the new file from then on.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, copyFixture, get, linePid, readLines, start, tmpDir, waitFileLine, waitFor } from './harness.js';

afterEach(cleanup);

describe('USR1', () => {
  it('reopens the error log in the master and in workers after a logrotate-style rename', async () => {
    const dir = tmpDir();
    const logFile = path.join(dir, 'error.log');
    const rotated = `${logFile}.1`;
    const s = start([
      'node-app.mjs',
      '-w',
      '1',
      '-b',
      '127.0.0.1:0',
      '--log-level',
      'debug',
      '--error-logfile',
      logFile,
    ]);
    await waitFileLine(logFile, /is ready$/);
    const port = Number((await waitFileLine(logFile, /Listening at: http:\/\/127\.0\.0\.1:(\d+) /))[1]);
    const [worker] = s.workers();
    expect((await get(`http://127.0.0.1:${port}/boom?before`)).status).toBe(500);
    await waitFileLine(logFile, /Error handling request GET \/boom\?before: boom from node app/);

    fs.renameSync(logFile, rotated);
    s.signal('SIGUSR1');
    // Logged before the reopen, so it lands in the rotated file.
    await waitFileLine(rotated, /Handling signal: usr1/);

    // The existing worker reopens too: its request errors reach the new file.
    const after = await waitFor(
      'a worker error line in the new log',
      async () => {
        await get(`http://127.0.0.1:${port}/boom?after`);
        return readLines(logFile).find((l) => /Error handling request GET \/boom\?after/.test(l));
      },
      5000,
      100,
    );
    expect(linePid(after)).toBe(worker);

    // New lines from the master and from a new worker go to the new file only.
    s.signal('SIGTTIN');
    await waitFileLine(logFile, /Handling signal: ttin/);
    const booting = await waitFileLine(logFile, /Booting worker with pid: (\d+)/);
    expect(Number(booting[1])).not.toBe(worker);
    await waitFor('2 workers', () => s.workers().length === 2);

    const old = readLines(rotated).join('\n');
    expect(old).toMatch(/Starting tsunicorn/);
    expect(old).toMatch(/Listening at: http/);
    expect(old).toMatch(new RegExp(`Booting worker with pid: ${worker}`));
    expect(old).toMatch(/Error handling request GET \/boom\?before/);
    expect(old).not.toMatch(/Handling signal: ttin/);
    expect(old).not.toMatch(new RegExp(`Booting worker with pid: ${booting[1]}`));
    const fresh = readLines(logFile).join('\n');
    expect(fresh).not.toMatch(/Starting tsunicorn/);
    expect(fresh).not.toMatch(/Error handling request GET \/boom\?before/);
    expect(s.log).toBe(''); // nothing on stderr: everything went to the file
  });

  it('also reopens in a worker that is still booting (loading the config for its hooks) when USR1 arrives', async () => {
    const dir = tmpDir();
    copyFixture(dir);
    const logFile = path.join(dir, 'error.log');
    const rotated = `${logFile}.1`;
    // A worker hook makes each worker load the config itself; the config takes 1.5 s to load in a
    // worker (not in the master), a window in which the worker already has its log open.
    fs.writeFileSync(
      path.join(dir, 'tsunicorn.config.mjs'),
      `import cluster from 'node:cluster';
if (cluster.isWorker) await new Promise((r) => setTimeout(r, 1500));
export default { postFork() {} };
`,
    );
    const s = start(
      ['node-app.mjs', '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug', '--error-logfile', logFile],
      { cwd: dir },
    );
    const port = Number((await waitFileLine(logFile, /Listening at: http:\/\/127\.0\.0\.1:(\d+) /))[1]);
    const worker = Number((await waitFileLine(logFile, /Booting worker with pid: (\d+)/))[1]);
    expect(readLines(logFile).join('\n')).not.toMatch(/is ready$/m);
    fs.renameSync(logFile, rotated);
    s.signal('SIGUSR1');
    await waitFileLine(rotated, /Handling signal: usr1/);
    await waitFileLine(logFile, new RegExp(`Worker \\(pid:${worker}\\) is ready`), 10_000);
    expect((await get(`http://127.0.0.1:${port}/boom?after`)).status).toBe(500);
    const errorLine = await waitFor('the worker error line in either file', () =>
      [...readLines(logFile), ...readLines(rotated)].find((l) => l.includes('Error handling request GET /boom?after')),
    );
    expect(linePid(errorLine)).toBe(worker);
    expect(readLines(logFile), `the booting worker kept writing to the rotated ${rotated}`).toContain(errorLine);
  });
});
