/** `ctl stack`, `kill`, `config`, `listeners`: request parsing, the stack decisions, and what ctl prints. */
import { describe, expect, it } from 'vitest';
import { listenerStatus } from '../../src/arbiter/control/commands.js';
import { parseControlRequest } from '../../src/arbiter/control/protocol.js';
import { loopState, stackTargets } from '../../src/arbiter/control/stack.js';
import type { Listener } from '../../src/arbiter/sockets/listeners.js';
import { type WorkerRecord, WorkerState } from '../../src/arbiter/pool/worker-record.js';
import type { Settings } from '../../src/config/settings.js';
import { formatListeners, formatStacks } from '../../src/ctl/render.js';

describe('parseControlRequest: the ctl commands of issue 19', () => {
  it.each([
    ['{"cmd":"stack"}', { cmd: 'stack' }],
    ['{"cmd":"stack","pid":1234}', { cmd: 'stack', pid: 1234 }],
    ['{"cmd":"kill","pid":1234}', { cmd: 'kill', pid: 1234 }],
    ['{"cmd":"config"}', { cmd: 'config' }],
    ['{"cmd":"listeners"}', { cmd: 'listeners' }],
  ])('%s', (line, want) => {
    expect(parseControlRequest(line)).toEqual(want);
  });

  it.each([
    ['{"cmd":"kill"}', /kill needs a worker pid/],
    ['{"cmd":"kill","pid":1}', /kill needs a worker pid/],
    ['{"cmd":"kill","pid":0}', /kill needs a worker pid/],
    ['{"cmd":"kill","pid":-5}', /kill needs a worker pid/],
    ['{"cmd":"kill","pid":"12"}', /kill needs a worker pid/],
    ['{"cmd":"stack","pid":2.5}', /stack takes a worker pid/],
  ])('refuses %s', (line, want) => {
    expect(parseControlRequest(line)).toMatch(want);
  });
});

const settings = (stackCapture: boolean) => ({ stackCapture }) as Settings;
const rec = (pid: number, over: Partial<WorkerRecord> = {}) =>
  ({
    pid,
    state: WorkerState.Ready,
    hello: true,
    timedOut: false,
    forkedAt: pid,
    listeners: [],
    ...over,
  }) as WorkerRecord;

describe('stackTargets', () => {
  const workers = [
    rec(30),
    rec(10),
    rec(20, { hello: false, state: WorkerState.Booting }),
    rec(40, { timedOut: true }),
  ];
  it('with no pid: every worker past hello and not being aborted, oldest first', () => {
    expect((stackTargets(workers, undefined, settings(true)) as WorkerRecord[]).map((w) => w.pid)).toEqual([10, 30]);
  });
  it.each([
    [30, true, null],
    [99, true, /pid 99 is not one of this arbiter's workers/],
    [20, true, /still starting/],
    [40, true, /passed --timeout/],
    [30, false, /stack capture is off \(--no-stack-capture\)/],
  ] as const)('pid %s, stack capture %s', (pid, capture, want) => {
    const got = stackTargets(workers, pid, settings(capture));
    if (want === null) expect((got as WorkerRecord[]).map((w) => w.pid)).toEqual([pid]);
    else expect(got).toMatch(want);
  });
  it('no workers at all', () => {
    expect(stackTargets([], undefined, settings(true))).toBe('no worker is running');
  });
});

describe('loopState', () => {
  it.each([
    [0, 1000, 'idle'],
    [2000, 1000, 'idle'],
    [2001, 1000, 'blocked'],
    [300, 100, 'blocked'],
  ] as const)('beat %s ms ago, beats every %s ms: %s', (age, beat, want) => {
    expect(loopState(age, beat)).toBe(want);
  });
});

describe('formatStacks', () => {
  it('a title per worker saying what the loop was doing, then its frames or why there are none', () => {
    const text = formatStacks([
      { pid: 7, generation: 2, loop: 'blocked', beatAgeMs: 4200, stack: '    at spin (file:///app.mjs:3:1)' },
      {
        pid: 8,
        generation: 2,
        loop: 'idle',
        beatAgeMs: 100,
        stack: '    at processTimers (node:internal/timers:505:5)',
      },
      { pid: 9, generation: 2, loop: 'idle', beatAgeMs: 100, error: 'pid 9 is not running' },
    ]);
    expect(text.split('\n')).toEqual([
      'worker 7 (generation 2), event loop blocked (no heartbeat for 4.2 s): the JavaScript it is running:',
      '    at spin (file:///app.mjs:3:1)',
      '',
      'worker 8 (generation 2), event loop idle: the next JavaScript it ran:',
      '    at processTimers (node:internal/timers:505:5)',
      '',
      'worker 9 (generation 2): stack not read: pid 9 is not running',
    ]);
  });
});

describe('listeners', () => {
  const handleA = { fd: 11 };
  const handleB = { fd: 12 };
  const a = { info: { display: 'http://127.0.0.1:8000', address: { kind: 'tcp' } }, handle: handleA, inherited: false };
  const b = { info: { display: 'unix:/run/app.sock', address: { kind: 'unix' } }, handle: handleB, inherited: true };
  it('each listener with the live workers booted with it (a copy of the record, as after a HUP, counts)', () => {
    const workers = [
      rec(1, { listeners: [a, b] as unknown as Listener[] }),
      rec(2, { listeners: [{ ...a }] as unknown as Listener[] }),
      rec(3, { listeners: [a] as unknown as Listener[], state: WorkerState.Retiring }),
    ];
    const status = listenerStatus([a, b] as unknown as Listener[], workers);
    expect(status).toEqual([
      { address: 'http://127.0.0.1:8000', fd: 11, kind: 'tcp', inherited: false, workers: [1, 2] },
      { address: 'unix:/run/app.sock', fd: 12, kind: 'unix', inherited: true, workers: [1] },
    ]);
    expect(formatListeners(status).split('\n')).toEqual([
      'ADDRESS                         FD  KIND  WORKERS',
      'http://127.0.0.1:8000           11  tcp   1 2',
      'unix:/run/app.sock (inherited)  12  unix  1',
    ]);
  });
});
