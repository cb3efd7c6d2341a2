/**
 * Configuration through the real CLI: precedence (file < TSUNICORN_CMD_ARGS <
 * command line) checked with --print-config, a TypeScript config file, and
 * Gunicorn's environment fallbacks.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, cleanup, get, runCli, start, tmpDir } from './harness.js';

afterEach(cleanup);

function printed(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const m = /^(\w+)\s+= (.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

function projectWith(configName: string, body: string): string {
  const dir = tmpDir();
  fs.copyFileSync(path.join(FIXTURES, 'node-app.mjs'), path.join(dir, 'node-app.mjs'));
  fs.writeFileSync(path.join(dir, configName), body);
  return dir;
}

describe('precedence', () => {
  it('defaults < config file < TSUNICORN_CMD_ARGS < command line', async () => {
    const dir = projectWith(
      'tsunicorn.config.mjs',
      'export default { workers: 2, keepAlive: 7, timeout: 11, backlog: 64 };\n',
    );
    const fileOnly = printed((await runCli(['node-app.mjs', '--print-config'], { cwd: dir })).stdout);
    expect(fileOnly).toMatchObject({
      workers: '2',
      keepAlive: '7',
      timeout: '11',
      backlog: '64',
      gracefulTimeout: '30',
    });

    const env = { TSUNICORN_CMD_ARGS: '-w 3 --keep-alive 8' };
    const withEnv = printed((await runCli(['node-app.mjs', '--print-config'], { cwd: dir, env })).stdout);
    expect(withEnv).toMatchObject({ workers: '3', keepAlive: '8', timeout: '11', backlog: '64' });

    const all = await runCli(['node-app.mjs', '--print-config', '-w', '4', '--backlog', '128'], { cwd: dir, env });
    expect(all.code).toBe(0);
    expect(printed(all.stdout)).toMatchObject({
      workers: '4',
      keepAlive: '8',
      timeout: '11',
      backlog: '128',
      app: 'node-app.mjs',
    });
    expect(printed(all.stdout).config).toBe(path.join(fs.realpathSync(dir), 'tsunicorn.config.mjs'));
  });

  it('-c PATH picks a config file by name, and TSUNICORN_CMD_ARGS can name it', async () => {
    const dir = projectWith('custom.json', '{ "workers": 5 }\n');
    expect(
      printed((await runCli(['node-app.mjs', '--print-config', '-c', 'custom.json'], { cwd: dir })).stdout).workers,
    ).toBe('5');
    const env = { TSUNICORN_CMD_ARGS: '-c custom.json' };
    expect(printed((await runCli(['node-app.mjs', '--print-config'], { cwd: dir, env })).stdout).workers).toBe('5');
  });

  it('$PORT and $WEB_CONCURRENCY are defaults, below the config file', async () => {
    const dir = projectWith('package.json', '{ "name": "x", "tsunicorn": { "keepAlive": 9 } }\n');
    const env = { PORT: '9123', WEB_CONCURRENCY: '6' };
    const out = printed((await runCli(['node-app.mjs', '--print-config'], { cwd: dir, env })).stdout);
    expect(out).toMatchObject({ bind: '0.0.0.0:9123', workers: '6', keepAlive: '9' });
    fs.writeFileSync(path.join(dir, 'tsunicorn.config.json'), '{ "workers": 2 }\n');
    fs.writeFileSync(path.join(dir, 'package.json'), '{ "name": "x" }\n');
    expect(printed((await runCli(['node-app.mjs', '--print-config'], { cwd: dir, env })).stdout).workers).toBe('2');
  });
});

describe('a TypeScript config file', () => {
  it('is found and evaluated (type stripping where Node has it, else tsx); its settings and app are used', async () => {
    const dir = projectWith(
      'tsunicorn.config.ts',
      [
        "import type { TsunicornConfig } from 'tsunicorn';",
        'const workers: number = 2;',
        "const config: TsunicornConfig = { app: 'node-app.mjs', workers, bind: ['127.0.0.1:0'], logLevel: 'debug' };",
        'export default config;',
        '',
      ].join('\n'),
    );
    const s = start([], { cwd: dir });
    const port = await s.port();
    await s.readyWorkers(2);
    expect(s.workers()).toHaveLength(2);
    expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(200);
  });
});
