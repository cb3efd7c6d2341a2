// A plain node:http server on 127.0.0.1:$PORT for hello.mjs, or for the app module named by
// $APP (a file in this directory: its default export, or what its create() returns). Run
// directly, it is the bare one-process baseline; PM2 cluster mode and cluster.mjs run it too.
import http from 'node:http';

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('serve.mjs: set PORT\n');
  process.exit(2);
}
const mod = await import(new URL(process.env.APP ?? 'hello.mjs', import.meta.url).href);
const app = typeof mod.create === 'function' ? await mod.create() : mod.default;
const server = http.createServer(app);
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => process.exit(0));
