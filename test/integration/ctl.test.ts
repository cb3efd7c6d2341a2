/**
 * `tsunicorn ctl` against a real arbiter's control socket: status lists the
 * live workers, scale / reload / stop act as TTIN-TTOU / HUP / TERM, the
 * socket is 0600 and removed at exit, and the default path is found from the
 * same directory and flags.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Server, FIXTURES, cleanup, runCli, start, tmpDir, waitFor } from './harness.js';

afterEach(cleanup);

interface Row {
  pid: number;
  generation: number;
  state: string;
}

/** Runs `tsunicorn ctl ARGS`; with `status`, also parses the table rows. */
async function ctl(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = await runCli(['ctl', ...args], opts);
  const rows: Row[] = [];
  for (const line of r.stdout.split('\n').slice(2)) {
    const m = /^(\d+)\s+(\d+)\s+\S+\s+(\w+)\s+\d+\s+\d+\s+/.exec(line);
    if (m) rows.push({ pid: Number(m[1]), generation: Number(m[2]), state: m[3]! });
  }
  return { ...r, rows };
}

const sorted = (pids: number[]) => [...pids].sort((a, b) => a - b);

/** Polls `ctl status` until `check` holds for its rows, which then equal the live worker processes. */
async function statusUntil(s: Server, sock: string, what: string, check: (rows: Row[]) => boolean): Promise<Row[]> {
  return waitFor(
    what,
    async () => {
      const r = await ctl(['status', '--control-socket', sock]);
      expect(r.code, r.stderr).toBe(0);
      if (!check(r.rows)) return null;
      const pids = sorted(r.rows.map((x) => x.pid));
      return pids.join() === sorted(s.workers()).join() ? r.rows : null;
    },
    15_000,
    100,
  );
}

describe('tsunicorn ctl', () => {
  it('status lists exactly the live workers, before and after TTIN; the socket is 0600 and removed at exit', async () => {
    const sock = path.join(tmpDir(), 'ctl.sock');
    const s = start(['node-app.mjs', '-w', '2', '-b', '127.0.0.1:0', '--log-level', 'debug', '--control-socket', sock]);
    await s.waitLog(new RegExp(`Control socket at: ${sock}$`));
    await s.readyWorkers(2);
    expect(fs.statSync(sock).isSocket()).toBe(true);
    expect(fs.statSync(sock).mode & 0o777).toBe(0o600);

    const r = await ctl(['status', '--control-socket', sock]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`^master ${s.pid} \\[node-app\\.mjs\\] running, generation 1, 2 workers \\(target 2\\)\\n`),
    );
    expect(r.stdout.split('\n')[1]).toMatch(/^PID\s+GEN\s+AGE\s+STATE\s+REQUESTS\s+IN-FLIGHT\s+RSS$/);
    expect(sorted(r.rows.map((x) => x.pid))).toEqual(sorted(s.workers()));
    expect(r.rows.every((x) => x.state === 'ready' && x.generation === 1)).toBe(true);

    const json = await ctl(['status', '--json', '--control-socket', sock]);
    const status = JSON.parse(json.stdout) as {
      pid: number;
      target: number;
      workers: { pid: number; requests: number; rss: number; ageMs: number }[];
    };
    expect(status.pid).toBe(s.pid);
    expect(status.target).toBe(2);
    expect(status.workers).toHaveLength(2);

    s.signal('SIGTTIN');
    const rows = await statusUntil(
      s,
      sock,
      '3 ready workers in ctl status',
      (rs) => rs.length === 3 && rs.every((x) => x.state === 'ready'),
    );
    expect(rows).toHaveLength(3);

    s.signal('SIGTERM');
    expect((await s.waitExit()).code).toBe(0);
    expect(fs.existsSync(sock)).toBe(false);
  }, 45_000);

  it('scale 3, reload and stop do what TTIN, HUP and TERM do', async () => {
    const sock = path.join(tmpDir(), 'ctl.sock');
    const s = start(['node-app.mjs', '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug', '--control-socket', sock]);
    await s.readyWorkers(1);

    const scaled = await ctl(['scale', '3', '--control-socket', sock]);
    expect(scaled.code, scaled.stderr).toBe(0);
    expect(scaled.stdout.trim()).toBe('scaling from 1 to 3 workers');
    const first = await statusUntil(
      s,
      sock,
      '3 ready workers',
      (rs) => rs.length === 3 && rs.every((x) => x.state === 'ready'),
    );

    const reloaded = await ctl(['reload', '--control-socket', sock]);
    expect(reloaded.code, reloaded.stderr).toBe(0);
    expect(reloaded.stdout).toMatch(/^reloading: starting generation 2/);
    const second = await statusUntil(
      s,
      sock,
      '3 ready workers of generation 2',
      (rs) => rs.length === 3 && rs.every((x) => x.state === 'ready' && x.generation === 2),
    );
    for (const row of second) expect(first.map((x) => x.pid)).not.toContain(row.pid);
    expect(s.log).toMatch(/Handling control command: reload/);

    const bad = await ctl(['scale', '0', '--control-socket', sock]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/scale needs a number of workers from 1 to 1024, got "0"/);

    const stopped = await ctl(['stop', '--control-socket', sock]);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stdout).toMatch(/stopping \(pid \d+\)\nstopped/);
    // ctl stop returns once the arbiter has closed its control socket, on its way out.
    expect((await s.waitExit()).code).toBe(0);
    expect(s.log).toMatch(/Handling control command: stop/);
    expect(fs.existsSync(sock)).toBe(false);
  }, 45_000);

  it('finds the default socket from the same directory and flags; --no-control-socket disables it; no server is exit 1', async () => {
    const runtime = tmpDir('tsu-xdg-');
    const env = { XDG_RUNTIME_DIR: runtime };
    const flags = ['-b', '127.0.0.1:0', '-n', 'ctl-default'];
    const s = start(['node-app.mjs', '-w', '2', '--log-level', 'debug', ...flags], { env });
    const sock = (await s.waitLog(/Control socket at: (\S+)$/))[1]!;
    expect(path.dirname(sock)).toBe(runtime);
    expect(path.basename(sock)).toMatch(/^tsunicorn-[0-9a-f]{16}\.sock$/);
    expect(fs.statSync(sock).mode & 0o777).toBe(0o600);
    await s.readyWorkers(2);

    const r = await ctl(['status', ...flags], { env, cwd: FIXTURES });
    expect(r.code, r.stderr).toBe(0);
    expect(sorted(r.rows.map((x) => x.pid))).toEqual(sorted(s.workers()));
    // Another name is another server.
    const other = await ctl(['status', '-b', '127.0.0.1:0', '-n', 'someone-else'], { env });
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(
      new RegExp(`^tsunicorn ctl: error: no tsunicorn is listening on ${runtime}/tsunicorn-[0-9a-f]{16}\\.sock$`, 'm'),
    );

    s.signal('SIGTERM');
    expect((await s.waitExit()).code).toBe(0);
    expect(fs.existsSync(sock)).toBe(false);
    const gone = await ctl(['status', ...flags], { env });
    expect(gone.code).toBe(1);
    expect(gone.stderr.trim()).toBe(`tsunicorn ctl: error: no tsunicorn is listening on ${sock}`);

    const off = start(['node-app.mjs', '--log-level', 'debug', '--no-control-socket', ...flags], { env });
    await off.readyWorkers(1);
    expect(off.log).not.toMatch(/Control socket at/);
    expect(fs.readdirSync(runtime)).toEqual([]);
    const disabled = await ctl(['status', '--no-control-socket'], { env });
    expect(disabled.code).toBe(2);
    expect(disabled.stderr).toMatch(/the control socket is disabled/);
  }, 45_000);
});
