import { describe, expect, it } from 'vitest';
import { awaitUserCode, callUserCode } from '../../src/user-code.js';

describe('calling user code', () => {
  it('callUserCode passes the arguments and sends a throw to onError with them', () => {
    const errors: unknown[][] = [];
    let seen: unknown[] = [];
    callUserCode(
      (a: number, b: string) => (seen = [a, b]),
      (...e) => errors.push(e),
      1,
      'x',
    );
    expect(seen).toEqual([1, 'x']);
    expect(errors).toEqual([]);
    const boom = new Error('boom');
    callUserCode(
      (_a: number) => {
        throw boom;
      },
      (...e) => errors.push(e),
      7,
    );
    expect(errors).toEqual([[boom, 7]]);
  });

  it('callUserCode sends a rejection to onError and does not wait for it', async () => {
    let settled = false;
    let returned = false;
    const reported = new Promise<unknown>((resolve) => {
      callUserCode(
        async () => {
          await new Promise((r) => setImmediate(r));
          settled = true;
          throw new Error('later');
        },
        (err) => resolve(err),
      );
      returned = true;
    });
    expect(returned).toBe(true);
    expect(settled).toBe(false);
    expect(((await reported) as Error).message).toBe('later');
  });

  it('awaitUserCode resolves once the call settled, and never rejects', async () => {
    const errors: unknown[] = [];
    let done = false;
    await awaitUserCode(
      async (n: number) => {
        await new Promise((r) => setImmediate(r));
        done = n === 3;
      },
      (err) => errors.push(err),
      3,
    );
    expect(done).toBe(true);
    await expect(
      awaitUserCode(
        () => Promise.reject(new Error('no')),
        (e) => errors.push(e),
      ),
    ).resolves.toBe(undefined);
    await expect(
      awaitUserCode(
        () => {
          throw new Error('sync');
        },
        (e) => errors.push(e),
      ),
    ).resolves.toBe(undefined);
    expect(errors.map((e) => (e as Error).message)).toEqual(['no', 'sync']);
  });
});
