/**
 * Lifecycle features beyond signals and scaling: server hooks from a config
 * file (where and in which order they run, and that a throwing hook is only
 * logged), USR1 log reopening after a logrotate-style rename, --reload,
 * -D/--daemon with a pidfile, --max-worker-memory, the crash backoff, the
 * --graceful-timeout bound on a retiring worker, and --check-config not
 * running server hooks.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, childPids, cleanup, cmdline, get, isAlive, runCli, start, tmpDir, waitFor } from './harness.js';
import { describeFailures, failedCount, startLoad } from './load.js';

afterEach(cleanup);

// ── helpers ─────────────────────────────────────────────────────────────────

function copyFixture(dir: string, name = 'node-app.mjs'): void {
  fs.copyFileSync(path.join(FIXTURES, name), path.join(dir, name));
}

function readLines(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** Waits until a line of `file` matches `re`; returns the match. */
async function waitFileLine(file: string, re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
  return waitFor(`a line ${re} in ${file} (so far:\n${readLines(file).join('\n')})`, () => {
    for (const l of readLines(file)) {
      const m = l.match(re);
      if (m) return m;
    }
    return null;
  }, timeoutMs);
}

/** The pid in a Gunicorn-style log line: `[time] [PID] [LEVEL] message`. */
function linePid(line: string): number {
  const m = line.match(/^\[[^\]]+\] \[(\d+)\] \[/);
  if (!m) throw new Error(`not a log line: ${line}`);
  return Number(m[1]);
}

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

// ── 1. hooks ────────────────────────────────────────────────────────────────

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
    for (const n of ['preFork', 'postFork', 'postWorkerInit', 'whenReady']) expect(idx(n), `${n} in ${boot.join(',')}`).toBeGreaterThan(-1);
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
      expect(pre.map((c) => c.pid), `preRequest for ${url}`).toEqual([pid]);
      expect(post.map((c) => c.pid), `postRequest for ${url}`).toEqual([pid]);
      expect(post[0]!.fields.status).toBe('200');
    }

    // HUP → onReload in the master (generation 2); a new generation of 2 replaces the old.
    const beforeHup = s.workers();
    s.signal('SIGHUP');
    await waitFor('onReload', () => named('onReload').length === 1);
    expect(named('onReload')[0]).toMatchObject({ pid: master, fields: { gen: '2' } });
    const finalWorkers = await waitFor('2 new workers, old ones gone', () => {
      const w = s.workers();
      return w.length === 2 && w.every((p) => !beforeHup.includes(p)) && beforeHup.every((p) => !isAlive(p)) ? w : null;
    }, 15_000);
    // The retired workers stopped gracefully: workerExit in each, childExit for each in the master.
    await waitFor('childExit for the retired workers', () => named('childExit').length === 2);
    for (const p of beforeHup) {
      expect(named('workerExit').filter((c) => c.pid === p), `workerExit in retired ${p}`).toHaveLength(1);
    }

    // TERM: workerExit in each worker, childExit per worker in the master, onExit last.
    s.signal('SIGTERM');
    expect(await s.waitExit()).toEqual({ code: 0, signal: null });
    const all = calls();
    for (const p of finalWorkers) {
      expect(all.filter((c) => c.name === 'workerExit' && c.pid === p), `workerExit in ${p}`).toHaveLength(1);
      expect(all.filter((c) => c.name === 'childExit' && c.fields.child === String(p)), `childExit for ${p}`).toHaveLength(1);
    }
    expect(all.at(-1)).toMatchObject({ name: 'onExit', pid: master });
    expect(all.filter((c) => c.name === 'onExit')).toHaveLength(1);

    // Every worker that was forked was announced by preFork and reported by childExit exactly once.
    const forked = all.filter((c) => c.name === 'postFork').map((c) => c.pid);
    expect(forked).toHaveLength(4);
    expect(all.filter((c) => c.name === 'preFork')).toHaveLength(4);
    expect(all.filter((c) => c.name === 'childExit').map((c) => Number(c.fields.child)).sort()).toEqual([...forked].sort());
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
    for (const p of workers) expect(all.filter((c) => c.name === 'workerInt' && c.pid === p), `workerInt in ${p}`).toHaveLength(1);
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
    writeHookConfig(dir, hookLog, "w(`config-evaluated pid=${process.pid}`);");
    const r = await runCli(['--check-config', 'node-app.mjs'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Config OK/);
    const names = hookCalls(hookLog).map((c) => c.name);
    expect(names).toContain('config-evaluated');
    expect(names.filter((n) => n !== 'config-evaluated')).toEqual([]);
  });
});

// ── 2. USR1 ─────────────────────────────────────────────────────────────────

describe('USR1', () => {
  it('reopens the error log in the master and in workers after a logrotate-style rename', async () => {
    const dir = tmpDir();
    const logFile = path.join(dir, 'error.log');
    const rotated = `${logFile}.1`;
    const s = start(['node-app.mjs', '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug', '--error-logfile', logFile]);
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
    const after = await waitFor('a worker error line in the new log', async () => {
      await get(`http://127.0.0.1:${port}/boom?after`);
      return readLines(logFile).find((l) => /Error handling request GET \/boom\?after/.test(l));
    }, 5000, 100);
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
    const s = start(['node-app.mjs', '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug', '--error-logfile', logFile], { cwd: dir });
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

// ── 3. --reload ─────────────────────────────────────────────────────────────

describe('--reload', () => {
  it('serves changed code without failing a request; changes under node_modules and dot-directories do not reload', async () => {
    const dir = tmpDir();
    const app = (v: number) => `export default (req, res) => res.end(\`v${v} \${process.pid}\\n\`);\n`;
    fs.writeFileSync(path.join(dir, 'app.mjs'), app(1));
    // Exist before the start, so the recursive watch covers them.
    fs.mkdirSync(path.join(dir, 'node_modules', 'dep'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'node_modules', 'dep', 'index.js'), 'module.exports = 1;\n');
    fs.mkdirSync(path.join(dir, '.cache'));
    fs.writeFileSync(path.join(dir, '.cache', 'x'), '1\n');

    const s = start(['app.mjs', '-w', '2', '-b', '127.0.0.1:0', '--reload', '--log-level', 'debug'], { cwd: dir });
    const port = await s.port();
    await s.readyWorkers(2);
    await s.waitLog(/Watching .* for changes \(--reload\)/);
    const oldPids = s.workers();
    const load = startLoad({ url: `http://127.0.0.1:${port}/`, concurrency: 4, durationMs: 15_000, keepAlive: true });

    fs.writeFileSync(path.join(dir, 'app.mjs'), app(2));
    await s.waitLog(/Reloading: .*app\.mjs changed/, 5000);
    const newPids = await waitFor('only v2 from 2 new workers', async () => {
      const w = s.workers();
      if (w.length !== 2 || w.some((p) => oldPids.includes(p))) return null;
      for (let i = 0; i < 4; i++) {
        const [v, pid] = (await get(`http://127.0.0.1:${port}/`)).body.trim().split(' ');
        if (v !== 'v2' || !w.includes(Number(pid))) return null;
      }
      return w;
    }, 10_000);
    const result = await load.stop();
    expect(failedCount(result), describeFailures(result)).toBe(0);
    expect(result.bodies.size).toBeGreaterThan(0);
    expect(s.countLog(/Reloading:/)).toBe(1);

    // Ignored paths: no reload within an observation window well beyond the 150 ms debounce…
    fs.writeFileSync(path.join(dir, 'node_modules', 'dep', 'index.js'), 'module.exports = 2;\n');
    fs.writeFileSync(path.join(dir, 'node_modules', 'dep', 'new.js'), 'module.exports = 3;\n');
    fs.writeFileSync(path.join(dir, '.cache', 'x'), '2\n');
    const windowEnd = Date.now() + 1000;
    await waitFor('the observation window to pass without a reload', () => {
      if (s.countLog(/Reloading:/) !== 1) throw new Error(`reloaded on an ignored path:\n${s.log}`);
      return Date.now() >= windowEnd;
    }, 3000);
    expect(s.countLog(/Reloading:/)).toBe(1);
    expect(s.workers().sort()).toEqual([...newPids].sort());
    // …while the watcher is still alive: a change elsewhere does reload.
    fs.writeFileSync(path.join(dir, 'other.txt'), 'x\n');
    await s.waitLog(/Reloading: .*other\.txt changed/, 5000);
    expect(s.countLog(/Reloading:/)).toBe(2);
  });
});

// ── 4. daemon ───────────────────────────────────────────────────────────────

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
      const r = await runCli(['node-app.mjs', '-D', '-p', pidfile, '--error-logfile', logFile, '-b', '127.0.0.1:0', '-w', '1'], {
        cwd: dir,
        timeoutMs: 5000,
      });
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

// ── 5. --max-worker-memory ──────────────────────────────────────────────────

describe('--max-worker-memory', () => {
  it('a worker that retains ~120 MB is replaced under load, with no failed request', async () => {
    const dir = tmpDir();
    fs.writeFileSync(
      path.join(dir, 'hog.mjs'),
      `const hoard = [];
export default (req, res) => {
  if (req.url === '/hog') {
    // 12 × 10 MB, filled so the pages are really resident.
    for (let i = 0; i < 12; i++) hoard.push(Buffer.alloc(10 * 1024 * 1024, i + 1));
    res.end(\`hogged \${process.pid}\\n\`);
    return;
  }
  res.end(\`ok \${process.pid}\\n\`);
};
`,
    );
    // -t 3: a heartbeat every 750 ms, so the 3 strikes take about 2 s.
    const s = start(['hog.mjs', '-w', '1', '-t', '3', '--max-worker-memory', '80', '-b', '127.0.0.1:0', '--log-level', 'debug'], { cwd: dir });
    const port = await s.port();
    await s.readyWorkers(1);
    const load = startLoad({ url: `http://127.0.0.1:${port}/`, concurrency: 4, durationMs: 15_000, keepAlive: true });
    const hog = await get(`http://127.0.0.1:${port}/hog`);
    expect(hog.status).toBe(200);
    const hogPid = Number(hog.body.trim().split(' ')[1]);
    const m = await s.waitLog(/Worker \(pid:(\d+)\) uses (\d+) MB, above --max-worker-memory 80 MB; replacing it/, 10_000);
    expect(Number(m[1])).toBe(hogPid);
    expect(Number(m[2])).toBeGreaterThan(80);
    await waitFor('the hog to exit and a new worker to serve', async () => {
      if (isAlive(hogPid)) return false;
      const r = await get(`http://127.0.0.1:${port}/`);
      return r.status === 200 && r.body.startsWith('ok ') && !r.body.includes(String(hogPid));
    }, 10_000);
    const result = await load.stop();
    expect(failedCount(result), describeFailures(result)).toBe(0);
    expect(s.countLog(/above --max-worker-memory/)).toBe(1);
    expect(s.workers()).toHaveLength(1);
  });
});

// ── 6. crash backoff ────────────────────────────────────────────────────────

describe('crash backoff', () => {
  it('workers that die right after boot are restarted with a backoff, not in a loop; TERM still exits 0', async () => {
    const dir = tmpDir();
    fs.writeFileSync(
      path.join(dir, 'crashy.mjs'),
      'setTimeout(() => process.exit(1), 50);\nexport default (req, res) => res.end("short-lived\\n");\n',
    );
    const s = start(['crashy.mjs', '-w', '1', '-b', '127.0.0.1:0'], { cwd: dir });
    await s.waitLog(/Workers keep dying right after boot \(\d+ in a row\); next start in/);
    const t0 = Date.now();
    // Without a backoff a worker boots every ~150 ms (about 20 in 3 s); with it, far fewer.
    const BOUND = 8;
    await waitFor(`3 s to pass with at most ${BOUND} boots`, () => {
      const boots = s.countLog(/Booting worker with pid/);
      if (boots > BOUND) throw new Error(`${boots} boots within ${Date.now() - t0} ms:\n${s.log}`);
      return Date.now() - t0 >= 3000;
    }, 5000);
    expect(s.countLog(/Booting worker with pid/)).toBeLessThanOrEqual(BOUND);
    expect(s.countLog(/Booting worker with pid/)).toBeGreaterThanOrEqual(3);
    expect(isAlive(s.pid)).toBe(true);
    s.signal('SIGTERM');
    expect(await s.waitExit()).toEqual({ code: 0, signal: null });
  });
});

// ── 7. --graceful-timeout bounds a retiring worker ──────────────────────────

describe('retiring worker', () => {
  it('with --graceful-timeout 1 and a 20 s request in flight, TTIN+TTOU: the old worker is gone ~1 s later; serving continues', async () => {
    const s = start(['node-app.mjs', '-w', '1', '-b', '127.0.0.1:0', '--graceful-timeout', '1', '--log-level', 'debug']);
    const port = await s.port();
    await s.readyWorkers(1);
    const [old] = s.workers();
    const slow = get(`http://127.0.0.1:${port}/slow?ms=20000`).catch((err: Error) => err);
    await s.waitLog(new RegExp(`slow request started in ${old}`));
    s.signal('SIGTTIN');
    await s.readyWorkers(2);
    const [fresh] = s.workers().filter((p) => p !== old);
    s.signal('SIGTTOU');
    await s.waitLog(new RegExp(`Retiring worker \\(pid:${old}\\): scale`));
    const retiredAt = Date.now();
    await waitFor(`old worker ${old} to be gone`, () => !isAlive(old!), 5000);
    const took = Date.now() - retiredAt;
    expect(took).toBeGreaterThanOrEqual(700);
    expect(took).toBeLessThan(3000);
    expect(s.log).toMatch(new RegExp(`Worker \\(pid:${old}\\) did not exit in time; sending SIGKILL|Worker \\(pid: ${old}\\) did not finish within the graceful timeout`));
    const cut = await slow;
    expect(cut instanceof Error || cut.status !== 200, 'the 20 s request cannot have completed').toBe(true);
    for (let i = 0; i < 3; i++) {
      const r = await get(`http://127.0.0.1:${port}/`);
      expect(r.status).toBe(200);
      expect(r.body.trim()).toBe(`node ${fresh}`);
    }
    expect(s.workers()).toEqual([fresh]);
  });
});
