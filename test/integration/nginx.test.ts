/**
 * Debian's real nginx in front of tsunicorn, with the set-up of
 * docs/deploy/nginx.md: a private config in a temp dir (pid, logs and temp
 * paths there, listening on 127.0.0.1), proxying to tsunicorn over a unix
 * socket with keep-alive upstream connections and forwarded headers. HUPs of
 * tsunicorn under keep-alive load through nginx: zero 5xx, zero errors.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Proc, cleanup, freePort, get, isAlive, missing, start, tmpDir, tool, waitFor } from './harness.js';
import { describeFailures, failedCount, startLoad } from './load.js';

afterEach(async () => {
  await cleanup();
});

function nginxConf(dir: string, port: number, sock: string): string {
  return `
# The test runs as root; nginx's workers would drop to "nobody", which cannot reach a socket
# in a 0700 temp dir. In production: nginx as www-data, the socket's group www-data (docs/deploy/nginx.md).
user root;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 512; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;

  upstream tsunicorn {
    server unix:${sock} fail_timeout=0;
    keepalive 32;
    keepalive_timeout 4s;   # below tsunicorn's --keep-alive 5
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://tsunicorn;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_redirect off;
    }
  }
}
`;
}

describe.skipIf(missing('nginx tests', 'nginx'))('behind nginx', () => {
  it('proxies over a unix socket with keep-alive upstreams and forwarded headers; 3 HUPs under load: no 5xx, no error', async () => {
    const dir = tmpDir();
    const sock = path.join(dir, 'app.sock');
    const s = start(['deploy-app.mjs', '-w', '2', '-b', `unix:${sock}`, '--keep-alive', '5', '--log-level', 'debug']);
    await s.readyWorkers(2);

    const port = await freePort();
    const conf = path.join(dir, 'nginx.conf');
    fs.writeFileSync(conf, nginxConf(dir, port, sock));
    const nginx = new Proc(tool('nginx')!, [
      '-c',
      conf,
      '-p',
      dir,
      '-e',
      path.join(dir, 'error.log'),
      '-g',
      'daemon off;',
    ]);
    const base = `http://127.0.0.1:${port}`;
    const first = await waitFor(`nginx to answer (nginx: ${nginx.log})`, async () => {
      const r = await get(`${base}/`);
      return r.status === 200 ? r : null;
    });
    expect(s.workers()).toContain(Number(first.body.trim().split(' ')[1]));

    const headers = JSON.parse(
      (await get(`${base}/headers`, { headers: { 'x-forwarded-for': '203.0.113.7' } })).body,
    ) as Record<string, string>;
    expect(headers.host).toBe(`127.0.0.1:${port}`);
    expect(headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(headers['x-forwarded-proto']).toBe('http');
    expect(headers.connection).toBeUndefined();

    const load = startLoad({ url: `${base}/`, concurrency: 16, durationMs: 30_000, keepAlive: true });
    await waitFor('load flowing', async () => (await get(`${base}/`)).status === 200);
    for (let i = 1; i <= 3; i++) {
      s.signal('SIGHUP');
      await waitFor(
        `reload ${i} (log:\n${s.log})`,
        () => s.countLog(/is ready$/) >= 2 * (i + 1) && s.workers().length === 2,
        20_000,
      );
    }
    const result = await load.stop();
    const fivexx = Object.entries(result.statuses).filter(([code]) => Number(code) >= 500);
    expect(fivexx, describeFailures(result)).toEqual([]);
    expect(
      failedCount(result),
      `${describeFailures(result)}\nnginx error.log:\n${fs
        .readFileSync(path.join(dir, 'error.log'), 'utf8')
        .split('\n')
        .filter((l) => /\[(error|warn)\]/.test(l))
        .join('\n')}`,
    ).toBe(0);
    expect(result.ok).toBeGreaterThan(100);
    // Upstream keep-alive is in use: nginx sends requests on connections to tsunicorn it used before.
    await waitFor(
      'a reused upstream connection',
      async () => Number((await get(`${base}/`)).headers['x-conn-requests']) > 1,
      5000,
    );

    // Stop nginx by pid (QUIT: graceful), then tsunicorn.
    const nginxWorkers = nginx.track();
    process.kill(nginx.pid, 'SIGQUIT');
    expect((await nginx.waitExit()).code).toBe(0);
    for (const p of nginxWorkers) expect(isAlive(p)).toBe(false);
    s.signal('SIGTERM');
    expect((await s.waitExit()).code).toBe(0);
  }, 60_000);
});
