/** The lazily built Request handed to fetch handlers behaves as a Request. */
import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { lazyRequest } from '../../src/worker/app/lazy-request.js';

function fakeReq(method: string, body?: string): IncomingMessage {
  const stream = new PassThrough();
  if (body !== undefined) stream.end(body);
  return Object.assign(stream, {
    method,
    url: '/p?q=1',
    rawHeaders: ['Host', 'x.test', 'X-A', '1'],
    headers: { host: 'x.test', 'x-a': '1' },
  }) as unknown as IncomingMessage;
}

const build = (req: IncomingMessage, url: string, headers: Headers, signal: AbortSignal) =>
  new Request(url, {
    method: req.method,
    headers,
    signal,
    ...(req.method === 'POST' ? { body: 'hello body', duplex: 'half' } : {}),
  } as RequestInit);

describe('lazyRequest', () => {
  it('is a Request; method, url and headers do not build the real one', () => {
    let built = 0;
    const h = lazyRequest(fakeReq('GET'), 'http://x.test/p?q=1', (...a) => {
      built++;
      return build(...a);
    });
    expect(h.request).toBeInstanceOf(Request);
    expect(h.request.method).toBe('GET');
    expect(new URL(h.request.url).searchParams.get('q')).toBe('1');
    expect(h.request.headers.get('x-a')).toBe('1');
    expect(built).toBe(0);
    expect(h.request.cache).toBe('default');
    expect(built).toBe(1);
  });

  it('body methods build it once and read the body', async () => {
    let built = 0;
    const h = lazyRequest(fakeReq('POST', 'hello body'), 'http://x.test/', (...a) => {
      built++;
      return build(...a);
    });
    expect(await h.request.text()).toBe('hello body');
    expect(h.request.bodyUsed).toBe(true);
    expect(built).toBe(1);
  });

  it('abort() aborts the signal, whether it was built before or after', () => {
    const before = lazyRequest(fakeReq('GET'), 'http://x.test/', build);
    const signal = before.request.signal;
    expect(signal.aborted).toBe(false);
    before.abort();
    expect(signal.aborted).toBe(true);
    const after = lazyRequest(fakeReq('GET'), 'http://x.test/', build);
    after.abort();
    expect(after.request.signal.aborted).toBe(true);
  });
});
