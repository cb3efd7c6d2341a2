// A plain node:http server for hello.mjs on 127.0.0.1:$PORT. Run directly, it is the
// bare one-process baseline; it is also the script PM2 cluster mode and cluster.mjs run.
import http from 'node:http';
import app from './hello.mjs';

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('serve.mjs: set PORT\n');
  process.exit(2);
}
const server = http.createServer(app);
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => process.exit(0));
