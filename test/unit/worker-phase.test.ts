import { describe, expect, it } from 'vitest';
import { type Phase, canEnter, stopTarget } from '../../src/worker/process/phase.js';

const PHASES: Phase[] = ['hello', 'booting', 'serving', 'draining', 'exiting'];

describe('worker phases', () => {
  it('move forward only, and every phase can exit', () => {
    const allowed = PHASES.flatMap((from) => PHASES.filter((to) => canEnter(from, to)).map((to) => `${from}>${to}`));
    expect(allowed).toEqual([
      'hello>booting',
      'hello>exiting',
      'booting>serving',
      'booting>draining',
      'booting>exiting',
      'serving>draining',
      'serving>exiting',
      'draining>exiting',
      'exiting>exiting',
    ]);
  });

  it.each([
    // phase, graceful, has a server → where the stop leads (null: ignored)
    ['hello', true, false, 'exiting'],
    ['hello', false, false, 'exiting'],
    ['booting', true, false, 'exiting'],
    ['booting', true, true, 'draining'],
    ['booting', false, true, 'exiting'],
    ['serving', true, true, 'draining'],
    ['serving', false, true, 'exiting'],
    ['draining', true, true, null],
    ['draining', false, true, 'exiting'],
    ['exiting', true, true, null],
    ['exiting', false, true, 'exiting'],
  ] as const)('a stop in %s (graceful %s, server %s) leads to %s', (phase, graceful, server, target) => {
    expect(stopTarget(phase, graceful, server)).toBe(target);
    if (target !== null) expect(canEnter(phase, target)).toBe(true);
  });
});
