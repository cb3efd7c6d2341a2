// Koa 3 on tsunicorn. Export the app object (tsunicorn calls app.callback() itself) or the listener.
//   node bin/tsunicorn.js examples/koa/app.mjs -w 2 -b 127.0.0.1:8000
//   node bin/tsunicorn.js examples/koa/app.mjs:handler -w 2 -b 127.0.0.1:8000
import Router from '@koa/router';
import Koa from 'koa';

const app = new Koa();
const router = new Router();

/** Koa has no body parser built in (@koa/bodyparser is the usual one); this one is enough for JSON. */
async function readJson(ctx) {
  let text = '';
  for await (const chunk of ctx.req) text += chunk;
  try {
    return JSON.parse(text);
  } catch {
    ctx.throw(400, 'invalid JSON body');
  }
}

router.get('/', (ctx) => {
  ctx.body = { framework: 'koa', pid: process.pid };
});

router.post('/echo', async (ctx) => {
  ctx.body = { echo: await readJson(ctx) };
});

router.get('/boom', async () => {
  throw new Error('boom from koa');
});

app.use(router.routes()).use(router.allowedMethods());

// Koa answers 404 and 500 itself and reports errors on the app's 'error' event. Its default listener
// logs to stderr; this one says which request failed. Register it before callback() is called.
app.on('error', (err, ctx) => {
  console.error(`koa: error handling ${ctx.method} ${ctx.url}:`, err);
});

export default app;
export const handler = app.callback();
