// An Express 5 app with a JSON route, for the bench's real-app targets: tsunicorn serves the
// app itself, raw node:cluster serves it through serve.mjs (APP=express.mjs).
//   GET /     {"hello":"world"} through res.json    GET /pid   the serving process's pid
import express from 'express';

const app = express();
app.disable('x-powered-by');
app.get('/', (_req, res) => {
  res.json({ hello: 'world' });
});
app.get('/pid', (_req, res) => {
  res.type('text/plain').send(String(process.pid));
});
export default app;
