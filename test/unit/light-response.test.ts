/** The lightweight global Response (fetchFastResponse) behaves as a Response. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeResponseClass } from '../../src/node-compat.js';
import {
  LightResponseClass as LightResponse,
  lightResponseParts,
  realResponse,
  replaceGlobalResponse,
} from '../../src/worker/app/light-response.js';

const NodeResponse = nodeResponseClass();
/** Before any light Response exists (an app's import may feature-detect this early). */
const BODY_METHODS = ['arrayBuffer', 'blob', 'formData', 'json', 'text'] as const;
const earlyMembers = BODY_METHODS.filter((name) => typeof LightResponse.prototype[name] === 'function');

describe('LightResponse', () => {
  it('is an instance of Response, and Node’s Responses are instances of it', () => {
    const r = new LightResponse('hi');
    expect(r).toBeInstanceOf(LightResponse);
    expect(r).toBeInstanceOf(NodeResponse);
    expect(new NodeResponse('x')).toBeInstanceOf(LightResponse);
    expect({}).not.toBeInstanceOf(LightResponse);
    expect(null).not.toBeInstanceOf(LightResponse);
    expect(Object.prototype.toString.call(r)).toBe('[object Response]');
    expect(LightResponse.name).toBe('Response');
  });

  it('the prototype has Response’s members, and they check what they are called on', async () => {
    expect(earlyMembers).toEqual(BODY_METHODS);
    for (const name of Object.getOwnPropertyNames(NodeResponse.prototype))
      expect(name in LightResponse.prototype, name).toBe(true);
    expect(Object.getPrototypeOf(LightResponse.prototype)).toBe(NodeResponse.prototype);
    await expect(LightResponse.prototype.text.call(new NodeResponse('node’s own'))).resolves.toBe('node’s own');
    await expect(LightResponse.prototype.text.call({} as Response)).rejects.toThrow(TypeError);
  });

  it('a subclass keeps the ordinary instanceof', () => {
    class Mine extends LightResponse {}
    const m = new Mine('x');
    expect(m).toBeInstanceOf(Mine);
    expect(m).toBeInstanceOf(LightResponse);
    expect(new LightResponse('x')).not.toBeInstanceOf(Mine);
    expect(lightResponseParts(m)).toBeNull(); // a subclass may override getters: the general path
  });

  it('status, statusText, ok, type, url, redirected without building Node’s Response', () => {
    const r = new LightResponse('nope', { status: 404, statusText: 'Not Here' });
    expect([r.status, r.statusText, r.ok, r.type, r.url, r.redirected]).toEqual([
      404,
      'Not Here',
      false,
      'default',
      '',
      false,
    ]);
    expect(r.bodyUsed).toBe(false);
    expect(lightResponseParts(r)).not.toBeNull();
    const d = new LightResponse();
    expect([d.status, d.statusText, d.ok, d.body]).toEqual([200, '', true, null]);
    expect(lightResponseParts(d)).not.toBeNull(); // `body` of a null body builds nothing
  });

  it('headers: the implied Content-Type, init headers, set-cookie, a stable object', () => {
    expect([...new LightResponse('s').headers]).toEqual([['content-type', 'text/plain;charset=UTF-8']]);
    expect([...new LightResponse(new Uint8Array([1])).headers]).toEqual([]);
    const r = new LightResponse('s', {
      headers: [
        ['X-A', '1'],
        ['Set-Cookie', 'a=1'],
        ['Set-Cookie', 'b=2'],
      ],
    });
    expect(r.headers.get('content-type')).toBe('text/plain;charset=UTF-8');
    expect(r.headers.get('x-a')).toBe('1');
    expect(r.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(new LightResponse('s', { headers: { 'content-type': 'text/html' } }).headers.get('content-type')).toBe(
      'text/html',
    );
    expect(r.headers).toBe(r.headers);
    r.headers.set('x-b', '2');
    expect(lightResponseParts(r)!.headers!.get('x-b')).toBe('2');
  });

  it('an object literal of lower-case names and plain values is kept as a list; anything else gets a Headers', () => {
    const plain = new LightResponse('p', { headers: { 'x-b': '2', 'x-a': 'one, two' } });
    expect(lightResponseParts(plain)!.list).toEqual([
      'x-b',
      '2',
      'x-a',
      'one, two',
      'content-type',
      'text/plain;charset=UTF-8',
    ]);
    expect(lightResponseParts(plain)!.headers).toBeNull();
    // Reading `headers` makes the Headers (sorted, as Node's), and the list is no longer used.
    expect([...plain.headers]).toEqual([
      ['content-type', 'text/plain;charset=UTF-8'],
      ['x-a', 'one, two'],
      ['x-b', '2'],
    ]);
    expect(lightResponseParts(plain)!.list).toBeNull();
    const others: ResponseInit['headers'][] = [
      { 'X-Upper': '1' },
      { 'x-pad': ' 1 ' },
      { 'x-n': 1 as unknown as string },
      new Headers({ a: '1' }),
      [['a', '1']],
    ];
    for (const headers of others) {
      const parts = lightResponseParts(new LightResponse('h', { headers }))!;
      expect(parts.list).toBeNull();
      expect(parts.headers).toBeInstanceOf(Headers);
    }
    const frozen = { 'x-f': 'v' };
    const r = new LightResponse(null, { headers: frozen });
    frozen['x-f'] = 'changed';
    expect(r.headers.get('x-f')).toBe('v');
  });

  it('matches Node’s Response on headers and status for the same arguments', () => {
    const cases: [ConstructorParameters<typeof Response>[0], ResponseInit | undefined][] = [
      ['text', undefined],
      ['text', { status: 201, headers: { 'x-y': ' padded ' } }],
      ['text', { headers: { 'x-z': 'a', 'content-type': 'text/html', 'set-cookie': 'c=1' } }],
      ['text', { headers: { 'X-Mixed': 'a', 'x-mixed': 'b' } }],
      [null, { headers: {} }],
      [new Uint8Array([1, 2]), { headers: new Headers({ 'content-type': 'application/octet-stream' }) }],
      [null, { status: 204 }],
      [new ArrayBuffer(3), { status: 500, statusText: 'Oops' }],
    ];
    for (const [body, init] of cases) {
      const light = new LightResponse(body, init);
      const real = new NodeResponse(body, init);
      expect([light.status, light.statusText, light.ok, [...light.headers]]).toEqual([
        real.status,
        real.statusText,
        real.ok,
        [...real.headers],
      ]);
    }
  });

  it('throws what Node’s Response throws for an invalid init', () => {
    expect(() => new LightResponse('x', { status: 204 })).toThrow(TypeError);
    expect(() => new LightResponse('x', { status: 304 })).toThrow(TypeError);
    expect(() => new LightResponse(null, { status: 99 })).toThrow(RangeError);
    expect(() => new LightResponse(null, { status: 600 })).toThrow(RangeError);
    expect(() => new LightResponse(null, { statusText: 'a\nb' })).toThrow(TypeError);
    expect(() => new LightResponse('x', { headers: { 'bad name': 'v' } })).toThrow(TypeError);
    expect(() => new LightResponse('x', { headers: { a: 'v\r\nx: y' } })).toThrow(TypeError);
    // WebIDL conversions are Node's: a status given as a string is converted.
    expect(new LightResponse(null, { status: '201' as unknown as number }).status).toBe(201);
  });

  it('text(), json(), arrayBuffer(), bytes, blob() build Node’s Response and read the body; bodyUsed follows', async () => {
    const t = new LightResponse('héllo');
    expect(await t.text()).toBe('héllo');
    expect(t.bodyUsed).toBe(true);
    expect(lightResponseParts(t)).toBeNull();
    await expect(t.text()).rejects.toThrow(TypeError);
    expect(() => t.clone()).toThrow(TypeError);

    expect(await new LightResponse('{"a":1}').json()).toEqual({ a: 1 });
    expect(new Uint8Array(await new LightResponse(new Uint8Array([1, 2, 3])).arrayBuffer())).toEqual(
      new Uint8Array([1, 2, 3]),
    );
    const blob = await new LightResponse('b', { headers: { 'content-type': 'text/x-b' } }).blob();
    expect([blob.type, await blob.text()]).toEqual(['text/x-b', 'b']);
    expect(await new LightResponse(null).text()).toBe('');
  });

  it('keeps a copy of the bytes it was given, as Node’s Response does', async () => {
    const bytes = new Uint8Array([1, 2, 3]);
    const view = new DataView(bytes.buffer, 1, 2);
    const r = new LightResponse(bytes);
    const v = new LightResponse(view);
    bytes[1] = 9;
    expect(new Uint8Array(await r.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3]));
    expect(new Uint8Array(await v.arrayBuffer())).toEqual(new Uint8Array([2, 3]));
  });

  it('body is Node’s ReadableStream of the bytes; reading it makes bodyUsed true', async () => {
    const r = new LightResponse('streamed');
    const body = r.body!;
    expect(body).toBeInstanceOf(ReadableStream);
    expect(r.body).toBe(body);
    expect(r.bodyUsed).toBe(false);
    const chunks: Uint8Array[] = [];
    for await (const c of body) chunks.push(c);
    expect(Buffer.concat(chunks).toString()).toBe('streamed');
    expect(r.bodyUsed).toBe(true);
    expect(r.headers.get('content-type')).toBe('text/plain;charset=UTF-8');
  });

  it('clone(): independent bodies and headers, before and after Node’s Response is built', async () => {
    const a = new LightResponse('same', { status: 202, headers: { 'x-a': '1' } });
    const b = a.clone();
    expect(b).toBeInstanceOf(LightResponse);
    b.headers.set('x-a', '2');
    expect([a.headers.get('x-a'), b.headers.get('x-a'), b.status]).toEqual(['1', '2', 202]);
    expect(await b.text()).toBe('same');
    expect(a.bodyUsed).toBe(false);
    expect(await a.text()).toBe('same');

    const c = new LightResponse('built');
    void c.body; // builds Node's Response
    const d = c.clone();
    expect([await c.text(), await d.text()]).toEqual(['built', 'built']);
    expect(d.headers.get('content-type')).toBe('text/plain;charset=UTF-8');
  });

  it('Response.json(): a light Response with application/json; errors are Node’s', async () => {
    const r = LightResponse.json({ a: [1, 2] }, { status: 201, headers: { 'x-j': '1' } });
    expect(r).toBeInstanceOf(LightResponse);
    expect(lightResponseParts(r)).not.toBeNull();
    expect([r.status, r.headers.get('content-type'), r.headers.get('x-j')]).toEqual([201, 'application/json', '1']);
    expect(await r.json()).toEqual({ a: [1, 2] });
    expect(
      LightResponse.json('s', { headers: { 'content-type': 'application/problem+json' } }).headers.get('content-type'),
    ).toBe('application/problem+json');
    // No headers given: the state carries the type; the built Response must not say text/plain.
    const plain = LightResponse.json([1]);
    expect(lightResponseParts(plain)!.list).toEqual(['content-type', 'application/json']);
    expect(realResponse(plain).headers.get('content-type')).toBe('application/json');
    expect(() => LightResponse.json(undefined)).toThrow(TypeError);
    expect(() => LightResponse.json(1n)).toThrow(TypeError);
    expect(() => LightResponse.json({}, { status: 204 })).toThrow(TypeError);
  });

  it('Response.redirect() and Response.error() are Node’s', () => {
    const r = LightResponse.redirect('http://x.test/a', 301);
    expect(r).toBeInstanceOf(LightResponse);
    expect([r.status, r.headers.get('location')]).toEqual([301, 'http://x.test/a']);
    expect(LightResponse.redirect(new URL('http://x.test/b'), undefined as never).status).toBe(302);
    const e = LightResponse.error();
    expect(e).toBeInstanceOf(LightResponse);
    expect([e.type, e.status]).toEqual(['error', 0]);
    expect(() => e.headers.set('a', 'b')).toThrow(TypeError);
  });

  it('a ReadableStream body is kept by Node’s Response (the adapter’s general path)', async () => {
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode('one '));
        c.enqueue(new TextEncoder().encode('two'));
        c.close();
      },
    });
    const r = new LightResponse(stream, { status: 207, headers: { 'x-s': '1' } });
    expect(lightResponseParts(r)).toBeNull();
    expect(realResponse(r)).toBeInstanceOf(NodeResponse);
    expect(realResponse(r)).not.toBe(r);
    expect([r.status, r.headers.get('x-s'), r.headers.get('content-type')]).toEqual([207, '1', null]);
    expect(r.headers).toBe(realResponse(r).headers);
    expect(await r.text()).toBe('one two');
    expect(r.bodyUsed).toBe(true);
  });

  it('other body kinds are Node’s too: URLSearchParams, Blob, FormData', async () => {
    const u = new LightResponse(new URLSearchParams({ a: '1' }));
    expect([u.headers.get('content-type'), await u.text()]).toEqual([
      'application/x-www-form-urlencoded;charset=UTF-8',
      'a=1',
    ]);
    const b = new LightResponse(new Blob(['bb'], { type: 'text/x-bb' }));
    expect([b.headers.get('content-type'), await b.text()]).toEqual(['text/x-bb', 'bb']);
    const f = new FormData();
    f.set('k', 'v');
    expect((await new LightResponse(f).formData()).get('k')).toBe('v');
  });

  it('realResponse() returns anything that is not light as it is', () => {
    const n = new NodeResponse('n');
    expect(realResponse(n)).toBe(n);
    expect(lightResponseParts(n)).toBeNull();
  });
});

describe('replaceGlobalResponse', () => {
  let before: PropertyDescriptor | undefined;
  let restore = () => {};
  beforeAll(() => {
    before = Object.getOwnPropertyDescriptor(globalThis, 'Response');
  });
  afterAll(() => restore());

  it('makes it the global Response, and its restore puts the previous one back', async () => {
    restore = replaceGlobalResponse();
    expect(globalThis.Response).toBe(LightResponse);
    expect(Object.getOwnPropertyDescriptor(globalThis, 'Response')!.enumerable).toBe(false);
    const r = new Response('global');
    expect(lightResponseParts(r)).not.toBeNull();
    // fetch-style Responses from Node are still Responses.
    expect(new NodeResponse('n')).toBeInstanceOf(Response);
    restore();
    expect(Object.getOwnPropertyDescriptor(globalThis, 'Response')).toEqual(before);
    expect(globalThis.Response).toBe(NodeResponse);
    // A light Response made while it was installed stays a Response.
    expect(r).toBeInstanceOf(Response);
    expect(await r.text()).toBe('global');
  });
});
