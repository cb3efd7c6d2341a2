/**
 * A HUP whose config file takes a while to load: the re-read runs off the arbiter loop, so meanwhile
 * `ctl status` answers (state `reloading`) and a dead worker is replaced, while signals sent during the
 * reload are held and applied after it, in order; a TERM is not held.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, copyFixture, isAlive, runCli, start, tmpDir, waitFor } from './harness.js';

afterEach(cleanup);

/** Imports wait while `gate` exists; the worker count is read from `workers` on each load. */
const CONFIG = `import fs from 'node:fs';
const dir = new URL('.', import.meta.url).pathname;
while (fs.existsSync(dir + 'gate')) await new Promise((r) => setTimeout(r, 50));
export default { workers: Number(fs.readFileSync(dir + 'workers', 'utf8')) };
`;

async function status(sock: string) {
  const r = await runCli(['ctl', 'status', '--json', '--ctl-timeout', '5', '--control-socket', sock]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { state: string; target: number; workers: { pid: number; generation: number }[] };
}

describe('HUP with a slow config load', () => {
  it('status: reloading; a dead worker is replaced meanwhile; a TTIN sent meanwhile comes after it', async () => {
    const dir = tmpDir();
    copyFixture(dir);
    fs.writeFileSync(path.join(dir, 'tsunicorn.config.mjs'), CONFIG);
    fs.writeFileSync(path.join(dir, 'workers'), '2');
    const sock = path.join(dir, 'ctl.sock');
    const s = start(['node-app.mjs', '-b', '127.0.0.1:0', '--log-level', 'debug', '--control-socket', sock], {
      cwd: dir,
    });
    await s.readyWorkers(2);
    const gate = path.join(dir, 'gate');
    fs.writeFileSync(gate, '');
    fs.writeFileSync(path.join(dir, 'workers'), '4');
    s.signal('SIGHUP');
    await s.waitLog(/Hang up: Master/);

    const during = await status(sock);
    expect(during.state).toBe('reloading');
    expect(during.workers.map((w) => w.generation)).toEqual([1, 1]);

    // The loop still runs: a worker killed now is replaced (by the running generation) before the reload ends.
    const victim = during.workers[0]!.pid;
    process.kill(victim, 'SIGKILL');
    await waitFor('the killed worker replaced', async () => {
      const st = await status(sock);
      return st.workers.length === 2 && !st.workers.some((w) => w.pid === victim) && st.state === 'reloading';
    });

    // Held, not applied: a status answered after it still shows target 2.
    // ctl starts well after the signal is queued, so the loop takes the TTIN first.
    s.signal('SIGTTIN');
    expect((await status(sock)).target).toBe(2);
    expect(s.countLog(/Handling signal: ttin/)).toBe(0);

    fs.rmSync(gate);
    // The new config sets 4, then the held TTIN makes it 5; applied before the reload it would end at 4.
    const after = await waitFor(
      'generation 2 at 5 workers',
      async () => {
        const st = await status(sock);
        return st.workers.length === 5 && st.workers.every((w) => w.generation === 2) ? st : null;
      },
      20_000,
    );
    expect(after.state).toBe('running');
    expect(after.target).toBe(5);
    const hup = s.lines.findIndex((l) => /Hang up: Master/.test(l));
    const ttin = s.lines.findIndex((l) => /Handling signal: ttin/.test(l));
    expect(ttin).toBeGreaterThan(hup);
  }, 60_000);

  it('a TERM during a config load that never ends is not held: the arbiter stops its workers and exits 0', async () => {
    const dir = tmpDir();
    copyFixture(dir);
    fs.writeFileSync(path.join(dir, 'tsunicorn.config.mjs'), CONFIG);
    fs.writeFileSync(path.join(dir, 'workers'), '2');
    const s = start(['node-app.mjs', '-b', '127.0.0.1:0', '--log-level', 'debug'], { cwd: dir });
    await s.readyWorkers(2);
    const workers = s.workers();
    fs.writeFileSync(path.join(dir, 'gate'), '');
    s.signal('SIGHUP');
    await s.waitLog(/Hang up: Master/);
    s.signal('SIGTERM');
    const exit = await s.waitExit();
    expect(exit.code).toBe(0);
    expect(s.log).toMatch(/Handling signal: term/);
    for (const pid of workers) expect(isAlive(pid), `worker ${pid} left behind`).toBe(false);
  }, 30_000);
});
