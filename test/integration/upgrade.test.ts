/**
 * USR2 binary upgrade under load (Gunicorn's procedure): USR2 starts a new
 * master on the same sockets, WINCH stops the old master's workers, TERM
 * ends the old master; and the rollback (HUP the old master, TERM the new).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  FIXTURES,
  cleanup,
  cmdline,
  get,
  isAlive,
  start,
  tmpDir,
  waitFor,
  workersOf,
  WORKER_CLASSES,
  useWorkerClass,
} from './harness.js';
import { describeFailures, failedCount, startLoad } from './load.js';

afterEach(cleanup);

const readPid = (file: string): number | null => {
  try {
    return Number(fs.readFileSync(file, 'utf8').trim()) || null;
  } catch {
    return null;
  }
};

async function upgradeSetup(bind: string) {
  const dir = tmpDir();
  fs.copyFileSync(path.join(FIXTURES, 'node-app.mjs'), path.join(dir, 'node-app.mjs'));
  const pidfile = path.join(dir, 'app.pid');
  const s = start(['node-app.mjs', '-w', '2', '-b', bind, '-p', pidfile, '--log-level', 'debug'], { cwd: dir });
  await s.readyWorkers(2);
  expect(readPid(pidfile)).toBe(s.pid);
  s.signal('SIGUSR2');
  const successor = await waitFor('the new master in <pidfile>.2', () => {
    const pid = readPid(`${pidfile}.2`);
    return pid && pid !== s.pid ? pid : null;
  });
  s.adopt(successor);
  await waitFor('the new master to set its title', () =>
    /^tsunicorn: master \[node-app.mjs\]/.test(cmdline(successor)),
  );
  await waitFor(
    "the new master's 2 workers ready",
    () => s.countLog(new RegExp(`\\[${successor}\\] \\[DEBUG\\] Worker \\(pid:\\d+\\) is ready`)) >= 2,
  );
  s.adopt(successor);
  return { dir, pidfile, s, successor };
}

describe.each(WORKER_CLASSES)('%s workers', (workerClass) => {
  beforeAll(() => useWorkerClass(workerClass));
  afterAll(() => useWorkerClass(null));

  describe('USR2 upgrade', () => {
    it('USR2, WINCH, TERM of the old master under keep-alive load: 0 failed requests; the new master survives and the pidfile names it', async () => {
      const dir0 = tmpDir();
      const sock = path.join(dir0, 'app.sock');
      const { pidfile, s, successor } = await upgradeSetup(`unix:${sock}`);
      const load = startLoad({
        url: 'http://localhost/',
        socketPath: sock,
        concurrency: 20,
        durationMs: 20_000,
        keepAlive: true,
      });
      await waitFor('load flowing', async () => (await get('http://localhost/', { socketPath: sock })).status === 200);

      s.signal('SIGWINCH');
      await waitFor('the old master to have no workers', () => s.workers().length === 0, 15_000);
      expect(workersOf(successor)).toHaveLength(2);
      s.signal('SIGTERM');
      expect((await s.waitExit()).code).toBe(0);
      // The socket file stays: the new master serves on it.
      expect(fs.existsSync(sock)).toBe(true);
      // The promotion writes the real name, then removes the `.2` one: two steps another process can see apart.
      await waitFor('the new master to take the pidfile', () => readPid(pidfile) === successor);
      await waitFor('the .2 pidfile removed', () => !fs.existsSync(`${pidfile}.2`));
      await s.waitLog(new RegExp(`\\[${successor}\\] \\[INFO\\] Master has been promoted\\.`));

      const result = await load.stop();
      expect(failedCount(result), describeFailures(result)).toBe(0);
      expect(result.ok).toBeGreaterThan(50);
      const served = await get('http://localhost/', { socketPath: sock });
      expect(workersOf(successor)).toContain(Number(served.body.trim().split(' ')[1]));

      process.kill(successor, 'SIGTERM');
      await waitFor('the new master to exit', () => !isAlive(successor), 10_000);
      expect(fs.existsSync(sock)).toBe(false);
      expect(fs.existsSync(pidfile)).toBe(false);
    }, 60_000);

    it('rollback: HUP the old master after WINCH, then TERM the new one; the old one serves alone', async () => {
      const { pidfile, s, successor } = await upgradeSetup('127.0.0.1:0');
      const port = await s.port();
      const load = startLoad({
        url: `http://127.0.0.1:${port}/`,
        concurrency: 10,
        durationMs: 20_000,
        keepAlive: false,
      });
      s.signal('SIGWINCH');
      await waitFor('the old master to have no workers', () => s.workers().length === 0, 15_000);
      s.signal('SIGHUP');
      await waitFor(
        'the old master to have 2 workers again',
        () =>
          s.workers().length === 2 &&
          s.countLog(new RegExp(`\\[${s.pid}\\] \\[DEBUG\\] Worker \\(pid:\\d+\\) is ready`)) >= 4,
      );
      process.kill(successor, 'SIGTERM');
      await waitFor('the new master to exit', () => !isAlive(successor), 10_000);
      await s.waitLog(/New master \(pid: \d+\) exited \(code 0\); this master carries on/);
      const result = await load.stop();
      expect(failedCount(result), describeFailures(result)).toBe(0);
      expect(readPid(pidfile)).toBe(s.pid);
      expect(fs.existsSync(`${pidfile}.2`)).toBe(false);
      const r = await get(`http://127.0.0.1:${port}/`);
      expect(s.workers()).toContain(Number(r.body.trim().split(' ')[1]));
    }, 60_000);

    it('a second USR2 while the new master runs is ignored', async () => {
      const { s, successor } = await upgradeSetup('127.0.0.1:0');
      s.signal('SIGUSR2');
      await s.waitLog(new RegExp(`USR2 ignored: an upgrade is in progress \\(new master pid ${successor}\\)`));
    }, 30_000);
  });
});
