/**
 * systemd without systemd running: socket activation through Debian's real
 * `systemd-socket-activate` (it listens, waits for the first connection, and
 * execs tsunicorn with LISTEN_FDS/LISTEN_PID, as systemd does), and Type=notify
 * through the real `systemd-notify` against a fake NOTIFY_SOCKET, a unix
 * datagram socket bound by python3 that prints what arrives and who sent it.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BIN,
  FIXTURES,
  Proc,
  ROOT,
  cleanup,
  environOf,
  freePort,
  get,
  listeningTcp,
  missing,
  start,
  tmpDir,
  tool,
  waitFor,
  workersOf,
} from './harness.js';

afterEach(async () => {
  await cleanup();
});

const ENV = { ...process.env, TSUNICORN_CMD_ARGS: '', PORT: '', WEB_CONCURRENCY: '' };

function activate(listen: string[], args: string[], extra: string[] = []): Proc {
  // systemd-socket-activate passes on only the variables named with -E.
  return new Proc(
    tool('systemd-socket-activate')!,
    [...listen.flatMap((l) => ['-l', l]), ...extra, '-E', 'PATH', process.execPath, BIN, 'deploy-app.mjs', ...args],
    {
      cwd: FIXTURES,
      env: ENV,
    },
  );
}

describe.skipIf(missing('socket activation tests', 'systemd-socket-activate'))('socket activation (LISTEN_FDS)', () => {
  it('without --bind: the first connection starts tsunicorn on the inherited socket; it binds nothing, and workers never see LISTEN_*', async () => {
    const port = await freePort();
    const p = activate([`127.0.0.1:${port}`], ['-w', '2', '--log-level', 'debug']);
    await p.waitLog(new RegExp(`Listening on 127\\.0\\.0\\.1:${port} as 3`));
    // This connection waits in the socket's backlog while tsunicorn starts: it is served, not refused.
    const res = await get(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/^ok \d+/);

    // systemd-socket-activate execs: the master has its pid.
    await p.waitLog(
      new RegExp(`Using socket from systemd \\(LISTEN_FDS\\): fd 3 = http://127\\.0\\.0\\.1:${port}; not binding it`),
    );
    await p.waitLog(new RegExp(`Listening at: http://127\\.0\\.0\\.1:${port} \\(${p.pid}\\)`));
    expect(p.countLog(/Listening at:/)).toBe(1);
    // No bind: the only listening TCP socket the master holds is fd 3 (the default 127.0.0.1:8000 was not bound).
    expect(listeningTcp(p.pid)).toEqual([{ fd: 3, port }]);
    await waitFor('2 ready workers', () => p.countLog(/is ready$/) >= 2);
    const workers = workersOf(p.pid);
    expect(workers).toHaveLength(2);
    for (const w of workers) {
      const env = environOf(w);
      expect(env.LISTEN_FDS).toBeUndefined();
      expect(env.LISTEN_PID).toBeUndefined();
    }

    process.kill(p.pid, 'SIGTERM');
    expect(await p.waitExit()).toEqual({ code: 0, signal: null });
  });

  it('with --bind: binds that match activated sockets adopt them (TCP by address, unix by path), others are bound; systemd’s socket file is kept at exit', async () => {
    const port = await freePort();
    const dir = tmpDir();
    const activated = path.join(dir, 'activated.sock');
    const own = path.join(dir, 'own.sock');
    const p = activate(
      [`127.0.0.1:${port}`, activated],
      ['-w', '1', '-b', `unix:${own}`, '-b', `unix:${activated}`, '-b', `localhost:${port}`, '--log-level', 'debug'],
      ['--fdname=web:local'],
    );
    await p.waitLog(/Listening on .*activated\.sock as 4/);
    expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(200);
    await p.waitLog(/is ready$/);
    expect(p.log).toMatch(new RegExp(`fd 3 \\(web\\) = http://127\\.0\\.0\\.1:${port}; not binding it`));
    expect(p.log).toMatch(/fd 4 \(local\) = unix:.*activated\.sock; not binding it/);
    expect(p.log).not.toMatch(/matches no --bind/);
    // Served on all three, in --bind order.
    const listening = p.lines
      .filter((l) => l.includes('Listening at:'))
      .map((l) => l.replace(/^.*Listening at: (\S+).*$/, '$1'));
    expect(listening).toEqual([`unix:${own}`, `unix:${activated}`, `http://127.0.0.1:${port}`]);
    expect((await get('http://localhost/', { socketPath: activated })).status).toBe(200);
    expect((await get('http://localhost/', { socketPath: own })).status).toBe(200);
    expect(listeningTcp(p.pid)).toEqual([{ fd: 3, port }]);

    process.kill(p.pid, 'SIGTERM');
    expect(await p.waitExit()).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(own)).toBe(false);
    expect(fs.existsSync(activated)).toBe(true);
  });

  it('a USR2 successor serves the activated sockets it inherits, binds nothing, and leaves systemd’s socket file', async () => {
    const port = await freePort();
    const dir = tmpDir();
    const activated = path.join(dir, 'activated.sock');
    const pidfile = path.join(dir, 'app.pid');
    const p = activate([`127.0.0.1:${port}`, activated], ['-w', '1', '-p', pidfile, '--log-level', 'debug']);
    await p.waitLog(/Listening on .*activated\.sock as 4/);
    expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(200);
    await p.waitLog(/is ready$/);
    process.kill(p.pid, 'SIGUSR2');
    const successor = await waitFor('the new master in <pidfile>.2', () => {
      try {
        return Number(fs.readFileSync(`${pidfile}.2`, 'utf8').trim()) || null;
      } catch {
        return null;
      }
    });
    p.track();
    await waitFor(
      'the new master’s worker',
      () => p.countLog(new RegExp(`\\[${successor}\\] \\[DEBUG\\] Worker \\(pid:\\d+\\) is ready`)) >= 1,
    );
    // Its listeners are the two inherited sockets, at the same addresses.
    expect(p.log).toMatch(new RegExp(`\\[${successor}\\] \\[INFO\\] Listening at: http://127\\.0\\.0\\.1:${port} `));
    expect(p.log).toMatch(new RegExp(`\\[${successor}\\] \\[INFO\\] Listening at: unix:.*activated\\.sock `));
    expect(listeningTcp(successor).map((l) => l.port)).toEqual([port]);
    expect(environOf(successor).TSUNICORN_ACTIVATED).toBe(JSON.stringify([`127.0.0.1:${port}`, `unix:${activated}`]));

    process.kill(p.pid, 'SIGTERM');
    expect(await p.waitExit()).toEqual({ code: 0, signal: null });
    const served = await get('http://localhost/', { socketPath: activated });
    expect(served.status).toBe(200);
    expect(workersOf(successor)).toContain(Number(served.body.trim().split(' ')[1]));
    process.kill(successor, 'SIGTERM');
    await waitFor(
      'the new master to exit',
      () => !fs.existsSync(`/proc/${successor}`) || /\) Z/.test(fs.readFileSync(`/proc/${successor}/stat`, 'utf8')),
    );
    expect(fs.existsSync(activated)).toBe(true);
  });
});

describe.skipIf(missing('unit file checks', 'systemd-analyze'))('the example units in docs/deploy', () => {
  it('pass `systemd-analyze verify` without a warning', () => {
    // verify checks that ExecStart's program exists: point it at this machine's node.
    const dir = tmpDir();
    for (const unit of ['tsunicorn.socket', 'tsunicorn.service']) {
      fs.writeFileSync(
        path.join(dir, unit),
        fs
          .readFileSync(path.join(ROOT, 'docs', 'deploy', unit), 'utf8')
          .replaceAll('/usr/bin/node ', `${process.execPath} `),
      );
    }
    const r = spawnSync(tool('systemd-analyze')!, ['verify', '--man=no', './tsunicorn.socket', './tsunicorn.service'], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

// Binds a unix datagram socket and prints each datagram as JSON, with the sender's pid (SCM_CREDENTIALS).
// It closes any fd passed along (systemd-notify's BARRIER=1 waits for that).
const RECEIVER = `
import json, os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
print(json.dumps({"listening": True}), flush=True)
while True:
    data, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(12) + socket.CMSG_SPACE(4 * 16))
    pid = None
    for level, kind, d in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", d[:12])[0]
        elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            for i in range(0, len(d) - len(d) % 4, 4):
                os.close(struct.unpack("i", d[i:i + 4])[0])
    print(json.dumps({"pid": pid, "msg": data.decode()}), flush=True)
`;

interface Notification {
  pid: number;
  fields: Record<string, string>;
}

describe.skipIf(missing('Type=notify tests', 'systemd-notify', 'python3'))('Type=notify (NOTIFY_SOCKET)', () => {
  it('READY=1 when the workers are ready; RELOADING=1 and READY=1 around HUP; MAINPID from a USR2 successor; STOPPING=1 only from the last master', async () => {
    const dir = tmpDir();
    const sock = path.join(dir, 'notify.sock');
    const receiver = new Proc(tool('python3')!, ['-u', '-c', RECEIVER, sock]);
    await receiver.waitLog(/"listening": true/);
    const received = (): Notification[] =>
      receiver.lines
        .map((l) => JSON.parse(l) as { pid?: number; msg?: string })
        .filter((m) => m.msg !== undefined && m.msg !== 'BARRIER=1')
        .map((m) => ({
          pid: m.pid!,
          fields: Object.fromEntries(
            m
              .msg!.split('\n')
              .filter(Boolean)
              .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
          ),
        }));
    const waitNotification = (what: string, pred: (n: Notification) => boolean, after = 0) =>
      waitFor(`${what} (received: ${JSON.stringify(received())})`, () => received().slice(after).find(pred), 15_000);

    const pidfile = path.join(dir, 'app.pid');
    const s = start(['deploy-app.mjs', '-w', '2', '-b', '127.0.0.1:0', '-p', pidfile, '--log-level', 'debug'], {
      env: { NOTIFY_SOCKET: sock },
    });
    const ready = await waitNotification('READY=1', (n) => n.fields.READY === '1');
    // Sent after both workers were ready, naming the master (and, as root, sent with its credentials).
    expect(s.countLog(/is ready$/)).toBeGreaterThanOrEqual(2);
    expect(ready.fields.MAINPID).toBe(String(s.pid));
    expect(ready.fields.STATUS).toBe('Serving with 2 workers');
    expect(ready.pid).toBe(s.pid);

    let seen = received().length;
    s.signal('SIGHUP');
    const reloading = await waitNotification('RELOADING=1', (n) => n.fields.RELOADING === '1', seen);
    expect(reloading.fields.MONOTONIC_USEC).toMatch(/^\d+$/);
    await waitNotification('READY=1 after the HUP', (n) => n.fields.READY === '1', seen);
    // Only once the new generation is ready: 2 more workers.
    expect(s.countLog(/is ready$/)).toBeGreaterThanOrEqual(4);

    seen = received().length;
    s.signal('SIGUSR2');
    const successor = await waitFor('the new master in <pidfile>.2', () => {
      try {
        const pid = Number(fs.readFileSync(`${pidfile}.2`, 'utf8').trim());
        return pid && pid !== s.pid ? pid : null;
      } catch {
        return null;
      }
    });
    s.adopt(successor);
    const handover = await waitNotification(
      'MAINPID from the new master',
      (n) => n.fields.MAINPID === String(successor),
      seen,
    );
    expect(handover.fields.READY).toBe('1');

    // The old master hands over: WINCH, then TERM. It must not tell systemd the service is stopping.
    s.signal('SIGWINCH');
    await waitFor('the old master to have no workers', () => s.workers().length === 0, 15_000);
    s.signal('SIGTERM');
    expect((await s.waitExit()).code).toBe(0);
    expect(received().filter((n) => n.fields.STOPPING)).toEqual([]);

    process.kill(successor, 'SIGTERM');
    const stopping = await waitNotification('STOPPING=1', (n) => n.fields.STOPPING === '1');
    expect(stopping.fields.STOPPING).toBe('1');
    await waitFor('the new master to exit', () => {
      try {
        process.kill(successor, 0);
        return false;
      } catch {
        return true;
      }
    });
    // The whole conversation, in order.
    const kinds = received().map(
      (n) =>
        `${n.fields.READY ? 'READY' : n.fields.RELOADING ? 'RELOADING' : n.fields.STOPPING ? 'STOPPING' : '?'}:${n.fields.MAINPID ?? ''}`,
    );
    expect(kinds).toEqual([`READY:${s.pid}`, 'RELOADING:', `READY:${s.pid}`, `READY:${successor}`, 'STOPPING:']);
  }, 60_000);
});
