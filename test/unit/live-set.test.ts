import { describe, expect, it } from 'vitest';
import { LiveSet } from '../../src/worker/http/live-set.js';

const members = <T extends object>(s: LiveSet<T>) => [...s];

describe('LiveSet', () => {
  it('adds, deletes and counts like a Set', () => {
    const s = new LiveSet<{ n: number }>();
    const a = { n: 1 };
    const b = { n: 2 };
    s.add(a);
    s.add(b);
    s.add(a);
    expect(s.size).toBe(2);
    expect(members(s)).toEqual([a, b]);
    expect(s.delete(a)).toBe(true);
    expect(s.delete(a)).toBe(false);
    expect(s.delete({ n: 3 })).toBe(false);
    expect(s.size).toBe(1);
    expect(members(s)).toEqual([b]);
  });

  it('reuses freed slots, so its array stays at the peak population', () => {
    const s = new LiveSet<object>();
    const live: object[] = [];
    for (let i = 0; i < 10_000; i++) {
      const o = {};
      s.add(o);
      live.push(o);
      if (live.length > 50) s.delete(live.shift() as object);
    }
    expect(s.size).toBe(50);
    expect(new Set(members(s))).toEqual(new Set(live));
    expect((s as unknown as { slots: unknown[] }).slots.length).toBe(51);
  });

  it('an object belongs to one set at a time', () => {
    const x = new LiveSet<object>();
    const y = new LiveSet<object>();
    const o = {};
    x.add(o);
    expect(() => y.add(o)).toThrow(/another LiveSet/);
    expect(y.delete(o)).toBe(false);
    expect(x.size).toBe(1);
    x.delete(o);
    y.add(o);
    expect(members(y)).toEqual([o]);
  });

  it('iterates over a snapshot: deleting or adding while iterating is safe', () => {
    const s = new LiveSet<{ n: number }>();
    const objs = [1, 2, 3, 4].map((n) => ({ n }));
    for (const o of objs) s.add(o);
    const seen: number[] = [];
    for (const o of s) {
      seen.push(o.n);
      s.delete(o);
      if (o.n === 1) s.add({ n: 5 });
    }
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(members(s).map((o) => o.n)).toEqual([5]);
  });
});
