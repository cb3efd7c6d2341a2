// Express 5 on tsunicorn. An Express app is a Node request listener: name it as MODULE:EXPORT.
//   node bin/tsunicorn.js examples/express/app.mjs:app -w 2 -b 127.0.0.1:8000
import express from 'express';

export const app = express();
app.use(express.json());

app.get('/', (req, res) => {
  res.json({ framework: 'express', pid: process.pid });
});

app.post('/echo', (req, res) => {
  res.json({ echo: req.body });
});

// Express 5 passes a rejected promise from a handler to the error middleware.
app.get('/boom', async () => {
  throw new Error('boom from express');
});

// Express answers unmatched routes with 404 itself, and catches errors itself: tsunicorn never sees
// them. Log them here (Express's default handler stays silent under NODE_ENV=test); the worker's
// stderr is tsunicorn's (or its --error-logfile with --capture-output).
app.use((err, req, res, _next) => {
  const status = err.status ?? err.statusCode ?? 500;
  if (status >= 500) console.error(`express: error handling ${req.method} ${req.originalUrl}:`, err);
  res.status(status).json({ error: status >= 500 ? 'Internal Server Error' : err.message });
});
