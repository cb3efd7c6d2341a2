/** --health-path in a worker: what it matches and what it answers in each state. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { Health } from '../../src/worker/http/health.js';

const req = (url: string, method = 'GET') => ({ url, method }) as IncomingMessage;

function answer(h: Health, method = 'GET'): { status: number; body: string | undefined } {
  const out = { status: 0, body: undefined as string | undefined };
  const res = {
    writeHead(status: number) {
      out.status = status;
      return res;
    },
    end(body?: string) {
      out.body = body;
    },
  };
  h.answer(req('/healthz', method), res as unknown as ServerResponse);
  return out;
}

describe('Health', () => {
  it.each([
    ['/healthz', true],
    ['/healthz?probe=1', true],
    ['/healthz/', false],
    ['/healthzz', false],
    ['/health', false],
    ['/', false],
  ])('matches %j: %j', (url, matches) => expect(new Health('/healthz').matches(req(url))).toBe(matches));

  it('503 "starting" until every listener listens, 200 while serving, 503 "stopping" for good once stopping', () => {
    const h = new Health('/healthz');
    expect(answer(h)).toEqual({ status: 503, body: 'starting\n' });
    h.ready();
    expect(answer(h)).toEqual({ status: 200, body: 'ok\n' });
    expect(answer(h, 'HEAD')).toEqual({ status: 200, body: undefined });
    h.stop();
    expect(answer(h)).toEqual({ status: 503, body: 'stopping\n' });
    h.ready();
    expect(h.status).toBe(503);
  });
});
