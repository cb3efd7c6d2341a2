import { describe, expect, it } from 'vitest';
import { headFields } from '../../src/worker/http/request-observer.js';

describe('headFields: the fields of a written response head', () => {
  it.each([
    ['HTTP/1.1 200 OK\r\nContent-Type: a\r\nX-N: 12\r\n\r\n', { 'content-type': 'a', 'x-n': '12' }],
    ['HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n\r\n', { 'set-cookie': 'a=1, b=2' }],
    ['HTTP/1.1 204 No Content\r\n\r\n', {}],
    ['HTTP/1.1 200 OK\r\nX-Empty: \r\nX-Colon: a: b\r\n\r\n', { 'x-empty': '', 'x-colon': 'a: b' }],
    ['HTTP/1.1 200 OK\r\nX-Last: 1\r\n', { 'x-last': '1' }],
  ])('%j', (head, fields) => {
    expect(Object.fromEntries(headFields(head))).toEqual(fields);
  });
});
