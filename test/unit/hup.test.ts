import { describe, expect, it } from 'vitest';
import type { ControlRequest } from '../../src/arbiter/control/protocol.js';
import type { ArbiterEvent } from '../../src/arbiter/event-queue.js';
import { waitsForReload } from '../../src/arbiter/hup.js';

const control = (request: ControlRequest): ArbiterEvent => ({ kind: 'control', request, reply: () => {} });

describe('waitsForReload: what the loop holds while a HUP re-reads the config', () => {
  it.each<[string, boolean, ArbiterEvent]>([
    ['HUP', true, { kind: 'signal', signal: 'SIGHUP' }],
    ['TTIN', true, { kind: 'signal', signal: 'SIGTTIN' }],
    ['TERM', false, { kind: 'signal', signal: 'SIGTERM' }],
    ['INT', false, { kind: 'signal', signal: 'SIGINT' }],
    ['QUIT', false, { kind: 'signal', signal: 'SIGQUIT' }],
    ['USR1', true, { kind: 'signal', signal: 'SIGUSR1' }],
    ['a --reload change', true, { kind: 'files-changed', file: '/app/app.mjs' }],
    ['ctl reload', true, control({ cmd: 'reload' })],
    ['ctl scale', true, control({ cmd: 'scale', workers: 3 })],
    ['ctl stop', false, control({ cmd: 'stop', graceful: true })],
    ['ctl kill', true, control({ cmd: 'kill', pid: 1234 })],
    ['ctl status', false, control({ cmd: 'status' })],
    ['ctl config', false, control({ cmd: 'config' })],
    ['ctl listeners', false, control({ cmd: 'listeners' })],
    ['ctl stack', false, control({ cmd: 'stack' })],
    ['a worker message', false, { kind: 'message', workerId: 1, msg: { t: 'ready' } }],
    ['a worker exit', false, { kind: 'exit', workerId: 1, code: 0, signal: null }],
    ['a stack read', false, { kind: 'stack', workerId: 1, stack: null, reason: 'gone' }],
    ['the successor exited', false, { kind: 'successor-exit', pid: 99, code: 0, signal: null }],
    ['the reload itself', false, { kind: 'reloaded', next: null }],
  ])('%s: held %s', (_what, held, event) => {
    expect(waitsForReload(event)).toBe(held);
  });
});
