/**
 * `tsunicorn ctl top` against a real server under load: in a real terminal
 * (tmux) it draws a row per worker in place, its req/s moves, and `q` exits 0
 * and gives the screen back (alternate screen off, cursor shown, cooked mode);
 * without a terminal it prints plain lines, or JSON with --json.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, cleanup, runCli, serveWithControlSocket, tmpDir, waitFor } from './harness.js';
import { startLoad } from './load.js';

const TMUX = spawnSync('tmux', ['-V']).status === 0;
const tmuxServers: string[] = [];

afterEach(async () => {
  // Our own tmux server, by its socket: its pane (ctl top, the shell) goes with it.
  for (const sock of tmuxServers.splice(0)) spawnSync('tmux', ['-S', sock, 'kill-server']);
  await cleanup();
});

const serve = (workers: number) => serveWithControlSocket(['node-app.mjs'], workers);

// A connection per request, so that both workers get some (keep-alive connections stay with one worker).
const load = (port: number) =>
  startLoad({ url: `http://127.0.0.1:${port}/`, concurrency: 4, durationMs: 30_000, keepAlive: false });

/** Until every worker's beat has reported requests: the load has reached them all. */
const loadOnEveryWorker = (sock: string) =>
  waitFor(
    'requests on every worker',
    async () => {
      const r = await runCli(['ctl', 'status', '--json', '--control-socket', sock]);
      return (JSON.parse(r.stdout) as { workers: { requests: number }[] }).workers.every((w) => w.requests > 0);
    },
    15_000,
    200,
  );

/** The total req/s of a header line, and the worker rows (pid → req/s text) of one view. */
function parseView(lines: string[], masterPid: number) {
  const at = lines.findIndex((l) => l.startsWith(`master ${masterPid} `));
  if (at < 0) return null;
  const total = /\s(\S+) req\/s\s/.exec(lines[at]!)?.[1];
  const rows = new Map<number, string>();
  for (const l of lines.slice(at + 2)) {
    const m = /^(\d+)\s+\d+\s+(\w+)\s+(\S+)\s+\d+\s+\S+\s+\S+\s+\S+M\s+\S+M\s+\S+$/.exec(l);
    if (!m) break;
    rows.set(Number(m[1]), m[3]!);
  }
  return { total, rows };
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

/** Runs `ctl top` in a fresh tmux server (150x30) after a marker line; then the shell prints the tty's icanon flag. */
function topInTmux(sock: string) {
  const dir = tmpDir();
  const tsock = path.join(dir, 'tmux.sock');
  const conf = path.join(dir, 'tmux.conf');
  const exitFile = path.join(dir, 'exit');
  // The pane's shell is /bin/sh whatever $SHELL is.
  fs.writeFileSync(conf, 'set -g default-shell /bin/sh\nset -g status off\n');
  const script =
    `echo BEFORE-TOP-MARK; '${process.execPath}' '${BIN}' ctl top --control-socket '${sock}' --interval 0.5; ` +
    `echo "$?" > '${exitFile}'; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\{0,1\\}icanon'; sleep 120`;
  const tmux = (...args: string[]) => execFileSync('tmux', ['-S', tsock, ...args], { encoding: 'utf8' });
  tmuxServers.push(tsock);
  tmux('-f', conf, 'new-session', '-d', '-x', '150', '-y', '30', script);
  const pane = () => tmux('capture-pane', '-p').split('\n');
  return {
    keys: (key: string) => tmux('send-keys', key),
    pane,
    flag: (name: string) => tmux('display-message', '-p', `#{${name}}`).trim(),
    exitCode: () =>
      waitFor('ctl top to exit', () => fs.existsSync(exitFile) && fs.readFileSync(exitFile, 'utf8').trim()),
    /** The pane once the shell has printed the tty mode after ctl top. */
    after: () => waitFor('the shell after ctl top', () => (pane().some((l) => /^-?icanon$/.test(l)) ? pane() : null)),
  };
}

describe.skipIf(!TMUX)('ctl top in a terminal (tmux)', () => {
  it('a row per worker pid, req/s changing under load; q exits 0 and restores the screen', async () => {
    const { s, sock, port } = await serve(2);
    const term = topInTmux(sock);
    const running = load(port);
    const workers = sorted(s.workers());
    const totals = new Set<string>();
    await waitFor(
      'ctl top drawing both workers with two different req/s totals',
      () => {
        const view = parseView(term.pane(), s.pid);
        if (!view || sorted([...view.rows.keys()]).join() !== workers.join()) return false;
        if (view.total) totals.add(view.total);
        return [...totals].filter((t) => Number(t) > 0).length >= 2;
      },
      20_000,
      200,
    );
    expect(term.flag('alternate_on')).toBe('1');
    // Drawn in place: one view on the screen, not a scroll of them.
    expect(term.pane().filter((l) => l.startsWith(`master ${s.pid} `))).toHaveLength(1);
    expect(term.pane().join('\n')).not.toContain('BEFORE-TOP-MARK');
    const result = await running.stop();
    expect(result.ok).toBeGreaterThan(0);

    term.keys('q');
    expect(await term.exitCode()).toBe('0');
    const after = await term.after();
    // The screen as it was: the line printed before, no view left over; the cursor shown; the tty cooked again.
    expect(after).toContain('BEFORE-TOP-MARK');
    expect(after.some((l) => l.startsWith(`master ${s.pid} `))).toBe(false);
    expect(after).toContain('icanon');
    expect(term.flag('alternate_on')).toBe('0');
    expect(term.flag('cursor_flag')).toBe('1');
  }, 60_000);

  it('Ctrl-C quits as q does', async () => {
    const { s, sock } = await serve(1);
    const term = topInTmux(sock);
    await waitFor('the view', () => parseView(term.pane(), s.pid)?.rows.has(s.workers()[0]!), 15_000, 100);
    term.keys('C-c');
    expect(await term.exitCode()).toBe('0');
    const after = await term.after();
    expect(after).toContain('BEFORE-TOP-MARK');
    expect(after).toContain('icanon');
    expect(term.flag('alternate_on')).toBe('0');
    expect(term.flag('cursor_flag')).toBe('1');
  }, 45_000);
});

describe('ctl top without a terminal', () => {
  it('prints one plain view per interval: no escape codes, a row per worker, req/s from the load', async () => {
    const { s, sock, port } = await serve(2);
    const running = load(port);
    // Let the load reach both workers before the first view.
    await loadOnEveryWorker(sock);
    const r = await runCli(['ctl', 'top', '--interval', '0.5', '--count', '4', '--control-socket', sock]);
    await running.stop();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.includes('\x1b'), 'an escape code in plain output').toBe(false);
    const views = r.stdout
      .split('\n\n')
      .map((v) => v.split('\n').filter(Boolean))
      .filter((v) => v.length > 0);
    expect(views).toHaveLength(4);
    const workers = sorted(s.workers());
    for (const v of views) {
      const parsed = parseView(v, s.pid)!;
      expect(parsed, v.join('\n')).not.toBeNull();
      expect(sorted([...parsed.rows.keys()])).toEqual(workers);
    }
    // The first view has no interval behind it; a later one has rates from the load (one 0.5 s interval on a
    // loaded box may see no request finish).
    expect([...parseView(views[0]!, s.pid)!.rows.values()]).toEqual(['-', '-']);
    const totals = views.slice(1).map((v) => Number(parseView(v, s.pid)!.total));
    expect(Math.max(...totals), r.stdout).toBeGreaterThan(0);
  }, 45_000);

  it('--json: one object per interval with the numbers', async () => {
    const { s, sock, port } = await serve(1);
    const running = load(port);
    // Every view must fall inside the load, or the last interval may have nothing to count.
    await loadOnEveryWorker(sock);
    const r = await runCli(['ctl', 'top', '--json', '--interval', '0.5', '--count', '4', '--control-socket', sock]);
    await running.stop();
    expect(r.code, r.stderr).toBe(0);
    const views = r.stdout
      .split('\n')
      .filter(Boolean)
      .map(
        (l) =>
          JSON.parse(l) as {
            pid: number;
            rows: {
              pid: number;
              reqPerSec: number | null;
              p50: number | null;
              p99: number | null;
              elu: number | null;
              heapUsed: number;
            }[];
          },
      );
    expect(views).toHaveLength(4);
    expect(views.every((v) => v.pid === s.pid && v.rows.length === 1 && v.rows[0]!.pid === s.workers()[0])).toBe(true);
    expect(views[0]!.rows[0]!.reqPerSec).toBeNull();
    // A view after the first with requests in its interval (on a loaded box one 0.5 s interval may see none finish).
    const busy = views.slice(1).find((v) => (v.rows[0]!.reqPerSec ?? 0) > 0)?.rows[0];
    expect(busy, r.stdout).toBeDefined();
    expect(busy!.p50).toBeGreaterThan(0);
    expect(busy!.p99).toBeGreaterThanOrEqual(busy!.p50!);
    expect(busy!.elu).toBeGreaterThan(0);
    expect(busy!.heapUsed).toBeGreaterThan(1_000_000);
  }, 45_000);

  it('bad options are usage errors (exit 2)', async () => {
    for (const args of [
      ['top', '--interval', '0'],
      ['top', '--count', 'x'],
      ['status', '--count', '2'],
    ]) {
      const r = await runCli(['ctl', ...args, '--control-socket', '/nonexistent/ctl.sock']);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/--interval|--count/);
    }
  }, 30_000);
});
