// A Fastify 5 app with a JSON route, for the bench's real-app targets. tsunicorn calls create()
// (`bench/apps/fastify.mjs:create()`); raw node:cluster serves the same handler through serve.mjs.
//   GET /     {"hello":"world"}    GET /pid   the serving process's pid
import Fastify from 'fastify';

export async function create() {
  const app = Fastify();
  app.get('/', async () => ({ hello: 'world' }));
  app.get('/pid', async (_req, reply) => {
    reply.type('text/plain');
    return String(process.pid);
  });
  await app.ready();
  // The request handler Fastify would attach to its own server (docs/frameworks.md).
  return app.routing;
}
