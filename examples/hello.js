// The bundled example app: a plain Node request listener.
//   tsunicorn examples/hello.js:app -w 2
export function app(req, res) {
  const body = `Hello from tsunicorn worker ${process.pid}\n`;
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
