// The app uses the worker's pool; it never opens or closes it (tsunicorn.config.mjs does).
import { pool } from './pool.mjs';

function sendJson(res, status, value) {
  const body = `${JSON.stringify(value)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export default async function app(req, res) {
  const { pathname } = new URL(req.url, 'http://localhost');
  if (pathname === '/items' && req.method === 'POST') {
    let text = '';
    for await (const chunk of req) text += chunk;
    await pool.insert({ item: JSON.parse(text), pid: process.pid });
    sendJson(res, 201, { stored: true, pid: process.pid });
  } else if (pathname === '/items') {
    sendJson(res, 200, await pool.all());
  } else if (pathname === '/') {
    sendJson(res, 200, { pid: process.pid, pool: { file: pool.file, size: pool.size, open: pool.isOpen } });
  } else {
    sendJson(res, 404, { error: 'Not Found' });
  }
}
