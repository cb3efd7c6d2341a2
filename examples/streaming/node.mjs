// Streaming with a Node request listener: uploads read as a stream, server-sent events, and noticing
// a client that went away.
//   node bin/tsunicorn.js examples/streaming/node.mjs -w 2 -b 127.0.0.1:8000
//   curl -T big.iso http://127.0.0.1:8000/upload          # hashed as it arrives, never held in memory
//   curl -T big.iso 'http://127.0.0.1:8000/upload?pause=5' # a slow reader: the upload slows down instead
//   curl -N http://127.0.0.1:8000/events                  # one event every 100 ms (?n=10&interval=100)
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

const MIB = 1024 * 1024;

function sendJson(res, status, value) {
  const body = `${JSON.stringify(value)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Reads the body chunk by chunk: `req` is the socket's stream, paused while this loop is busy. */
async function upload(req, res, url) {
  // ?pause=MS: rest MS after each MiB, like a slow consumer (a database write per MiB). The socket
  // stays paused meanwhile, so the client slows down and nothing piles up in the worker.
  const pause = Number(url.searchParams.get('pause') ?? 0);
  let nextPause = MIB;
  const hash = createHash('sha256');
  let bytes = 0;
  let chunks = 0;
  for await (const chunk of req) {
    hash.update(chunk);
    bytes += chunk.length;
    chunks++;
    if (pause > 0 && bytes >= nextPause) {
      nextPause += MIB;
      await sleep(pause);
    }
  }
  sendJson(res, 200, { bytes, chunks, sha256: hash.digest('hex') });
}

/** Server-sent events: each event is written as it is produced; Node sends it at once (no buffering). */
function events(req, res, url) {
  const n = Number(url.searchParams.get('n') ?? 10);
  const interval = Number(url.searchParams.get('interval') ?? 100);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  let i = 0;
  const emit = () => {
    i++;
    res.write(`id: ${i}\ndata: ${JSON.stringify({ n: i, t: Date.now(), pid: process.pid })}\n\n`);
    if (i >= n) {
      clearInterval(timer);
      res.end();
    }
  };
  const timer = setInterval(emit, interval);
  emit();
  // The client left: stop producing.
  res.on('close', () => clearInterval(timer));
}

/** A long request (?ms=30000) that notices when its client goes away. */
function wait(req, res, url) {
  const started = Date.now();
  console.error(`streaming: waiting on ${req.url} (pid ${process.pid})`);
  const timer = setTimeout(
    () => sendJson(res, 200, { waited: Date.now() - started }),
    Number(url.searchParams.get('ms') ?? 30_000),
  );
  res.on('close', () => {
    clearTimeout(timer);
    if (!res.writableFinished)
      console.error(
        `streaming: client went away from ${req.url} after ${Date.now() - started} ms (pid ${process.pid})`,
      );
  });
}

export default function app(req, res) {
  const url = new URL(req.url, 'http://localhost');
  if (req.method === 'POST' && url.pathname === '/upload') return upload(req, res, url);
  if (url.pathname === '/events') return events(req, res, url);
  if (url.pathname === '/wait') return wait(req, res, url);
  sendJson(res, 404, { error: 'Not Found' });
}
