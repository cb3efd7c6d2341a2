import { describe, expect, it } from 'vitest';
import { type AccessRecord, compileAccessFormat } from '../../src/log/access-log.js';
import { absoluteFormUrl } from '../../src/worker/app/fetch-adapter.js';

describe('access log %(U)s and %(q)s of a request target', () => {
  const format = compileAccessFormat('%(U)s|%(q)s');
  const record = (url: string) =>
    ({ url, requestHeaders: {}, responseHeader: () => undefined }) as unknown as AccessRecord;
  it.each([
    ['/p/a?q=1&r=2', '/p/a|q=1&r=2'],
    ['/', '/|'],
    ['/p?', '/p|'],
    ['http://other.example/p?q=1', '/p|q=1'],
    ['HTTPS://Other.Example:8443/a/b', '/a/b|'],
    ['http://other.example', '/|'],
    ['http://other.example?x=1', '/|x=1'],
    ['*', '*|'],
  ])('%s → %s', (url, logged) => {
    expect(format(record(url))).toBe(logged);
  });
});

describe('the fetch Request URL of an absolute-form target', () => {
  it.each([
    ['http', 'http://other.example/p?q=1', 'http://other.example/p?q=1'],
    ['http', 'http://other.example:8081/p', 'http://other.example:8081/p'],
    ['http', 'http://other.example:80/p', 'http://other.example/p'],
    ['http', 'HTTP://Other.Example/P', 'http://other.example/P'],
    ['http', 'http://other.example', 'http://other.example/'],
    // The scheme is the connection's (TLS, or a trusted proxy's header), never the client's claim.
    ['http', 'https://other.example/s', 'http://other.example/s'],
    ['https', 'http://other.example/s', 'https://other.example/s'],
    ['http', 'http://user:pw@other.example/', null],
    ['http', 'http://user@other.example/', null],
    ['http', 'http:///nohost', null],
    ['http', 'http://other.example\\@evil.example/', null],
    ['http', 'ftp://other.example/', null],
    ['http', '*', null],
    ['http', 'other.example:443', null],
  ])('%s connection, %s → %s', (scheme, target, url) => {
    expect(absoluteFormUrl(scheme, target)).toBe(url);
  });
});
