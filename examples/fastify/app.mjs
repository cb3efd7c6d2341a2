// Fastify 5 on tsunicorn, through a factory: tsunicorn calls create(), which waits for Fastify to
// load its plugins and returns Fastify's request handler, `app.routing`. Fastify never listens itself.
//   node bin/tsunicorn.js "examples/fastify/app.mjs:create()" -w 2 -b 127.0.0.1:8000
import Fastify from 'fastify';

export async function create() {
  const app = Fastify({ logger: false });

  app.get('/', async () => ({ framework: 'fastify', pid: process.pid }));

  // Fastify parses JSON bodies itself.
  app.post('/echo', async (request) => ({ echo: request.body }));

  app.get('/boom', async () => {
    throw new Error('boom from fastify');
  });

  // Fastify answers 404 and 500 itself. Its own error logging needs `logger: true` (pino JSON lines on
  // stdout); this handler logs server errors to stderr instead and keeps Fastify's status codes.
  app.setErrorHandler((err, request, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 500) console.error(`fastify: error handling ${request.method} ${request.url}:`, err);
    reply.code(status).send({ error: status >= 500 ? 'Internal Server Error' : err.message });
  });

  // Plugins and routes register asynchronously: the handler is complete only after ready().
  await app.ready();
  return app.routing;
}
