import { describe, expect, it } from 'vitest';
import { busyTitle, targetPath } from '../../src/worker/process/process-title.js';

describe('targetPath: what a busy worker shows of the request target', () => {
  it.each([
    ['/', '/'],
    ['/wait', '/wait'],
    ['/wait?token=secret', '/wait'],
    ['/wait#frag', '/wait'],
    ['/a;b=c?d', '/a;b=c'],
    ['/?', '/'],
    ['http://alice:secret@example.com:8080/p/q?token=secret', '/p/q'],
    ['https://example.com', '/'],
    ['*', '*'],
    ['example.com:443', '-'],
    ['ftp://user:pw@host/x', '-'],
    ['', '-'],
  ])('%j -> %j', (target, shown) => {
    expect(targetPath(target)).toBe(shown);
  });
});

describe('busyTitle', () => {
  it('appends the method and path to the idle title', () => {
    expect(busyTitle('tsunicorn: worker [app]', 'POST', '/x?y=1')).toBe('tsunicorn: worker [app] POST /x');
    expect(busyTitle('tsunicorn: worker [app]', undefined, undefined)).toBe('tsunicorn: worker [app] GET /');
  });
});
