// A plain fetch handler, no framework: `export default { fetch }`, as for Deno, Bun and workers.
//   node bin/tsunicorn.js examples/fetch/app.mjs -w 2 -b 127.0.0.1:8000
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (request.method === 'GET' && url.pathname === '/') {
      return Response.json({ framework: 'fetch', pid: process.pid });
    }
    if (request.method === 'POST' && url.pathname === '/echo') {
      let body;
      try {
        body = await request.json();
      } catch {
        return Response.json({ error: 'invalid JSON body' }, { status: 400 });
      }
      return Response.json({ echo: body });
    }
    if (url.pathname === '/boom') {
      // tsunicorn logs "Error handling request GET /boom: …" and answers 500.
      throw new Error('boom from fetch');
    }
    return new Response('Not Found\n', { status: 404, headers: { 'content-type': 'text/plain' } });
  },
};
