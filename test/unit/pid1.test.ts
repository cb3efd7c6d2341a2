import { describe, expect, it } from 'vitest';
import { RELAY_ENV, chooseInit, pid1Note, removeRelayMarker } from '../../src/arbiter/platform/pid1.js';

const finder = (found: Record<string, string>) => (name: string) => found[name] ?? null;

describe('chooseInit: what the launcher does as PID 1', () => {
  it('runs under tini when it is on $PATH (the default, also TSUNICORN_INIT=auto)', () => {
    expect(chooseInit({}, finder({ tini: '/usr/bin/tini' }))).toEqual({ kind: 'init', path: '/usr/bin/tini' });
    expect(chooseInit({ TSUNICORN_INIT: 'auto' }, finder({ tini: '/usr/bin/tini' }))).toEqual({
      kind: 'init',
      path: '/usr/bin/tini',
    });
  });

  it('stays in process without tini, saying why', () => {
    expect(chooseInit({}, finder({}))).toEqual({ kind: 'in-process', reason: 'tini is not installed' });
  });

  it.each(['none', 'off', 'NO', '0', 'false'])('TSUNICORN_INIT=%s keeps tsunicorn as PID 1', (v) => {
    expect(chooseInit({ TSUNICORN_INIT: v }, finder({ tini: '/usr/bin/tini' }))).toEqual({
      kind: 'in-process',
      reason: `TSUNICORN_INIT=${v}`,
    });
  });

  it('TSUNICORN_INIT=PATH picks the init', () => {
    expect(chooseInit({ TSUNICORN_INIT: '/opt/tini' }, finder({ '/opt/tini': '/opt/tini' }))).toEqual({
      kind: 'init',
      path: '/opt/tini',
    });
    expect(chooseInit({ TSUNICORN_INIT: '/opt/tini' }, finder({}))).toEqual({
      kind: 'in-process',
      reason: 'TSUNICORN_INIT=/opt/tini is not an executable',
    });
  });
});

describe('pid1Note: the arbiter’s startup line', () => {
  it('under the relay: says so; removeRelayMarker removes the marker so workers do not inherit it', () => {
    const env: NodeJS.ProcessEnv = { [RELAY_ENV]: '/usr/bin/tini' };
    expect(pid1Note(env, 3)).toEqual({
      level: 'info',
      text: 'Started as PID 1: running under /usr/bin/tini, which reaps orphaned processes',
    });
    removeRelayMarker(env);
    expect(env).toEqual({});
  });

  it('as PID 1 itself: a warning naming the reason', () => {
    expect(pid1Note({ TSUNICORN_INIT: 'none' }, 1)).toMatchObject({
      level: 'warning',
      text: expect.stringMatching(/^Running as PID 1 without an init \(TSUNICORN_INIT=none\)/),
    });
  });

  it('otherwise nothing', () => {
    expect(pid1Note({}, 1234)).toBeNull();
  });
});
