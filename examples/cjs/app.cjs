// A CommonJS request listener: `module.exports = (req, res) => …` is the default export.
//   node bin/tsunicorn.js examples/cjs/app.cjs -w 2 -b 127.0.0.1:8000
'use strict';

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

module.exports = async (req, res) => {
  const { pathname } = new URL(req.url, 'http://localhost');
  if (req.method === 'GET' && pathname === '/') {
    sendJson(res, 200, { framework: 'cjs', pid: process.pid });
  } else if (req.method === 'POST' && pathname === '/echo') {
    let text = '';
    for await (const chunk of req) text += chunk;
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      sendJson(res, 400, { error: 'invalid JSON body' });
      return;
    }
    sendJson(res, 200, { echo: body });
  } else if (pathname === '/boom') {
    // tsunicorn logs "Error handling request GET /boom: …" and answers 500.
    throw new Error('boom from cjs');
  } else {
    sendJson(res, 404, { error: 'Not Found' });
  }
};
