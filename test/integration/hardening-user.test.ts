/**
 * --user, --group, --umask: the master (root) binds a privileged port and a
 * unix socket; the workers run as nobody:nogroup with no supplementary
 * groups, proven from /proc/PID/status; the socket file gets the umask's mode
 * and the workers' owner. Needs root (CI runs as root); skipped otherwise.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES, cleanup, get, runCli, start, tmpDir } from './harness.js';

afterAll(cleanup);

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.log('hardening-user: skipped: switching workers to another user needs the tests to run as root');

function status(pid: number): { uid: number[]; gid: number[]; groups: string } {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const ids = (name: string) =>
    (new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(text)?.[1] ?? '').trim().split(/\s+/).map(Number);
  return { uid: ids('Uid'), gid: ids('Gid'), groups: (/^Groups:(.*)$/m.exec(text)?.[1] ?? '').trim() };
}

/** A free port below 1024 on 127.0.0.1 (80 if it is free). */
async function privilegedPort(): Promise<number> {
  for (const port of [80, 81, 591, 800, 888, 999]) {
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port below 1024 on 127.0.0.1');
}

describe.skipIf(!ROOT)('privilege drop', () => {
  it('workers run as nobody:nogroup while the master runs as root; a port below 1024 and a unix socket with the umask’s mode', async () => {
    // The app lives where nobody can read it (mkdtemp makes 0700 directories).
    const dir = tmpDir('tsu-user-');
    fs.chmodSync(dir, 0o755);
    fs.copyFileSync(path.join(FIXTURES, 'hardening-app.mjs'), path.join(dir, 'app.mjs'));
    const sock = path.join(dir, 'app.sock');
    const port = await privilegedPort();
    const s = start(
      [
        'app.mjs',
        '-w',
        '2',
        '--user',
        'nobody',
        '--group',
        'nogroup',
        '--umask',
        '007',
        '-b',
        `127.0.0.1:${port}`,
        '-b',
        `unix:${sock}`,
        '--log-level',
        'debug',
      ],
      { cwd: dir },
    );
    await s.waitLog(new RegExp(`Listening at: http://127\\.0\\.0\\.1:${port} `));
    await s.readyWorkers(2);

    const master = status(s.pid);
    expect(master.uid).toEqual([0, 0, 0, 0]);
    expect(master.gid).toEqual([0, 0, 0, 0]);
    const workers = s.workers();
    expect(workers).toHaveLength(2);
    for (const pid of workers) {
      const w = status(pid);
      expect(w.uid, `worker ${pid}`).toEqual([65534, 65534, 65534, 65534]);
      expect(w.gid, `worker ${pid}`).toEqual([65534, 65534, 65534, 65534]);
      expect(w.groups, `worker ${pid} keeps no supplementary group`).toBe('');
    }

    const tcp = await get(`http://127.0.0.1:${port}/whoami`);
    expect(tcp.status).toBe(200);
    expect(JSON.parse(tcp.body)).toMatchObject({ uid: 65534, gid: 65534 });
    const unix = await get('http://localhost/whoami', { socketPath: sock });
    expect(JSON.parse(unix.body)).toMatchObject({ uid: 65534, gid: 65534 });

    const st = fs.statSync(sock);
    expect(st.mode & 0o777).toBe(0o770);
    expect([st.uid, st.gid]).toEqual([65534, 65534]);
  });

  it('--user alone: the user’s primary group', async () => {
    const dir = tmpDir('tsu-user-');
    fs.chmodSync(dir, 0o755);
    fs.copyFileSync(path.join(FIXTURES, 'hardening-app.mjs'), path.join(dir, 'app.mjs'));
    const s = start(['app.mjs', '-w', '1', '-u', 'nobody', '-b', '127.0.0.1:0', '--log-level', 'debug'], { cwd: dir });
    await s.readyWorkers(1);
    expect(status(s.workers()[0]!).gid[0]).toBe(65534);
  });

  it.each([
    [['--user', 'no-such-user-here'], /invalid value for --user: no such user "no-such-user-here"/],
    [['--group', 'no-such-group-here'], /invalid value for --group: no such group "no-such-group-here"/],
  ])('%s: one line, exit code 2, nothing bound', async (args, message) => {
    const r = await runCli(['hardening-app.mjs', '-b', '127.0.0.1:0', ...args]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/Listening at|Booting worker/);
  });
});
