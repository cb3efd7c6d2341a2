/**
 * Issue 16: what other local users can see or redirect. The process title a
 * sync worker shows (readable by everyone through ps) must not carry the query
 * string or userinfo of the request target.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES, cleanup, runCli, start, tmpDir, waitFor } from './harness.js';
import { sendRaw } from './raw.js';

afterAll(cleanup);

describe('process title (issue 16 item 10)', () => {
  it('a sync worker busy on a request shows its method and path, never its query string or userinfo', async () => {
    const s = start(['sync-app.mjs', '-k', 'sync', '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug']);
    const port = await s.port();
    await s.readyWorkers(1);
    const [worker] = s.workers();
    const titles = new Set<string>();
    const watch = async (target: string) => {
      const pending = sendRaw(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, { timeoutMs: 10_000 });
      const title = await waitFor(`worker ${worker} busy on ${target}`, () => {
        const t = fs.readFileSync(`/proc/${worker}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
        return / GET /.test(t) ? t : null;
      });
      titles.add(title);
      expect((await pending).statuses).toEqual([200]);
      return title;
    };
    expect(await watch('/wait?ms=800&token=hunter2')).toMatch(/^tsunicorn: worker \[sync-app\.mjs\] GET \/wait$/);
    expect(await watch(`http://alice:hunter2@127.0.0.1:${port}/wait?ms=800&token=hunter2`)).toMatch(/^tsunicorn: worker \[sync-app\.mjs\] GET \/wait$/);
    for (const t of titles) expect(t).not.toContain('hunter2');
  });
});

describe('pidfile in a directory others can write (issue 16 item 3)', () => {
  /** A world-writable sticky directory (as /tmp is) holding the pidfile, and a file of the arbiter's own elsewhere. */
  function setUp() {
    const dir = tmpDir('tsu-pid-');
    fs.chmodSync(dir, 0o1777);
    const safe = tmpDir('tsu-victim-');
    const victim = path.join(safe, 'victim');
    fs.writeFileSync(victim, 'precious\n', { mode: 0o644 });
    return { dir, victim, pidfile: path.join(dir, 'app.pid') };
  }

  it('a symlink planted at the temporary name app.pid.<pid>.tmp is not written through', async () => {
    const { dir, victim, pidfile } = setUp();
    // Planted from inside the arbiter's own process before it runs, so the name carries its pid for sure.
    const plant = `import fs from 'node:fs'; try { fs.symlinkSync(${JSON.stringify(victim)}, ${JSON.stringify(pidfile)} + '.' + process.pid + '.tmp'); } catch {}`;
    const s = start(['node-app.mjs', '-w', '1', '-b', '127.0.0.1:0', '-p', pidfile, '--log-level', 'debug'], {
      nodeArgs: ['--import', `data:text/javascript,${encodeURIComponent(plant)}`],
    });
    await s.readyWorkers(1);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(fs.lstatSync(`${pidfile}.${s.pid}.tmp`).isSymbolicLink()).toBe(true);
    const st = fs.lstatSync(pidfile);
    expect(st.isFile()).toBe(true);
    expect(st.mode & 0o777).toBe(0o644);
    expect(fs.readFileSync(pidfile, 'utf8')).toBe(`${s.pid}\n`);
    s.signal('SIGTERM');
    expect((await s.waitExit()).code).toBe(0);
    expect(fs.existsSync(pidfile)).toBe(false);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(fs.readdirSync(dir).filter((f) => !f.startsWith('app.pid.'))).toEqual([]);
  });

  it('a pidfile path that is a symlink is refused with one line and exit 1', async () => {
    const { victim, pidfile } = setUp();
    fs.symlinkSync(victim, pidfile);
    const r = await runCli(['node-app.mjs', '-w', '1', '-b', '127.0.0.1:0', '-p', pidfile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`pidfile ${pidfile.replace(/[.]/g, '\\.')} is a symbolic link`));
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(fs.lstatSync(pidfile).isSymbolicLink()).toBe(true);
  });

  it('at exit the pidfile is left alone when it no longer names this arbiter', async () => {
    const { pidfile } = setUp();
    const s = start(['node-app.mjs', '-w', '1', '-b', '127.0.0.1:0', '-p', pidfile, '--log-level', 'debug']);
    await s.readyWorkers(1);
    fs.writeFileSync(`${pidfile}.new`, '1\n');
    fs.renameSync(`${pidfile}.new`, pidfile);
    s.signal('SIGTERM');
    expect((await s.waitExit()).code).toBe(0);
    expect(fs.readFileSync(pidfile, 'utf8')).toBe('1\n');
  });
});

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.log('local-users: --user tests skipped: switching workers to another user needs the tests to run as root');

describe.skipIf(!ROOT)('log files handed to --user (issue 16 item 4)', () => {
  it('a log file replaced by a symlink before HUP does not make root chown the link target', async () => {
    // The app's directory, and a log directory the worker user owns (so it can plant links there).
    const dir = tmpDir('tsu-chown-');
    fs.chmodSync(dir, 0o755);
    fs.copyFileSync(path.join(FIXTURES, 'node-app.mjs'), path.join(dir, 'app.mjs'));
    const logs = path.join(dir, 'logs');
    fs.mkdirSync(logs);
    fs.chownSync(logs, 65534, 65534);
    const victim = path.join(dir, 'victim');
    fs.writeFileSync(victim, 'root only\n', { mode: 0o600 });
    const access = path.join(logs, 'access.log');
    const s = start(['app.mjs', '-w', '1', '--user', 'nobody', '-b', '127.0.0.1:0', '--access-logfile', access, '--log-level', 'debug'], { cwd: dir });
    await s.readyWorkers(1);
    expect(fs.statSync(access).uid).toBe(65534);

    fs.unlinkSync(access);
    fs.symlinkSync(victim, access);
    fs.lchownSync(access, 65534, 65534);
    const boots = s.countLog(/Booting worker with pid/);
    s.signal('SIGHUP');
    // The arbiter hands the log files over before it forks the new generation.
    await waitFor('a worker of the new generation', () => s.countLog(/Booting worker with pid/) > boots);
    const st = fs.statSync(victim);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([0, 0, 0o600]);
    expect(fs.readFileSync(victim, 'utf8')).toBe('root only\n');
  });
});
