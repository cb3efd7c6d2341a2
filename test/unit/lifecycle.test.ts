import { describe, expect, it } from 'vitest';
import { Lifecycle } from '../../src/lifecycle.js';

/** A resource whose ends complete when the test says so, counting how often each was begun. */
function resource() {
  const calls = { close: 0, destroy: 0 };
  const pending: { close?: () => void; destroy?: () => void } = {};
  const life = new Lifecycle({
    close: (done) => {
      calls.close++;
      pending.close = done;
    },
    destroy: (done) => {
      calls.destroy++;
      pending.destroy = done;
    },
  });
  return { life, calls, pending };
}

const settled = async (p: Promise<void>) => {
  let done = false;
  void p.then(() => {
    done = true;
  });
  await new Promise((r) => setImmediate(r));
  return done;
};

describe('Lifecycle', () => {
  it('runs close once however often it is called, and settles every caller when it completes', async () => {
    const { life, calls, pending } = resource();
    const a = life.close();
    const b = life.close();
    expect(calls).toEqual({ close: 1, destroy: 0 });
    expect(life.closed).toBe(true);
    expect(await settled(a)).toBe(false);
    pending.close!();
    expect(await settled(a)).toBe(true);
    expect(await settled(b)).toBe(true);
    expect(await settled(life.close())).toBe(true);
    expect(calls.close).toBe(1);
  });

  it('lets destroy overtake a close under way and settles both', async () => {
    const { life, calls, pending } = resource();
    const c = life.close();
    const d = life.destroy();
    expect(calls).toEqual({ close: 1, destroy: 1 });
    expect(life.destroyed).toBe(true);
    pending.destroy!();
    expect(await settled(d)).toBe(true);
    expect(await settled(c)).toBe(true);
    pending.close!();
    expect(await settled(life.close())).toBe(true);
  });

  it('never closes after a destroy, and a second destroy waits for the first', async () => {
    const { life, calls, pending } = resource();
    const d1 = life.destroy();
    const c = life.close();
    const d2 = life.destroy();
    expect(calls).toEqual({ close: 0, destroy: 1 });
    expect(await settled(c)).toBe(false);
    pending.destroy!();
    for (const p of [d1, c, d2]) expect(await settled(p)).toBe(true);
    expect(life.closed).toBe(true);
  });
});
