/**
 * Bounded random fuzzing of the HTTP front door: well-formed seed requests,
 * mutated (bytes flipped, inserted, deleted, lines duplicated or cut, line
 * endings and numbers changed, seeds spliced), each sent raw on its own
 * connection. Runs until 3000 inputs or 20 s, whichever comes first.
 *
 * Invariants: the worker never crashes or is replaced (same pid), the master
 * stays alive, every answer is a status the server is allowed to give, and a
 * well-formed keep-alive client running in parallel sees only 200s.
 *
 * Reproduce a failure with FUZZ_SEED=<seed printed in the failure>.
 */
import { afterAll, expect, it } from 'vitest';
import { cleanup, isAlive, start } from './harness.js';
import { describeFailures, failedCount, startLoad } from './load.js';
import { sendRaw } from './raw.js';

afterAll(cleanup);

/**
 * Per worker class: inputs, wall-time bound, concurrent fuzz connections, and the fewest inputs that make a
 * meaningful run (a sync worker holds one connection at a time, so it gets through far fewer).
 */
const BUDGETS = [
  { cls: 'async', inputs: 3000, ms: 20_000, concurrency: 32, floor: 1000 },
  { cls: 'sync', inputs: 1000, ms: 10_000, concurrency: 4, floor: 300 },
] as const;
/** What the server may answer to anything: the app's 200 and the worker's own error statuses (417: Node, for an unknown Expect). */
const ALLOWED = new Set([100, 200, 400, 405, 408, 413, 414, 417, 431, 505]);

/** mulberry32: a small deterministic PRNG, so a failing run can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEEDS = [
  'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /whoami?a=1&b=%20 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: fuzz\r\nAccept: */*\r\n\r\n',
  'HEAD / HTTP/1.0\r\n\r\n',
  'POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello',
  'POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: t\r\n\r\n',
  'PUT /body HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc',
  'GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4, 5.6.7.8\r\nX-Forwarded-Proto: https\r\nCookie: a=b; c=d\r\n\r\n',
  'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET http://x/abs HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n',
  'DELETE /slow?ms=5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
];
const SPECIAL = [
  '\0',
  '\r',
  '\n',
  '\r\n',
  ' ',
  '\t',
  ':',
  ',',
  ';',
  '\x7f',
  '\xff',
  '\x80',
  '"',
  '%',
  '/',
  '0',
  '-',
  'chunked',
  'Content-Length: 1\r\n',
  'Transfer-Encoding: chunked\r\n',
  'HTTP/1.1',
  '\r\n\r\n',
];

function mutate(rand: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const at = (s: string) => Math.floor(rand() * (s.length + 1));
  let s = pick(SEEDS);
  const rounds = 1 + Math.floor(rand() * 4);
  for (let r = 0; r < rounds; r++) {
    const i = at(s);
    switch (Math.floor(rand() * 11)) {
      case 0: // flip a byte
        if (s.length) s = s.slice(0, i) + String.fromCharCode(Math.floor(rand() * 256)) + s.slice(i + 1);
        break;
      case 1: // insert a special token
        s = s.slice(0, i) + pick(SPECIAL) + s.slice(i);
        break;
      case 2: // delete a range
        s = s.slice(0, i) + s.slice(i + 1 + Math.floor(rand() * 8));
        break;
      case 3: {
        // duplicate a line
        const lines = s.split('\r\n');
        const k = Math.floor(rand() * lines.length);
        lines.splice(k, 0, lines[k]!);
        s = lines.join('\r\n');
        break;
      }
      case 4: // truncate
        s = s.slice(0, i);
        break;
      case 5: // CRLF → LF or CR somewhere
        s = s.replace('\r\n', rand() < 0.5 ? '\n' : '\r');
        break;
      case 6: // change a number
        s = s.replace(/\d+/, () => pick(['0', '-1', '99999999999999999999', 'ff', '1e3', ' 5', '4294967296', '00005']));
        break;
      case 7: // splice two seeds
        s = s.slice(0, i) + pick(SEEDS).slice(Math.floor(rand() * 20));
        break;
      case 8: // a long run
        s = s.slice(0, i) + pick(['a', ' ', 'X-A: b\r\n', '%']).repeat(1 + Math.floor(rand() * 3000)) + s.slice(i);
        break;
      case 9: // case games with names
        s = s.replace(/Content-Length|Transfer-Encoding|Host/, (m) =>
          pick([m.toUpperCase(), m.toLowerCase(), `${m} `, ` ${m}`, `${m}\t`]),
        );
        break;
      default: // random bytes
        s =
          s.slice(0, i) +
          Array.from({ length: 1 + Math.floor(rand() * 16) }, () => String.fromCharCode(Math.floor(rand() * 256))).join(
            '',
          ) +
          s.slice(i);
    }
  }
  return s;
}

it.each(BUDGETS)(
  '-k $cls: $inputs mutated requests or $ms ms: no crash, only allowed statuses, a parallel client sees only 200s',
  async ({ cls, inputs: MAX_INPUTS, ms: MAX_MS, concurrency: CONCURRENCY, floor }) => {
    const seed = Number(process.env.FUZZ_SEED) || Math.floor(Math.random() * 2 ** 31);
    const rand = prng(seed);
    const s = start(['hardening-app.mjs', '-k', cls, '-w', '1', '-b', '127.0.0.1:0', '--log-level', 'debug']);
    const port = await s.port();
    await s.readyWorkers(1);
    const [pid] = s.workers();
    const load = startLoad({
      url: `http://127.0.0.1:${port}/`,
      concurrency: 2,
      keepAlive: true,
      durationMs: MAX_MS + 10_000,
    });

    const deadline = Date.now() + MAX_MS;
    let sent = 0;
    let closed = 0;
    const statuses: Record<number, number> = {};
    const bad: string[] = [];
    const slot = async () => {
      while (sent < MAX_INPUTS && Date.now() < deadline) {
        sent++;
        const input = mutate(rand);
        // Mostly half-closed, so incomplete inputs end at once; some stay open until the server decides.
        const r = await sendRaw(port, input, { halfClose: rand() < 0.9, timeoutMs: 800 });
        if (r.closed) closed++;
        for (const st of r.statuses) {
          statuses[st] = (statuses[st] ?? 0) + 1;
          if (!ALLOWED.has(st) && bad.length < 5) bad.push(`${st} for ${JSON.stringify(input.slice(0, 200))}`);
        }
        if (r.text && !r.text.startsWith('HTTP/1.1 ') && bad.length < 5)
          bad.push(`not a response: ${JSON.stringify(r.text.slice(0, 100))}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, slot));
    const result = await load.stop();
    const summary = `-k ${cls} seed ${seed}: ${sent} inputs, ${closed} closed by the server, statuses ${JSON.stringify(statuses)}`;
    console.log(`fuzz ${summary}`);

    expect(sent, summary).toBeGreaterThanOrEqual(floor);
    expect(bad, summary).toEqual([]);
    expect(isAlive(s.pid), summary).toBe(true);
    expect(s.workers(), summary).toEqual([pid]);
    expect(s.countLog(/Booting worker/), summary).toBe(1);
    expect(s.log, summary).not.toMatch(/Uncaught|exited with code|was sent SIG/);
    expect(failedCount(result), `${summary}; parallel client: ${describeFailures(result)}`).toBe(0);
    expect(result.ok).toBeGreaterThan(100);
    await s.kill();
  },
  45_000,
);
