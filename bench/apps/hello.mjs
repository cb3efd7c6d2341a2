// The bench app, Node request-listener interface. Every server in bench/ serves this
// same module (PM2, node:cluster and bare node:http through serve.mjs).
//   GET /     hello world          GET /io   after a 1 ms awaited wait
//   GET /cpu  after ~1 ms of CPU   GET /pid  the serving process's pid (readiness probe)
import { HELLO, burnCpu, ioWait } from './work.mjs';

const HEADERS = { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(HELLO) };

/** @param {import('node:http').ServerResponse} res */
function hello(res) {
  res.writeHead(200, HEADERS);
  res.end(HELLO);
}

/**
 * Two parameters: tsunicorn's `auto` interface detection reads a one-parameter function as a fetch handler.
 * @param {import('node:http').IncomingMessage} req
 * @param {import('node:http').ServerResponse} res
 */
export default function app(req, res) {
  switch (req.url) {
    case '/io':
      void ioWait().then(() => hello(res));
      return;
    case '/cpu':
      burnCpu();
      hello(res);
      return;
    case '/pid': {
      const body = String(process.pid);
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
      res.end(body);
      return;
    }
    default:
      hello(res);
  }
}
