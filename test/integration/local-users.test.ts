/**
 * Issue 16: what other local users can see or redirect. The process title a
 * sync worker shows (readable by everyone through ps); the pidfile, log files
 * and control socket in directories another user can write; `tsunicorn ctl`
 * talking to whoever answers. Tests that need a second uid (nobody) run as
 * root only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, cleanup, get, runCli, start, tmpDir, waitFor } from './harness.js';
import { sendRaw } from './raw.js';
import { listeningSockets } from '../../src/arbiter/diagnostics/process-listeners.js';

/** Processes a test runs as another user, killed by pid after each test. */
const others: ChildProcess[] = [];
afterEach(() => {
  for (const c of others.splice(0)) c.kill('SIGKILL');
});
afterAll(cleanup);

describe('process title (issue 16 item 10)', () => {
  it('a sync worker busy on a request shows its method and path, never its query string or userinfo', async () => {
    const s = start(['sync-app.mjs', '-k', 'sync', '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug']);
    const port = await s.port();
    await s.readyWorkers(1);
    const [worker] = s.workers();
    const titles = new Set<string>();
    const watch = async (target: string) => {
      const pending = sendRaw(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, {
        timeoutMs: 10_000,
      });
      const title = await waitFor(`worker ${worker} busy on ${target}`, () => {
        const t = fs.readFileSync(`/proc/${worker}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
        return / GET /.test(t) ? t : null;
      });
      titles.add(title);
      expect((await pending).statuses).toEqual([200]);
      return title;
    };
    expect(await watch('/wait?ms=800&token=hunter2')).toMatch(/^tsunicorn: worker \[sync-app\.mjs\] GET \/wait$/);
    expect(await watch(`http://alice:hunter2@127.0.0.1:${port}/wait?ms=800&token=hunter2`)).toMatch(
      /^tsunicorn: worker \[sync-app\.mjs\] GET \/wait$/,
    );
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
if (!ROOT)
  console.log('local-users: --user tests skipped: switching workers to another user needs the tests to run as root');

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
    const s = start(
      [
        'app.mjs',
        '-w',
        '1',
        '--user',
        'nobody',
        '-b',
        '127.0.0.1:0',
        '--access-logfile',
        access,
        '--log-level',
        'debug',
      ],
      { cwd: dir },
    );
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

describe('control socket and tsunicorn ctl (issue 16 item 5)', () => {
  const euid = process.geteuid!();
  /** A world-writable sticky temp directory (as /tmp is), and no XDG_RUNTIME_DIR. */
  function sharedTmp(): { tmp: string; env: NodeJS.ProcessEnv } {
    const tmp = tmpDir('tsu-tmp-');
    fs.chmodSync(tmp, 0o1777);
    return { tmp, env: { TMPDIR: tmp, XDG_RUNTIME_DIR: '' } };
  }

  it('without XDG_RUNTIME_DIR the default socket is in a 0700 directory of the arbiter’s user, which ctl finds', async () => {
    const { tmp, env } = sharedTmp();
    const s = start(['node-app.mjs', '-w', '1', '-b', '127.0.0.1:0', '-n', 'ctl-private', '--log-level', 'debug'], {
      env,
    });
    const [, sock] = (await s.waitLog(/Control socket at: (.*)$/))!;
    await s.readyWorkers(1);
    expect(path.dirname(sock!)).toBe(path.join(tmp, `tsunicorn-${euid}`));
    const dir = fs.lstatSync(path.dirname(sock!));
    expect([dir.isDirectory(), dir.uid, dir.mode & 0o7777]).toEqual([true, euid, 0o700]);
    expect(fs.statSync(sock!).mode & 0o777).toBe(0o600);
    const r = await runCli(['ctl', 'status', '-b', '127.0.0.1:0', '-n', 'ctl-private'], { env, cwd: FIXTURES });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^master ${s.pid} \\[ctl-private\\] running`));
  });

  it('ctl gives up on a socket that accepts and never answers: one line, exit 1', async () => {
    const sock = path.join(tmpDir('tsu-mute-'), 'mute.sock');
    const held: net.Socket[] = [];
    const mute = net.createServer((c) => held.push(c));
    await new Promise<void>((resolve) => mute.listen(sock, resolve));
    try {
      const r = await runCli(['ctl', 'status', '--control-socket', sock, '--ctl-timeout', '1'], { timeoutMs: 8000 });
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(`tsunicorn ctl: error: no answer from ${sock} within 1 s`);
      expect(held.length).toBe(1);
    } finally {
      for (const c of held) c.destroy();
      mute.close();
    }
  });

  describe.skipIf(!ROOT)('with a second local user (nobody)', () => {
    /** Runs a node script as nobody:nogroup until the test ends. */
    function asNobody(script: string): ChildProcess {
      const child = spawn(process.execPath, ['-e', script], {
        uid: 65534,
        gid: 65534,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      others.push(child);
      return child;
    }

    it('another user’s directory at the per-user path: the arbiter serves without a control socket, and ctl refuses it', async () => {
      const { tmp, env } = sharedTmp();
      const squat = path.join(tmp, `tsunicorn-${euid}`);
      fs.mkdirSync(squat, { mode: 0o777 });
      fs.chmodSync(squat, 0o777);
      fs.chownSync(squat, 65534, 65534);
      const s = start(['node-app.mjs', '-w', '1', '-b', '127.0.0.1:0', '-n', 'ctl-squat', '--log-level', 'debug'], {
        env,
      });
      await s.readyWorkers(1);
      expect(s.log).toContain(
        `Control socket: ${squat} is owned by uid 65534, not by this user (uid ${euid}); running without one`,
      );
      expect(s.log).not.toMatch(/Control socket at:/);
      expect(fs.readdirSync(squat)).toEqual([]);
      expect((await get(`http://127.0.0.1:${await s.port()}/`)).status).toBe(200);
    });

    it('ctl refuses a socket owned by another user instead of trusting whoever answers', async () => {
      const { tmp } = sharedTmp();
      const sock = path.join(tmp, 'ctl.sock');
      const impostor = asNobody(`
        const net = require('node:net');
        net.createServer((c) => c.on('data', () => c.end('{"ok":true,"message":"impostor"}\\n'))).listen(${JSON.stringify(sock)}, () => console.log('up'));
      `);
      await new Promise((resolve) => impostor.stdout!.once('data', resolve));
      expect(fs.statSync(sock).uid).toBe(65534);
      const r = await runCli(['ctl', 'status', '--control-socket', sock]);
      expect(r.stdout).not.toContain('impostor');
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(
        `tsunicorn ctl: error: refusing the control socket ${sock}: ${sock} is owned by uid 65534, not by this user (uid 0) or root`,
      );
    });
  });
});

describe('unix socket files at exit (issue 16 item 4)', () => {
  it('what replaced the socket file at its path is not removed at exit', async () => {
    const dir = tmpDir('tsu-unix-');
    const sock = path.join(dir, 'app.sock');
    const s = start(['node-app.mjs', '-w', '1', '-b', `unix:${sock}`, '--log-level', 'debug']);
    await s.readyWorkers(1);
    fs.unlinkSync(sock);
    fs.writeFileSync(sock, 'not a socket\n');
    s.signal('SIGTERM');
    expect((await s.waitExit()).code).toBe(0);
    expect(fs.readFileSync(sock, 'utf8')).toBe('not a socket\n');
  });
});

describe('--reload and the server’s own files (issue 16 item 8)', () => {
  it('access and error logs, pidfile and sockets in the watched directory cause no reload; editing the app does', async () => {
    const dir = tmpDir('tsu-reload-');
    const app = (v: number) => `export default (req, res) => res.end('v${v}\\n');\n`;
    fs.writeFileSync(path.join(dir, 'app.mjs'), app(1));
    fs.mkdirSync(path.join(dir, 'node_modules'));
    const errorLog = path.join(dir, 'error.log');
    const s = start(
      [
        'app.mjs',
        '-w',
        '1',
        '-b',
        '127.0.0.1:0',
        '-b',
        'unix:app.sock',
        '--reload',
        '-p',
        'app.pid',
        '--access-logfile',
        'access.log',
        '--error-logfile',
        'error.log',
        '--log-level',
        'debug',
      ],
      { cwd: dir },
    );
    const logText = () => (fs.existsSync(errorLog) ? fs.readFileSync(errorLog, 'utf8') : '');
    const port = Number(
      await waitFor('the TCP listener', () => /Listening at: http:\/\/127\.0\.0\.1:(\d+) /.exec(logText())?.[1]),
    );
    await waitFor(
      'a ready worker and the watcher',
      () => /is ready$/m.test(logText()) && /Watching .* \(--reload\)/.test(logText()),
    );
    const accessLines = () => fs.readFileSync(path.join(dir, 'access.log'), 'utf8').split('\n').filter(Boolean).length;
    const serve = async (v: number, n: number) => {
      // Until the rollover is over, old workers still answer too: six v answers in a row.
      await waitFor(`only v${v} served`, async () => {
        for (let i = 0; i < 6; i++) if ((await get(`http://127.0.0.1:${port}/`)).body !== `v${v}\n`) return false;
        return true;
      });
      const before = accessLines();
      for (let i = 0; i < n; i++) expect((await get(`http://127.0.0.1:${port}/`)).body).toBe(`v${v}\n`);
      await waitFor('the access log lines', () => accessLines() >= before + n);
    };
    const reloads = () =>
      logText()
        .split('\n')
        .filter((l) => l.includes('Reloading:'));

    /** No reload for a window well beyond the watcher's 150 ms debounce (as reload-watch.test.ts does). */
    const quiet = async (expected: number) => {
      const windowEnd = Date.now() + 1000;
      await waitFor(
        'the observation window to pass without a reload',
        () => {
          if (reloads().length !== expected) throw new Error(`unexpected reloads:\n${reloads().join('\n')}`);
          return Date.now() >= windowEnd;
        },
        3000,
      );
    };

    await serve(1, 10);
    fs.writeFileSync(path.join(dir, 'node_modules', 'x.js'), '1\n');
    await quiet(0);
    fs.writeFileSync(path.join(dir, 'app.mjs'), app(2));
    await waitFor('the reload for app.mjs', () => reloads().length >= 1);
    // The new generation wrote boot lines to error.log and serves into access.log.
    await serve(2, 10);
    await quiet(1);
    expect(reloads()[0]).toContain(`Reloading: ${path.join(dir, 'app.mjs')} changed`);
    expect(s.pid).toBeGreaterThan(0);
  });
});

describe('--stack-capture (issue 16 item 11)', () => {
  it('--no-stack-capture: a hung worker is killed and replaced without its inspector ever listening', async () => {
    const s = start([
      'busy-app.mjs',
      '-w',
      '1',
      '-b',
      '127.0.0.1:0',
      '-t',
      '1',
      '--no-stack-capture',
      '--log-level',
      'debug',
    ]);
    const port = await s.port();
    await s.readyWorkers(1);
    const spin = get(`http://127.0.0.1:${port}/spin`).catch((err: Error) => err);
    const stuck = Number((await s.waitLog(/spinning in (\d+)/))[1]);
    // Every listening socket the stuck worker holds until it dies: only the app's.
    const seen = new Set<number>();
    await waitFor(
      `worker ${stuck} killed`,
      async () => {
        for (const l of await listeningSockets(stuck).catch(() => [])) seen.add(l.port);
        try {
          process.kill(stuck, 0);
          return false;
        } catch {
          return true;
        }
      },
      10_000,
      5,
    );
    expect([...seen]).toEqual([port]);
    expect(await spin).toBeInstanceOf(Error);
    await s.waitLog(
      new RegExp(
        `Worker \\(pid:${stuck}\\): its stack could not be read \\(stack capture is off \\(--no-stack-capture\\)\\)`,
      ),
    );
    expect(s.log).not.toMatch(/was stuck in:/);
    await waitFor('a replacement', () => s.workers().length === 1 && !s.workers().includes(stuck));
  });
});

describe('log files in a directory others can write (issue 16 item 4)', () => {
  /** A world-writable sticky directory (as /tmp is) for the logs, and a file of the arbiter's own elsewhere. */
  function setUp() {
    const dir = tmpDir('tsu-logdir-');
    fs.chmodSync(dir, 0o1777);
    const victim = path.join(tmpDir('tsu-victim-'), 'victim');
    fs.writeFileSync(victim, 'precious\n', { mode: 0o600 });
    return { dir, victim };
  }

  it('an error log that is a link planted there is refused at start: one line, exit 1, the target untouched', async () => {
    const { dir, victim } = setUp();
    const log = path.join(dir, 'error.log');
    fs.symlinkSync(victim, log);
    const r = await runCli(['node-app.mjs', '-w', '1', '-b', '127.0.0.1:0', '--error-logfile', log]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/error\.log is a symbolic link in a directory other users can write/),
    ]);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
  });

  it('error and access logs rotated and replaced by planted links before USR1: nothing is written through them', async () => {
    const { dir, victim } = setUp();
    const errorLog = path.join(dir, 'error.log');
    const accessLog = path.join(dir, 'access.log');
    const args = ['-w', '1', '-b', '127.0.0.1:0', '--error-logfile', errorLog, '--access-logfile', accessLog];
    const s = start(['node-app.mjs', ...args, '--log-level', 'debug']);
    const ready = await waitFor('the worker ready in the error log', () => {
      const text = fs.existsSync(errorLog) ? fs.readFileSync(errorLog, 'utf8') : '';
      return text.includes('is ready') ? text : null;
    });
    const port = Number(/Listening at: http:\/\/127\.0\.0\.1:(\d+)/.exec(ready)?.[1]);
    for (const file of [errorLog, accessLog]) {
      fs.renameSync(file, `${file}.1`);
      fs.symlinkSync(victim, file);
    }
    const usr1 = () => (fs.readFileSync(`${errorLog}.1`, 'utf8').match(/Handling signal: usr1/g) ?? []).length;
    s.signal('SIGUSR1');
    await waitFor('USR1 handled', () => usr1() === 1);
    // Logged after the first USR1 tried to reopen: it lands in the file already open, not through the link.
    s.signal('SIGUSR1');
    await waitFor('the second USR1 logged to the rotated file', () => usr1() === 2);
    for (let i = 0; i < 20; i++) expect((await get(`http://127.0.0.1:${port}/after-usr1-${i}`)).status).toBe(200);
    await waitFor('the access lines in the rotated file', () =>
      fs.readFileSync(`${accessLog}.1`, 'utf8').includes('/after-usr1-19'),
    );
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
  });

  it('a link in a directory only root or the arbiter’s user can write is followed', async () => {
    const dir = tmpDir('tsu-logs-');
    fs.chmodSync(dir, 0o755);
    const target = path.join(tmpDir('tsu-log-target-'), 'access.log');
    fs.symlinkSync(target, path.join(dir, 'access.log'));
    const s = start([
      'node-app.mjs',
      '-w',
      '1',
      '-b',
      '127.0.0.1:0',
      '--access-logfile',
      path.join(dir, 'access.log'),
      '--log-level',
      'debug',
    ]);
    const port = await s.port();
    await s.readyWorkers(1);
    expect((await get(`http://127.0.0.1:${port}/through-a-trusted-link`)).status).toBe(200);
    await waitFor('the access line in the link target', () =>
      fs.readFileSync(target, 'utf8').includes('/through-a-trusted-link'),
    );
  });
});
