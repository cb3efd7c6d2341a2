import { describe, expect, it } from 'vitest';
import { FD_HEADROOM, connectionCap, parseOpenFilesLimit } from '../../src/worker/http/fd-limit.js';

const limits = (soft: string, hard: string) =>
  'Limit                     Soft Limit           Hard Limit           Units     \n' +
  'Max processes             63382                63382                processes \n' +
  `Max open files            ${soft.padEnd(21)}${hard.padEnd(21)}files     \n` +
  'Max locked memory         8388608              8388608              bytes     \n';

describe('parseOpenFilesLimit', () => {
  it.each([
    ['80', '1048576', 80],
    ['1024', '4096', 1024],
    ['unlimited', 'unlimited', null],
  ])('soft %s, hard %s -> %s', (soft, hard, want) => {
    expect(parseOpenFilesLimit(limits(soft, hard))).toBe(want);
  });

  it('text without the line -> null', () => {
    expect(parseOpenFilesLimit('Limit Soft Limit\nMax processes 10 10 processes\n')).toBeNull();
  });
});

describe('connectionCap', () => {
  it.each([
    // workerConnections, limit, in use, cap
    [1000, null, 30, 1000],
    [1000, 1_048_576, 30, 1000],
    [1000, 1024, 30, 1024 - 30 - FD_HEADROOM],
    [1000, 80, 24, 80 - 24 - FD_HEADROOM],
    [10, 80, 24, 10],
    [1000, 30, 24, 1],
  ] as const)('%s connections, limit %s, %s in use -> %s', (wc, limit, inUse, want) => {
    expect(connectionCap(wc, limit, inUse)).toBe(want);
  });
});
