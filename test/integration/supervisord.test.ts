/**
 * tsunicorn under Debian's real supervisord, with a private config in a temp
 * dir (its own unix socket for supervisorctl, logs and pidfile there too):
 * start, serve, `supervisorctl signal HUP` under keep-alive load with no
 * failed request, `supervisorctl restart`, and `supervisorctl stop` leaving no
 * tsunicorn process. The program section is the one docs/deploy/supervisord.md
 * recommends (stopsignal TERM, stopwaitsecs above --graceful-timeout, no
 * stopasgroup/killasgroup).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BIN,
  FIXTURES,
  Proc,
  cleanup,
  descendants,
  get,
  isAlive,
  missing,
  tmpDir,
  tool,
  waitFor,
  workersOf,
} from './harness.js';
import { describeFailures, failedCount, startLoad } from './load.js';

afterEach(cleanup);

const run = promisify(execFile);

function config(dir: string, sock: string): string {
  return `
[unix_http_server]
file=${dir}/supervisor.sock

[supervisord]
logfile=${dir}/supervisord.log
pidfile=${dir}/supervisord.pid
childlogdir=${dir}
nodaemon=true
loglevel=debug

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://${dir}/supervisor.sock

[program:tsunicorn]
command=${process.execPath} ${BIN} deploy-app.mjs -w 2 -b unix:${sock} --graceful-timeout 5 --log-level debug
directory=${FIXTURES}
environment=TSUNICORN_CMD_ARGS="",PORT="",WEB_CONCURRENCY=""
autostart=true
autorestart=true
startsecs=1
stopsignal=TERM
stopwaitsecs=10
redirect_stderr=true
stdout_logfile=${dir}/tsunicorn.log
`;
}

describe.skipIf(missing('supervisord tests', 'supervisord', 'supervisorctl'))('under supervisord', () => {
  it('start, HUP under load with 0 failures, restart, and stop with no process left', async () => {
    const dir = tmpDir();
    const sock = path.join(dir, 'app.sock');
    const conf = path.join(dir, 'supervisord.conf');
    fs.writeFileSync(conf, config(dir, sock));
    const supervisord = new Proc(tool('supervisord')!, ['-c', conf]);
    const ctl = async (...args: string[]) => {
      // supervisorctl exits non-zero for some states (status of a stopped program); the text is what matters.
      const r = await run(tool('supervisorctl')!, ['-c', conf, ...args]).catch(
        (err: { stdout?: string; stderr?: string }) => err,
      );
      return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
    };
    const tsuLog = () => {
      try {
        return fs.readFileSync(path.join(dir, 'tsunicorn.log'), 'utf8');
      } catch {
        return '';
      }
    };
    const count = (re: RegExp) =>
      tsuLog()
        .split('\n')
        .filter((l) => re.test(l)).length;
    const masterPid = async () => Number(await ctl('pid', 'tsunicorn'));

    await waitFor(
      `tsunicorn RUNNING (supervisord: ${supervisord.log})`,
      async () => /RUNNING/.test(await ctl('status', 'tsunicorn')),
      15_000,
    );
    await waitFor(`2 ready workers (log:\n${tsuLog()})`, () => count(/is ready$/) >= 2, 15_000);
    const first = await masterPid();
    expect(first).toBeGreaterThan(1);
    // supervisord's child is the master itself (exec-form command, no shell in between).
    expect(supervisord.track()).toContain(first);
    expect(workersOf(first)).toHaveLength(2);
    const pids = new Set<number>([first, ...workersOf(first)]);
    expect((await get('http://localhost/', { socketPath: sock })).status).toBe(200);

    // HUP through supervisorctl, twice, under keep-alive load.
    const load = startLoad({
      url: 'http://localhost/',
      socketPath: sock,
      concurrency: 10,
      durationMs: 30_000,
      keepAlive: true,
    });
    for (let i = 1; i <= 2; i++) {
      await waitFor(
        'some load served',
        async () => (await get('http://localhost/', { socketPath: sock })).status === 200,
      );
      expect(await ctl('signal', 'HUP', 'tsunicorn')).toMatch(/tsunicorn: signalled/);
      await waitFor(
        `reload ${i} done (log:\n${tsuLog()})`,
        () => {
          for (const w of workersOf(first)) pids.add(w);
          return count(/is ready$/) >= 2 * (i + 1) && count(/Hang up: Master/) === i && workersOf(first).length === 2;
        },
        20_000,
      );
    }
    const result = await load.stop();
    expect(failedCount(result), describeFailures(result)).toBe(0);
    expect(result.ok).toBeGreaterThan(50);

    // restart: TERM, wait for the exit, start again.
    expect(await ctl('restart', 'tsunicorn')).toMatch(/tsunicorn: stopped[\s\S]*tsunicorn: started/);
    const second = await masterPid();
    expect(second).not.toBe(first);
    await waitFor('the new master’s workers', () => workersOf(second).length === 2);
    for (const p of [second, ...workersOf(second)]) pids.add(p);
    expect((await get('http://localhost/', { socketPath: sock })).status).toBe(200);
    expect(count(/Shutting down: Master/)).toBe(1);

    // stop: graceful, and nothing of tsunicorn is left.
    expect(await ctl('stop', 'tsunicorn')).toMatch(/tsunicorn: stopped/);
    expect(await ctl('status', 'tsunicorn')).toMatch(/STOPPED/);
    expect(count(/Shutting down: Master/)).toBe(2);
    expect(descendants(supervisord.pid)).toEqual([]);
    for (const p of pids) expect(isAlive(p), `pid ${p}`).toBe(false);
    expect(fs.existsSync(sock)).toBe(false);
    // supervisord logged a clean exit, not a kill after stopwaitsecs.
    expect(fs.readFileSync(path.join(dir, 'supervisord.log'), 'utf8')).toMatch(/stopped: tsunicorn \(exit status 0\)/);

    process.kill(supervisord.pid, 'SIGTERM');
    expect((await supervisord.waitExit()).code).toBe(0);
  }, 60_000);
});
