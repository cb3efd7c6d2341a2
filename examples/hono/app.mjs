// Hono 4 on tsunicorn. A Hono app has a fetch method: tsunicorn serves it through the fetch interface.
//   node bin/tsunicorn.js examples/hono/app.mjs -w 2 -b 127.0.0.1:8000
import { Hono } from 'hono';

const app = new Hono();

app.get('/', (c) => c.json({ framework: 'hono', pid: process.pid }));

app.post('/echo', async (c) => c.json({ echo: await c.req.json() }));

app.get('/boom', () => {
  throw new Error('boom from hono');
});

// Hono answers 404 itself and catches errors itself (its default handler logs them with
// console.error and answers 500). This one says which request failed.
app.onError((err, c) => {
  console.error(`hono: error handling ${c.req.method} ${c.req.path}:`, err);
  return c.json({ error: 'Internal Server Error' }, 500);
});

export default app;
