/**
 * Where the app's `upgrade` and `shutdown` are found (src/worker/app/app-extras.ts): a property of the
 * loaded app value first, then an export of the app module, never the EXPORT itself.
 */
import { describe, expect, it } from 'vitest';
import { findAppExtras } from '../../src/worker/app/app-extras.js';

const noop = () => {};

describe('findAppExtras', () => {
  it('takes properties of the app value, bound to it', () => {
    const app = {
      name: 'obj',
      fetch: noop,
      upgrade(this: { name: string }) {
        return this.name;
      },
      shutdown(this: { name: string }) {
        return `${this.name} stopping`;
      },
    };
    const extras = findAppExtras(app, app, { default: app });
    expect((extras.upgrade as unknown as () => string)()).toBe('obj');
    expect((extras.shutdown as () => string)()).toBe('obj stopping');
  });

  it('falls back to module exports; a property wins over an export', () => {
    const listener = Object.assign(() => {}, { shutdown: () => 'own' });
    const upgrade = () => 'exported';
    const extras = findAppExtras(listener, listener, { default: listener, upgrade, shutdown: () => 'exported' });
    expect(extras.upgrade).toBe(upgrade);
    expect((extras.shutdown as () => string)()).toBe('own');
  });

  it('finds CJS named exports on module.exports', () => {
    const upgrade = () => {};
    const cjs = { app: noop, upgrade };
    expect(findAppExtras(noop, noop, { default: cjs }).upgrade).toBe(upgrade);
  });

  it('does not take the EXPORT itself, nor non-functions; none is fine', () => {
    const upgrade = () => {};
    expect(findAppExtras(upgrade, upgrade, { upgrade }).upgrade).toBeUndefined();
    expect(findAppExtras(noop, noop, { upgrade: 'not a function', shutdown: 42 })).toEqual({});
    expect(findAppExtras(noop, noop, {})).toEqual({});
  });

  it('a factory: the returned value and the module are searched, the factory is not', () => {
    const upgrade = () => {};
    const created = { fetch: noop };
    const factory = () => created;
    expect(findAppExtras(created, factory, { create: factory, upgrade }).upgrade).toBe(upgrade);
  });
});
