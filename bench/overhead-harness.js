// Shared by the feature-overhead benches (access-log.js, metrics.js): a 2-worker tsunicorn on the
// example app with some extra flags, and one synchronous wrk run against it.
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './servers.js';
import { parseWrk } from './wrk.js';

/** @param {string[]} extra flags after `-w 2 -b 127.0.0.1:0` */
export function startHello(extra) {
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'bin/tsunicorn.js'), 'examples/hello.js:app', '-w', '2', '-b', '127.0.0.1:0', ...extra],
    {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let log = '';
  child.stderr.on('data', (c) => (log += c));
  return {
    child,
    /** The bound port, once both workers have booted (polled, with a 10 s deadline). */
    port: async () => {
      const end = Date.now() + 10_000;
      for (;;) {
        const m = /Listening at: http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
        if (m && (log.match(/Booting worker/g) ?? []).length >= 2) return Number(m[1]);
        if (Date.now() > end) throw new Error(`server did not start:\n${log}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

/** `wrk -t1 -c50` for `seconds` against `/`: requests/s and requests served. */
export function wrkHello(port, seconds) {
  const { rps, requests } = parseWrk(
    execFileSync('wrk', ['-t1', '-c50', `-d${seconds}s`, `http://127.0.0.1:${port}/`], { encoding: 'utf8' }),
  );
  return { rps, requests };
}
