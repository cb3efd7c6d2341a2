// Streaming with a fetch handler: `request.body` is a ReadableStream fed from the socket (with
// backpressure), a ReadableStream response is written chunk by chunk, and `request.signal` aborts
// when the client goes away.
//   node bin/tsunicorn.js examples/streaming/fetch.mjs -w 2 -b 127.0.0.1:8000
//   curl -T big.iso http://127.0.0.1:8000/upload          # hashed as it arrives, never held in memory
//   curl -T big.iso 'http://127.0.0.1:8000/upload?pause=5' # a slow reader: the upload slows down instead
//   curl -N http://127.0.0.1:8000/events                  # one event every 100 ms (?n=10&interval=100)
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

const MIB = 1024 * 1024;

const encoder = new TextEncoder();

async function upload(request, url) {
  // ?pause=MS: rest MS after each MiB, like a slow consumer (a database write per MiB). Reading stops
  // meanwhile, the socket is paused, so the client slows down and nothing piles up in the worker.
  const pause = Number(url.searchParams.get('pause') ?? 0);
  let nextPause = MIB;
  const hash = createHash('sha256');
  let bytes = 0;
  let chunks = 0;
  // Each chunk is read as it arrives; while this loop is busy the socket is paused.
  for await (const chunk of request.body ?? []) {
    hash.update(chunk);
    bytes += chunk.byteLength;
    chunks++;
    if (pause > 0 && bytes >= nextPause) {
      nextPause += MIB;
      await sleep(pause);
    }
  }
  return Response.json({ bytes, chunks, sha256: hash.digest('hex') });
}

function events(request, url) {
  const n = Number(url.searchParams.get('n') ?? 10);
  const interval = Number(url.searchParams.get('interval') ?? 100);
  let timer;
  const body = new ReadableStream({
    start(controller) {
      let i = 0;
      const emit = () => {
        i++;
        controller.enqueue(
          encoder.encode(`id: ${i}\ndata: ${JSON.stringify({ n: i, t: Date.now(), pid: process.pid })}\n\n`),
        );
        if (i >= n) {
          clearInterval(timer);
          controller.close();
        }
      };
      timer = setInterval(emit, interval);
      emit();
    },
    // The client left (tsunicorn cancels the body) or the request was aborted: stop producing.
    cancel() {
      clearInterval(timer);
    },
  });
  request.signal.addEventListener('abort', () => clearInterval(timer));
  return new Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } });
}

/** A long request (?ms=30000) that gives up when its client goes away. */
function wait(request, url) {
  const started = Date.now();
  console.error(`streaming: waiting on ${url.pathname}${url.search} (pid ${process.pid})`);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => resolve(Response.json({ waited: Date.now() - started })),
      Number(url.searchParams.get('ms') ?? 30_000),
    );
    request.signal.addEventListener('abort', () => {
      clearTimeout(timer);
      console.error(
        `streaming: request.signal aborted: client went away from ${url.pathname} after ${Date.now() - started} ms (pid ${process.pid})`,
      );
      reject(request.signal.reason);
    });
  });
}

export default {
  fetch(request) {
    const url = new URL(request.url);
    if (request.method === 'POST' && url.pathname === '/upload') return upload(request, url);
    if (url.pathname === '/events') return events(request, url);
    if (url.pathname === '/wait') return wait(request, url);
    return Response.json({ error: 'Not Found' }, { status: 404 });
  },
};
