/**
 * -D/--daemon with a pidfile: the launcher exits 0, the pidfile names a detached master that serves,
 * and TERM stops it and removes the pidfile.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  childPids,
  cleanup,
  cmdline,
  copyFixture,
  get,
  isAlive,
  readLines,
  runCli,
  tmpDir,
  waitFileLine,
  waitFor,
} from './harness.js';

afterEach(cleanup);

describe('-D/--daemon', () => {
  it('detaches: the launcher exits 0, the pidfile names a live detached master that serves; TERM stops it and removes the pidfile', async () => {
    const dir = tmpDir();
    copyFixture(dir);
    const pidfile = path.join(dir, 'app.pid');
    const logFile = path.join(dir, 'error.log');
    let daemonPid = 0;
    let daemonWorkers: number[] = [];
    try {
      const t0 = Date.now();
      const r = await runCli(
        ['node-app.mjs', '-D', '-p', pidfile, '--error-logfile', logFile, '-b', '127.0.0.1:0', '-w', '1'],
        {
          cwd: dir,
          timeoutMs: 5000,
        },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(Date.now() - t0).toBeLessThan(5000);
      daemonPid = await waitFor('the pidfile', () => {
        const pid = Number.parseInt(fs.readFileSync(pidfile, 'utf8'), 10);
        return pid > 0 ? pid : null;
      });
      expect(daemonPid).not.toBe(r.server.pid);
      expect(isAlive(daemonPid)).toBe(true);
      await waitFor('the master title', () => /^tsunicorn: master \[node-app\.mjs\]/.test(cmdline(daemonPid)), 5000);
      // Its own session (setsid): no controlling terminal shared with the launcher's.
      const stat = fs.readFileSync(`/proc/${daemonPid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      expect(Number(fields[3]), `session of ${daemonPid}`).toBe(daemonPid);

      const port = Number((await waitFileLine(logFile, /Listening at: http:\/\/127\.0\.0\.1:(\d+) /))[1]);
      const res = await waitFor('a response from the daemon', () => get(`http://127.0.0.1:${port}/`), 10_000);
      expect(res.status).toBe(200);
      daemonWorkers = childPids(daemonPid);
      expect(daemonWorkers).toContain(Number(res.headers['x-worker-pid']));

      process.kill(daemonPid, 'SIGTERM');
      await waitFor('the daemon to exit', () => !isAlive(daemonPid), 10_000);
      for (const p of daemonWorkers) expect(isAlive(p), `worker ${p}`).toBe(false);
      expect(fs.existsSync(pidfile)).toBe(false);
      expect(readLines(logFile).join('\n')).toMatch(/Shutting down: Master/);
    } finally {
      // The daemon is not our child: the harness cannot see it. Kill it by pid whatever happened.
      if (daemonPid > 0) {
        for (const p of [...daemonWorkers, ...childPids(daemonPid), daemonPid]) {
          try {
            if (isAlive(p)) process.kill(p, 'SIGKILL');
          } catch {
            // Gone meanwhile.
          }
        }
      }
    }
  });
});
