/**
 * Server hooks from a config file: where (arbiter or worker) and in which order they run, what they are
 * given, that a throwing hook is only logged, and that --check-config runs none of them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, copyFixture, get, isAlive, linePid, readLines, runCli, start, tmpDir, waitFor } from './harness.js';

afterEach(cleanup);

interface HookCall {
  name: string;
  pid: number;
  fields: Record<string, string>;
  raw: string;
}

/** Parses `NAME pid=N key=value ...` lines written by the hook config below. */
function hookCalls(file: string): HookCall[] {
  return readLines(file).map((raw) => {
    const [name, ...rest] = raw.split(' ');
    const fields: Record<string, string> = {};
    for (const kv of rest) {
      const eq = kv.indexOf('=');
      fields[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    return { name: name!, pid: Number(fields.pid), fields, raw };
  });
}

const ARBITER_HOOKS = ['onStarting', 'whenReady', 'preFork', 'childExit', 'nworkersChanged', 'onReload', 'onExit'];
const WORKER_HOOKS = ['postFork', 'postWorkerInit', 'preRequest', 'postRequest', 'workerExit', 'workerInt'];

/** A config file whose hooks each append one `NAME pid=<process.pid> ...` line to `logFile`. */
function writeHookConfig(dir: string, logFile: string, extra = ''): void {
  fs.writeFileSync(
    path.join(dir, 'tsunicorn.config.mjs'),
    `import fs from 'node:fs';
const LOG = ${JSON.stringify(logFile)};
const w = (line) => fs.appendFileSync(LOG, line + '\\n');
${extra}
export default {
  workers: 1,
  onStarting(server) { w(\`onStarting pid=\${process.pid} server=\${server.pid}\`); },
  whenReady(server) { w(\`whenReady pid=\${process.pid} workers=\${server.workers}\`); },
  preFork(server, worker) { w(\`preFork pid=\${process.pid} gen=\${worker.generation} wpid=\${worker.pid}\`); },
  postFork(worker) { w(\`postFork pid=\${process.pid} wpid=\${worker.pid} gen=\${worker.generation}\`); },
  postWorkerInit(worker) { w(\`postWorkerInit pid=\${process.pid} wpid=\${worker.pid}\`); },
  preRequest(worker, req) { w(\`preRequest pid=\${process.pid} url=\${req.url}\`); },
  postRequest(worker, req, res) { w(\`postRequest pid=\${process.pid} url=\${req.url} status=\${res.statusCode}\`); },
  childExit(server, worker) { w(\`childExit pid=\${process.pid} child=\${worker.pid} code=\${worker.code} signal=\${worker.signal}\`); },
  nworkersChanged(server, newValue, oldValue) { w(\`nworkersChanged pid=\${process.pid} new=\${newValue} old=\${oldValue}\`); },
  onReload(server) { w(\`onReload pid=\${process.pid} gen=\${server.generation}\`); },
  workerExit(worker) { w(\`workerExit pid=\${process.pid} wpid=\${worker.pid}\`); },
  workerInt(worker) { w(\`workerInt pid=\${process.pid} wpid=\${worker.pid}\`); },
  onExit(server) { w(\`onExit pid=\${process.pid}\`); },
};
`,
  );
}

describe('server hooks from a config file', () => {
  it('run in the right process and order: boot, per request, TTIN, HUP, TERM', async () => {
    const dir = tmpDir();
    copyFixture(dir);
    const hookLog = path.join(dir, 'hooks.log');
    writeHookConfig(dir, hookLog);
    const s = start(['node-app.mjs', '-b', '127.0.0.1:0', '--log-level', 'debug'], { cwd: dir });
    const port = await s.port();
    await s.readyWorkers(1);
    const master = s.pid;
    const calls = () => hookCalls(hookLog);
    const named = (name: string) => calls().filter((c) => c.name === name);
    await waitFor('whenReady', () => named('whenReady').length === 1);

    // Boot order, with one worker: onStarting < preFork < postFork < postWorkerInit < whenReady.
    const boot = calls().map((c) => c.name);
    expect(boot[0]).toBe('onStarting');
    const idx = (n: string) => boot.indexOf(n);
    for (const n of ['preFork', 'postFork', 'postWorkerInit', 'whenReady'])
      expect(idx(n), `${n} in ${boot.join(',')}`).toBeGreaterThan(-1);
    expect(idx('onStarting')).toBeLessThan(idx('preFork'));
    expect(idx('preFork')).toBeLessThan(idx('postFork'));
    expect(idx('postFork')).toBeLessThan(idx('postWorkerInit'));
    expect(idx('postWorkerInit')).toBeLessThan(idx('whenReady'));
    const [firstWorker] = s.workers();
    expect(named('onStarting')[0]!.pid).toBe(master);
    expect(named('onStarting')[0]!.fields.server).toBe(String(master));
    expect(named('preFork')[0]!.fields.wpid).toBe('0'); // not forked yet
    expect(named('postFork')[0]!.pid).toBe(firstWorker);
    expect(named('postFork')[0]!.fields.wpid).toBe(String(firstWorker));
    expect(named('postWorkerInit')[0]!.pid).toBe(firstWorker);
    expect(named('whenReady')[0]!.fields.workers).toBe('1');

    // TTIN → nworkersChanged(server, 2, 1), in the master; a second worker boots.
    s.signal('SIGTTIN');
    await waitFor('nworkersChanged', () => named('nworkersChanged').length === 1);
    expect(named('nworkersChanged')[0]).toMatchObject({ pid: master, fields: { new: '2', old: '1' } });
    await s.readyWorkers(2);
    expect(s.workers()).toHaveLength(2);

    // preRequest / postRequest: once per request, in the worker that served it.
    const served = new Map<string, number>();
    for (let i = 0; i < 6; i++) {
      const r = await get(`http://127.0.0.1:${port}/?n=${i}`);
      expect(r.status).toBe(200);
      served.set(`/?n=${i}`, Number(r.headers['x-worker-pid']));
    }
    await waitFor('6 postRequest calls', () => named('postRequest').length >= 6);
    for (const [url, pid] of served) {
      const pre = named('preRequest').filter((c) => c.fields.url === url);
      const post = named('postRequest').filter((c) => c.fields.url === url);
      expect(
        pre.map((c) => c.pid),
        `preRequest for ${url}`,
      ).toEqual([pid]);
      expect(
        post.map((c) => c.pid),
        `postRequest for ${url}`,
      ).toEqual([pid]);
      expect(post[0]!.fields.status).toBe('200');
    }

    // HUP → onReload in the master (generation 2); a new generation of 2 replaces the old.
    const beforeHup = s.workers();
    s.signal('SIGHUP');
    await waitFor('onReload', () => named('onReload').length === 1);
    expect(named('onReload')[0]).toMatchObject({ pid: master, fields: { gen: '2' } });
    const finalWorkers = await waitFor(
      '2 new workers, old ones gone',
      () => {
        const w = s.workers();
        return w.length === 2 && w.every((p) => !beforeHup.includes(p)) && beforeHup.every((p) => !isAlive(p))
          ? w
          : null;
      },
      15_000,
    );
    // The retired workers stopped gracefully: workerExit in each, childExit for each in the master.
    await waitFor('childExit for the retired workers', () => named('childExit').length === 2);
    for (const p of beforeHup) {
      expect(
        named('workerExit').filter((c) => c.pid === p),
        `workerExit in retired ${p}`,
      ).toHaveLength(1);
    }

    // TERM: workerExit in each worker, childExit per worker in the master, onExit last.
    s.signal('SIGTERM');
    expect(await s.waitExit()).toEqual({ code: 0, signal: null });
    const all = calls();
    for (const p of finalWorkers) {
      expect(
        all.filter((c) => c.name === 'workerExit' && c.pid === p),
        `workerExit in ${p}`,
      ).toHaveLength(1);
      expect(
        all.filter((c) => c.name === 'childExit' && c.fields.child === String(p)),
        `childExit for ${p}`,
      ).toHaveLength(1);
    }
    expect(all.at(-1)).toMatchObject({ name: 'onExit', pid: master });
    expect(all.filter((c) => c.name === 'onExit')).toHaveLength(1);

    // Every worker that was forked was announced by preFork and reported by childExit exactly once.
    const forked = all.filter((c) => c.name === 'postFork').map((c) => c.pid);
    expect(forked).toHaveLength(4);
    expect(all.filter((c) => c.name === 'preFork')).toHaveLength(4);
    expect(
      all
        .filter((c) => c.name === 'childExit')
        .map((c) => Number(c.fields.child))
        .sort(),
    ).toEqual([...forked].sort());
    expect(all.filter((c) => c.name === 'whenReady')).toHaveLength(1);
    expect(all.filter((c) => c.name === 'workerInt')).toHaveLength(0);

    // Arbiter hooks only ever in the master, worker hooks only in workers.
    for (const c of all) {
      if (ARBITER_HOOKS.includes(c.name)) expect(c.pid, c.raw).toBe(master);
      else if (WORKER_HOOKS.includes(c.name)) expect(forked, c.raw).toContain(c.pid);
      else throw new Error(`unexpected hook line: ${c.raw}`);
    }
  });

  it('INT: workerInt runs in each worker, then onExit in the master', async () => {
    const dir = tmpDir();
    copyFixture(dir);
    const hookLog = path.join(dir, 'hooks.log');
    writeHookConfig(dir, hookLog);
    const s = start(['node-app.mjs', '-w', '2', '-b', '127.0.0.1:0', '--log-level', 'debug'], { cwd: dir });
    await s.readyWorkers(2);
    const workers = s.workers();
    s.signal('SIGINT');
    expect(await s.waitExit()).toEqual({ code: 0, signal: null });
    const all = hookCalls(hookLog);
    for (const p of workers)
      expect(
        all.filter((c) => c.name === 'workerInt' && c.pid === p),
        `workerInt in ${p}`,
      ).toHaveLength(1);
    expect(all.filter((c) => c.name === 'workerExit')).toHaveLength(0);
    expect(all.at(-1)).toMatchObject({ name: 'onExit', pid: s.pid });
  });

  it('a hook that throws or rejects is logged as "Exception in hook NAME" and the server still serves', async () => {
    const dir = tmpDir();
    copyFixture(dir);
    fs.writeFileSync(
      path.join(dir, 'tsunicorn.config.mjs'),
      `export default {
  onStarting() { throw new Error('onStarting exploded'); },
  preFork() { throw new Error('preFork exploded'); },
  postFork() { throw new Error('postFork exploded'); },
  postWorkerInit() { throw new Error('postWorkerInit exploded'); },
  async whenReady() { throw new Error('whenReady rejected'); },
  preRequest() { throw new Error('preRequest exploded'); },
  postRequest() { throw new Error('postRequest exploded'); },
};
`,
    );
    const s = start(['node-app.mjs', '-w', '2', '-b', '127.0.0.1:0', '--log-level', 'debug'], { cwd: dir });
    const port = await s.port();
    await s.readyWorkers(2);
    for (const name of ['onStarting', 'preFork', 'postFork', 'postWorkerInit', 'whenReady']) {
      await s.waitLog(new RegExp(`Exception in hook ${name}: ${name} (exploded|rejected)`));
    }
    const r = await get(`http://127.0.0.1:${port}/`);
    expect(r.status).toBe(200);
    expect(r.body).toMatch(/^node \d+/);
    await s.waitLog(/Exception in hook preRequest: preRequest exploded/);
    await s.waitLog(/Exception in hook postRequest: postRequest exploded/);
    // Logged by the process that ran the hook: preFork in the master, postWorkerInit in a worker.
    const line = (re: RegExp) => s.lines.find((l) => re.test(l))!;
    expect(linePid(line(/Exception in hook preFork/))).toBe(s.pid);
    expect(s.workers()).toContain(linePid(line(/Exception in hook postWorkerInit/)));
    expect(s.countLog(/Exception in hook preFork/)).toBe(2);
    expect(s.workers()).toHaveLength(2);
  });

  it('--check-config loads the config but runs no server hook', async () => {
    const dir = tmpDir();
    copyFixture(dir);
    const hookLog = path.join(dir, 'hooks.log');
    // The top level appends a line too: proof that the config file was evaluated.
    writeHookConfig(dir, hookLog, 'w(`config-evaluated pid=${process.pid}`);');
    const r = await runCli(['--check-config', 'node-app.mjs'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Config OK/);
    const names = hookCalls(hookLog).map((c) => c.name);
    expect(names).toContain('config-evaluated');
    expect(names.filter((n) => n !== 'config-evaluated')).toEqual([]);
  });
});
