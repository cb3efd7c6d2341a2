/** The control socket's default path and request parsing. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseControlRequest } from '../../src/arbiter/control-protocol.js';
import { controlSocketPath } from '../../src/config/control-path.js';
import { resolveConfig } from '../../src/config/resolve.js';

const base = { controlSocket: null, bind: ['127.0.0.1:8000'], name: null, chdir: null };

describe('controlSocketPath', () => {
  it('is the same for the same directory, first bind and name, and differs otherwise', () => {
    const env = { XDG_RUNTIME_DIR: '/run/user/1000' };
    const p = controlSocketPath(base, '/srv/app', env)!;
    expect(p).toMatch(/^\/run\/user\/1000\/tsunicorn-[0-9a-f]{16}\.sock$/);
    expect(controlSocketPath({ ...base, bind: ['127.0.0.1:8000', 'unix:/x'] }, '/srv/app', env)).toBe(p);
    expect(controlSocketPath(base, '/srv/other', env)).not.toBe(p);
    expect(controlSocketPath({ ...base, bind: ['127.0.0.1:8001'] }, '/srv/app', env)).not.toBe(p);
    expect(controlSocketPath({ ...base, name: 'x' }, '/srv/app', env)).not.toBe(p);
    // --chdir is part of the directory.
    expect(controlSocketPath({ ...base, chdir: 'app' }, '/srv', env)).toBe(p);
  });

  it('falls back to the temp directory; an explicit path is resolved; false disables', () => {
    expect(path.dirname(controlSocketPath(base, '/srv/app', {})!)).toMatch(/^\//);
    expect(controlSocketPath({ ...base, controlSocket: 'run/ctl.sock' }, '/srv/app', {})).toBe('/srv/app/run/ctl.sock');
    expect(controlSocketPath({ ...base, controlSocket: false }, '/srv/app', {})).toBeNull();
  });

  it('--control-socket PATH and --no-control-socket on the command line', async () => {
    const cwd = process.cwd();
    expect((await resolveConfig({ argv: ['--control-socket', '/tmp/x.sock'], env: {}, cwd })).settings.controlSocket).toBe('/tmp/x.sock');
    expect((await resolveConfig({ argv: ['--no-control-socket'], env: {}, cwd })).settings.controlSocket).toBe(false);
    expect((await resolveConfig({ argv: [], env: {}, cwd })).settings.controlSocket).toBeNull();
  });
});

describe('parseControlRequest', () => {
  it('accepts the four commands and refuses anything else in one line', () => {
    expect(parseControlRequest('{"cmd":"status"}')).toEqual({ cmd: 'status' });
    expect(parseControlRequest('{"cmd":"reload"}')).toEqual({ cmd: 'reload' });
    expect(parseControlRequest('{"cmd":"scale","workers":3}')).toEqual({ cmd: 'scale', workers: 3 });
    expect(parseControlRequest('{"cmd":"stop"}')).toEqual({ cmd: 'stop', graceful: true });
    expect(parseControlRequest('{"cmd":"stop","graceful":false}')).toEqual({ cmd: 'stop', graceful: false });
    expect(parseControlRequest('{"cmd":"scale","workers":0}')).toMatch(/from 1 to 1024/);
    expect(parseControlRequest('{"cmd":"scale","workers":"3"}')).toMatch(/from 1 to 1024/);
    expect(parseControlRequest('{"cmd":"rm"}')).toMatch(/unknown command "rm"/);
    expect(parseControlRequest('nope')).toBe('not a JSON object');
    expect(parseControlRequest('null')).toBe('not a JSON object');
  });
});

describe('keepStartOnlySettings', () => {
  it('keeps the running admin endpoints on HUP and says so', async () => {
    const { keepStartOnlySettings } = await import('../../src/config/start-only.js');
    const { defaults } = await import('../../src/config/settings.js');
    const running = { ...defaults({}), metricsBind: '127.0.0.1:9100' };
    const next = { ...defaults({}), metricsBind: '127.0.0.1:9200', controlSocket: false as const, workers: 4 };
    const warnings: string[] = [];
    const log = { warning: (m: string) => warnings.push(m) } as unknown as Parameters<typeof keepStartOnlySettings>[2];
    keepStartOnlySettings(running, next, log);
    expect(next.metricsBind).toBe('127.0.0.1:9100');
    expect(next.controlSocket).toBeNull();
    expect(next.workers).toBe(4);
    expect(warnings).toEqual([
      'Reload: --metrics-bind changed to 127.0.0.1:9200; it is read only at start (restart or USR2 to apply)',
      'Reload: --control-socket changed to off; it is read only at start (restart or USR2 to apply)',
    ]);
  });
});
