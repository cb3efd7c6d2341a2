/**
 * tsunicorn as a container's PID 1, without a container engine: `unshare
 * --pid --fork --mount-proc` starts it as PID 1 of a new PID namespace with
 * its own /proc, as `docker run` does. Three set-ups:
 *   bare   TSUNICORN_INIT=none: the master itself is PID 1;
 *   relay  the default when tini is installed: the launcher, PID 1, runs
 *          tsunicorn under `tini -s` and relays signals (src/arbiter/platform/pid1.ts);
 *   tini   `tini -- tsunicorn …`, the Dockerfile's ENTRYPOINT: tini is PID 1.
 * In each: TERM (docker stop) is graceful within --graceful-timeout, Ctrl-C
 * in a terminal (docker run -it; here a pty from `script`) stops it, and an
 * orphaned grandchild is reaped, except in `bare`, where Node cannot reap it
 * and the test pins down that limit.
 */
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BIN,
  FIXTURES,
  Proc,
  childPids,
  cleanup,
  descendants,
  get,
  isAlive,
  missing,
  tool,
  waitFor,
} from './harness.js';

afterEach(cleanup);

type Mode = 'bare' | 'relay' | 'tini';
const MODES: readonly Mode[] = ['bare', 'relay', 'tini'];

const canUnshare = (() => {
  if (missing('PID-namespace tests', 'unshare', 'tini', 'script')) return false;
  // Creating a PID namespace needs CAP_SYS_ADMIN; an unprivileged container refuses it.
  const probe = spawnSync(tool('unshare')!, ['--pid', '--fork', '--mount-proc', 'true'], { encoding: 'utf8' });
  if (probe.status !== 0)
    console.warn(`SKIP PID-namespace tests: unshare --pid failed here: ${probe.stderr.trim() || probe.error?.message}`);
  return probe.status === 0;
})();

function command(mode: Mode, args: readonly string[]): string[] {
  return [
    tool('unshare')!,
    '--pid',
    '--fork',
    '--mount-proc',
    ...(mode === 'tini' ? [tool('tini')!, '--'] : []),
    process.execPath,
    BIN,
    'deploy-app.mjs',
    ...args,
  ];
}

function envFor(mode: Mode): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TSUNICORN_CMD_ARGS: '', PORT: '', WEB_CONCURRENCY: '' };
  if (mode === 'bare') env.TSUNICORN_INIT = 'none';
  else delete env.TSUNICORN_INIT;
  return env;
}

const ARGS = ['-w', '2', '-b', '127.0.0.1:0', '--graceful-timeout', '2', '--log-level', 'debug'];

async function startPid1(mode: Mode) {
  const [cmd, ...rest] = command(mode, ARGS);
  const p = new Proc(cmd!, rest, { cwd: FIXTURES, env: envFor(mode) });
  const m = await p.waitLog(/Listening at: http:\/\/127\.0\.0\.1:(\d+) \((\d+)\)/);
  await waitFor(`2 ready workers (log:\n${p.log})`, () => p.countLog(/is ready$/) >= 2, 15_000);
  // The namespace's PID 1, as this (the parent) namespace numbers it.
  const pid1 = await waitFor('the namespace init', () => childPids(p.pid)[0]);
  p.track();
  return { p, port: Number(m[1]), masterPid: Number(m[2]), pid1 };
}

const json = async (url: string) => JSON.parse((await get(url)).body) as Record<string, unknown>;

describe.skipIf(!canUnshare)('as PID 1 in a PID namespace', () => {
  it.each(MODES)(
    '%s: who is PID 1, orphans, and TERM is graceful within --graceful-timeout',
    async (mode) => {
      const { p, port, masterPid, pid1 } = await startPid1(mode);
      const base = `http://127.0.0.1:${port}`;
      const inside = await json(`${base}/pid1`);
      if (mode === 'bare') {
        expect(masterPid).toBe(1);
        expect(inside.pid1).toMatch(/^tsunicorn: master \[deploy-app\.mjs\]/);
        expect(inside.ppid).toBe(1);
        expect(p.log).toMatch(
          /\[WARNING\] Running as PID 1 without an init \(TSUNICORN_INIT=none\): processes the app leaves behind are not reaped/,
        );
      } else if (mode === 'relay') {
        expect(inside.pid1).toBe('tsunicorn: init relay');
        expect(masterPid).not.toBe(1);
        expect(p.log).toMatch(/\[INFO\] Started as PID 1: running under \S*tini, which reaps orphaned processes/);
      } else {
        expect(inside.pid1).toMatch(/tini -- /);
        expect(masterPid).toBe(2);
        expect(p.log).not.toMatch(/Running as PID 1|Started as PID 1/);
      }

      // An app that double-forks: sh starts `sleep 0.2 &` and exits, so the sleep is orphaned.
      const orphan = Number((await get(`${base}/orphan?s=0.2`)).body);
      expect(orphan).toBeGreaterThan(1);
      if (mode === 'bare') {
        // Node cannot waitpid() a process it did not start: the orphan stays a zombie of PID 1.
        const z = await waitFor(
          'the orphan to die',
          async () => {
            const s = await json(`${base}/proc?pid=${orphan}`);
            return s.state === 'Z' ? s : null;
          },
          5000,
        );
        expect(z.ppid).toBe(1);
      } else {
        await waitFor(
          'the orphan to be reaped',
          async () => (await json(`${base}/proc?pid=${orphan}`)).gone === true,
          5000,
        );
        expect(JSON.parse((await get(`${base}/zombies`)).body)).toEqual([]);
      }

      // docker stop: TERM to PID 1. A 1 s request finishes; a 20 s one is cut off by --graceful-timeout 2.
      const slow = get(`${base}/slow?ms=1000`);
      const stuck = get(`${base}/slow?ms=20000`).catch((err: Error) => err);
      await waitFor('both requests in flight', () => p.countLog(/slow request started/) >= 2);
      const tree = [pid1, ...descendants(pid1)];
      const t0 = Date.now();
      process.kill(pid1, 'SIGTERM');
      expect((await slow).status).toBe(200);
      expect(await p.waitExit(8000)).toEqual({ code: 0, signal: null });
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(await stuck).toBeInstanceOf(Error);
      expect(p.log).toMatch(/Handling signal: term/);
      expect(p.log).toMatch(/Shutting down: Master/);
      for (const pid of tree) expect(isAlive(pid)).toBe(false);
    },
    40_000,
  );

  it.each(MODES)(
    '%s: Ctrl-C in a terminal (docker run -it) stops it',
    async (mode) => {
      const quoted = command(mode, ['-w', '2', '-b', '127.0.0.1:0', '--log-level', 'debug']).map(
        (a) => `'${a.replace(/'/g, `'\\''`)}'`,
      );
      // script gives the command a pty; bytes written to script's stdin are typed on that terminal.
      // script runs the command with $SHELL -c; `exec` keeps that shell out of the terminal's process
      // group whatever $SHELL is (dash, unlike bash, stays as a parent, and Ctrl-C kills it: exit 130).
      const p = new Proc(tool('script')!, ['-qfec', `exec ${quoted.join(' ')}`, '/dev/null'], {
        cwd: FIXTURES,
        env: envFor(mode),
        stdin: 'pipe',
      });
      await waitFor(`2 ready workers (output:\n${p.log})`, () => p.countLog(/is ready/) >= 2, 15_000);
      p.track();
      p.child.stdin!.write('\x03');
      expect(await p.waitExit(8000)).toEqual({ code: 0, signal: null });
      expect(p.log).toMatch(/Handling signal: int/);
      expect(p.log).toMatch(/Shutting down: Master/);
    },
    30_000,
  );
});
