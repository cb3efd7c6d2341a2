import { describe, expect, it } from 'vitest';
import { connectionsToShed, slack } from '../../src/arbiter/decisions/balance.js';

describe('keep-alive balance', () => {
  it('sheds only what is over the fair share and its slack', () => {
    // 50 connections on 2 workers: share 25, slack 4.
    expect(slack(25)).toBe(4);
    expect(connectionsToShed(39, [39, 11])).toBe(10);
    expect(connectionsToShed(11, [39, 11])).toBe(0);
    // Even spread with a canary at 0: within the slack, unless exact (a canary on trial).
    expect(connectionsToShed(7, [7, 7, 6, 0])).toBe(0);
    expect(connectionsToShed(7, [7, 7, 6, 0], true)).toBe(2);
    expect(connectionsToShed(29, [29, 21])).toBe(0);
  });

  it('a worker just added by TTIN makes the others shed', () => {
    expect(connectionsToShed(24, [24, 0])).toBe(24 - 12 - 2);
    expect(connectionsToShed(16, [16, 16, 0])).toBe(16 - 11 - 2);
  });

  it('does nothing with one ready worker or few connections', () => {
    expect(connectionsToShed(40, [40])).toBe(0);
    expect(connectionsToShed(3, [3, 0])).toBe(0);
    expect(connectionsToShed(0, [0, 0])).toBe(0);
  });
});
