import { describe, expect, it } from 'vitest';
import { acceptPauseSupported } from '../../src/node-compat.js';

describe('pausing a listener without closing it', () => {
  it('needs libuv 1.45+, which accepts one connection per poll callback', () => {
    expect(acceptPauseSupported('1.44.2', {})).toBe(false);
    expect(acceptPauseSupported('1.45.0', {})).toBe(true);
    expect(acceptPauseSupported('1.52.1', {})).toBe(true);
    expect(acceptPauseSupported('2.0.0', {})).toBe(true);
  });

  it('is on for every Node the launcher accepts (20.19+ ships libuv 1.46), so the suite runs that path', () => {
    expect(acceptPauseSupported(process.versions.uv, {})).toBe(true);
  });

  it('is off with TSUNICORN_NODE_FALLBACK=accept-pause or all', () => {
    expect(acceptPauseSupported('1.52.1', { TSUNICORN_NODE_FALLBACK: 'accept-pause' })).toBe(false);
    expect(acceptPauseSupported('1.52.1', { TSUNICORN_NODE_FALLBACK: 'websocket, all' })).toBe(false);
    expect(acceptPauseSupported('1.52.1', { TSUNICORN_NODE_FALLBACK: 'websocket' })).toBe(true);
  });
});
