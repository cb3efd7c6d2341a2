import { describe, expect, it } from 'vitest';
import { isIgnoredChange } from '../../src/arbiter/file-watcher.js';

describe('isIgnoredChange: what --reload does not reload for', () => {
  const outputs = ['/srv/app/access.log', '/srv/app/error.log', '/srv/app/app.pid', '/srv/app/app.sock'];
  it.each([
    ['/srv/app/app.mjs', false],
    ['/srv/app/src/routes.ts', false],
    ['/srv/app/.env', false],
    ['/srv/app/access.log.html', true],
    ['/srv/app/access.log', true],
    ['/srv/app/access.log.1', true],
    ['/srv/app/error.log', true],
    ['/srv/app/app.pid', true],
    ['/srv/app/app.pid.4242.a1b2c3d4e5f6.tmp', true],
    ['/srv/app/app.sock', true],
    ['/srv/app/app.sock.2', true],
    ['/srv/app/app.pidfile', false],
    ['/srv/app/node_modules', true],
    ['/srv/app/node_modules/dep/index.js', true],
    ['/srv/app/lib/node_modules/x.js', true],
    ['/srv/app/.git', true],
    ['/srv/app/.git/index', true],
    ['/srv/app/.cache/x', true],
    ['/srv/app', false],
  ])('%s -> %s', (file, ignored) => {
    expect(isIgnoredChange(file, '/srv/app', outputs)).toBe(ignored);
  });

  it('dot-directories above the watched root do not hide it', () => {
    expect(isIgnoredChange('/home/u/.projects/app/app.mjs', '/home/u/.projects/app', [])).toBe(false);
  });
});
