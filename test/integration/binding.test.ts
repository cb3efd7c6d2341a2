/**
 * How the arbiter binds TCP listeners on each Node line (src/node-compat.ts bindTcp): with
 * net.BoundSocket where the line has it (24.19+, 26.4+), else with net._createServerHandle and a
 * probe listen; TSUNICORN_NODE_FALLBACK=bound-socket forces the fallback. Both must report a taken
 * port at start and serve. --reuse-port (Node 22.12+) lets two arbiters serve one port.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { reusePortUnsupported } from '../../src/node-compat.js';
import { cleanup, get, runCli, start, waitFor } from './harness.js';

afterEach(cleanup);

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => /\[ERROR\]|error:/.test(l));
const hasBoundSocket = typeof (net as unknown as { BoundSocket?: unknown }).BoundSocket === 'function';

describe.each([
  ['the running Node', {}, hasBoundSocket ? 'net.BoundSocket' : 'a probe listen'],
  ['the fallback', { TSUNICORN_NODE_FALLBACK: 'bound-socket' }, 'a probe listen'],
])('binding with %s', (_name, env, method) => {
  it(`binds with ${method} and serves`, async () => {
    const s = start(['busy-app.mjs', '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug'], { env });
    const port = await s.port();
    await s.waitLog(new RegExp(`Bound http://127\\.0\\.0\\.1:${port} with ${method}$`));
    await s.readyWorkers(1);
    const r = await get(`http://127.0.0.1:${port}/`);
    expect(r.body).toMatch(/^busy-app \d+/);
  });

  it('a taken port is one error line at start, exit 1, and no worker', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await runCli(['busy-app.mjs', '-w', '2', '-b', `127.0.0.1:${port}`], { env });
      expect(r.code).toBe(1);
      const line = `cannot bind http://127.0.0.1:${port}: address already in use (EADDRINUSE)`;
      expect(errorLines(r.stderr)).toEqual([expect.stringContaining(line)]);
      expect(r.stderr).not.toMatch(/Booting worker/);
    } finally {
      blocker.close();
    }
  });
});

const unsupported = reusePortUnsupported();

describe.runIf(unsupported !== null)('--reuse-port on a Node without SO_REUSEPORT binds', () => {
  it('is refused with one line, exit 2', async () => {
    const r = await runCli(['busy-app.mjs', '-b', '127.0.0.1:0', '--reuse-port']);
    expect(r.code).toBe(2);
    const line = `--reuse-port needs Node.js 22.12 or newer; this is ${process.version}`;
    expect(errorLines(r.stderr)).toEqual([expect.stringContaining(line)]);
  });
});

/** The worker pid that answered, on a new connection each time (SO_REUSEPORT picks a socket per connection). */
const servedBy = async (port: number): Promise<number> =>
  Number((await get(`http://127.0.0.1:${port}/`)).body.split(' ')[1]);

describe.runIf(unsupported === null).each([
  ['the running Node', {}],
  ['the fallback', { TSUNICORN_NODE_FALLBACK: 'bound-socket' }],
])('--reuse-port, binding with %s', (_name, env) => {
  it('two arbiters serve one port side by side; after one stops, the other serves every request', async () => {
    const args = ['-w', '1', '--reuse-port', '--log-level', 'debug'];
    const blue = start(['busy-app.mjs', ...args, '-b', '127.0.0.1:0'], { env });
    const port = await blue.port();
    await blue.readyWorkers(1);
    // Without --reuse-port the port is taken.
    const refused = await runCli(['busy-app.mjs', '-b', `127.0.0.1:${port}`], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/address already in use \(EADDRINUSE\)/);

    const green = start(['busy-app.mjs', ...args, '-b', `127.0.0.1:${port}`], { env });
    expect(await green.port()).toBe(port);
    await green.readyWorkers(1);
    const [blueWorker] = blue.workers();
    const [greenWorker] = green.workers();
    const seen = new Set<number>();
    await waitFor(
      'both arbiters to answer on the shared port',
      async () => {
        seen.add(await servedBy(port));
        return seen.has(blueWorker!) && seen.has(greenWorker!);
      },
      10_000,
      0,
    );
    expect([...seen].sort()).toEqual([blueWorker, greenWorker].sort());

    blue.signal('SIGTERM');
    expect(await blue.waitExit()).toEqual({ code: 0, signal: null });
    for (let i = 0; i < 40; i++) expect(await servedBy(port)).toBe(greenWorker);
  });
});
