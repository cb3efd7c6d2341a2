// WebSockets with the `ws` package next to a Node request listener. tsunicorn hands every request
// that carries an `Upgrade` header to the module's `upgrade(req, socket, head)` export (Node's own
// 'upgrade' event signature), and calls `shutdown()` when the worker begins a graceful stop.
//   node bin/tsunicorn.js examples/websocket/app.mjs -w 2 -b 127.0.0.1:8000
//   then, e.g.: npx wscat -c ws://127.0.0.1:8000/ws
import { WebSocketServer } from 'ws';

// noServer: tsunicorn owns the HTTP server; ws only takes over upgraded sockets.
const wss = new WebSocketServer({ noServer: true });

wss.on('connection', (ws) => {
  ws.send(JSON.stringify({ hello: 'tsunicorn', pid: process.pid }));
  ws.on('message', (data, isBinary) => {
    ws.send(isBinary ? data : `echo: ${data}`);
  });
});

export default function app(req, res) {
  const body = `WebSocket endpoint: ws://${req.headers.host}/ws (worker ${process.pid})\n`;
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function upgrade(req, socket, head) {
  if (new URL(req.url, 'http://localhost').pathname !== '/ws') {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  // handleUpgrade answers 400 to anything that is not a valid WebSocket handshake (an `Upgrade: h2c`, say).
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
}

// The worker is stopping (TERM, HUP, --max-requests) and no longer accepts: say goodbye. Clients get
// close code 1001 and reconnect, to another worker; this worker exits once their sockets are closed.
export function shutdown() {
  for (const ws of wss.clients) ws.close(1001, 'server going away');
}
