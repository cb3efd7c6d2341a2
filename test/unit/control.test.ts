/** The control socket's default path and request parsing. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseControlRequest } from '../../src/arbiter/control/protocol.js';
import {
  type FileFacts,
  controlSocketDir,
  controlSocketPath,
  privateDirProblem,
  untrustedSocketProblem,
} from '../../src/config/control-path.js';
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

  it('falls back to a per-user directory in the temp directory; an explicit path is resolved; false disables', () => {
    expect(path.dirname(controlSocketPath(base, '/srv/app', {})!)).toMatch(/^\/.*\/tsunicorn-\d+$/);
    expect(controlSocketDir({ TMPDIR: '/var/tmp/' }, 1000)).toBe('/var/tmp/tsunicorn-1000');
    expect(controlSocketDir({ TMPDIR: '/var/tmp', XDG_RUNTIME_DIR: '/run/user/1000' }, 1000)).toBe('/run/user/1000');
    // Relative or empty: ignored, as the XDG spec says.
    expect(controlSocketDir({ TMPDIR: '/t', XDG_RUNTIME_DIR: 'run' }, 0)).toBe('/t/tsunicorn-0');
    expect(controlSocketDir({ TMPDIR: '/t', XDG_RUNTIME_DIR: '' }, 0)).toBe('/t/tsunicorn-0');
    expect(controlSocketPath({ ...base, controlSocket: 'run/ctl.sock' }, '/srv/app', {})).toBe('/srv/app/run/ctl.sock');
    expect(controlSocketPath({ ...base, controlSocket: false }, '/srv/app', {})).toBeNull();
  });

  it('--control-socket PATH and --no-control-socket on the command line', async () => {
    const cwd = process.cwd();
    expect(
      (await resolveConfig({ argv: ['--control-socket', '/tmp/x.sock'], env: {}, cwd })).settings.controlSocket,
    ).toBe('/tmp/x.sock');
    expect((await resolveConfig({ argv: ['--no-control-socket'], env: {}, cwd })).settings.controlSocket).toBe(false);
    expect((await resolveConfig({ argv: [], env: {}, cwd })).settings.controlSocket).toBeNull();
  });
});

const dir = (uid: number, mode: number): FileFacts => ({ kind: 'directory', uid, mode });
const sock = (uid: number): FileFacts => ({ kind: 'socket', uid, mode: 0o600 });

describe('privateDirProblem: where the arbiter may put its control socket', () => {
  it.each<[string, FileFacts, string | null]>([
    ['ours, 0700', dir(1000, 0o700), null],
    ['ours, 0500', dir(1000, 0o500), null],
    ['ours, 0750', dir(1000, 0o750), '/t/d has mode 0750; it must be 0700'],
    ['ours, 1777', dir(1000, 0o1777), '/t/d has mode 1777; it must be 0700'],
    ['another user’s, 0700', dir(65534, 0o700), '/t/d is owned by uid 65534, not by this user (uid 1000)'],
    ['root’s, when we are not root', dir(0, 0o700), '/t/d is owned by uid 0, not by this user (uid 1000)'],
    ['a symlink', { kind: 'symlink', uid: 1000, mode: 0o777 }, '/t/d is a symbolic link'],
    ['a file', { kind: 'other', uid: 1000, mode: 0o600 }, '/t/d is not a directory'],
  ])('%s', (_what, st, problem) => {
    expect(privateDirProblem('/t/d', st, 1000)).toBe(problem);
  });
});

describe('untrustedSocketProblem: which sockets tsunicorn ctl talks to', () => {
  it.each<[string, FileFacts, FileFacts, number, string | null]>([
    ['ours in our 0700 directory', dir(1000, 0o700), sock(1000), 1000, null],
    ['root’s (a root arbiter), as a user', dir(0, 0o755), sock(0), 1000, null],
    ['ours in sticky /tmp', dir(0, 0o1777), sock(1000), 1000, null],
    [
      'as root, another user’s socket',
      dir(0, 0o1777),
      sock(65534),
      0,
      '/t/s.sock is owned by uid 65534, not by this user (uid 0) or root',
    ],
    [
      'in another user’s directory',
      dir(65534, 0o700),
      sock(1000),
      1000,
      'its directory /t is owned by uid 65534, not by this user (uid 1000) or root',
    ],
    [
      'in a world-writable directory without the sticky bit',
      dir(0, 0o777),
      sock(0),
      0,
      'its directory /t is writable by others',
    ],
    ['in a group-writable directory', dir(1000, 0o770), sock(1000), 1000, 'its directory /t is writable by others'],
    ['not a socket', dir(1000, 0o700), { kind: 'other', uid: 1000, mode: 0o600 }, 1000, '/t/s.sock is not a socket'],
  ])('%s', (_what, d, s, uid, problem) => {
    expect(untrustedSocketProblem('/t/s.sock', d, s, uid)).toBe(problem);
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

  it('keeps every setting marked startOnly in the table, and only those', async () => {
    const { keepStartOnlySettings } = await import('../../src/config/start-only.js');
    const { defaults } = await import('../../src/config/settings.js');
    const running = defaults({});
    const next = {
      ...defaults({}),
      statsdHost: '127.0.0.1:9',
      statsdPrefix: 'p',
      metricsBind: '127.0.0.1:9200',
      controlSocket: false as const,
      workers: 4,
    };
    const warnings: string[] = [];
    const log = { warning: (m: string) => warnings.push(m) } as unknown as Parameters<typeof keepStartOnlySettings>[2];
    keepStartOnlySettings(running, next, log);
    expect(next).toEqual({ ...running, workers: 4 });
    expect(warnings.map((w) => w.split(' ')[1])).toEqual([
      '--statsd-host',
      '--statsd-prefix',
      '--metrics-bind',
      '--control-socket',
    ]);
  });
});
