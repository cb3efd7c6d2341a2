// WebSockets next to a fetch handler: the app object carries `upgrade` and `shutdown` beside `fetch`.
// `upgrade` gets Node's (req, socket, head), as for Node apps: WebSockets are not part of fetch.
//   node bin/tsunicorn.js examples/websocket/fetch.mjs -w 2 -b 127.0.0.1:8000
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ noServer: true });

wss.on('connection', (ws) => {
  ws.send(JSON.stringify({ hello: 'tsunicorn', pid: process.pid }));
  ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo: ${data}`));
});

export default {
  fetch(request) {
    return new Response(`WebSocket endpoint: ws://${new URL(request.url).host}/ws (worker ${process.pid})\n`);
  },
  upgrade(req, socket, head) {
    if (new URL(req.url, 'http://localhost').pathname !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  },
  shutdown() {
    for (const ws of wss.clients) ws.close(1001, 'server going away');
  },
};
