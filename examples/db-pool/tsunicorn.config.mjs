// Per-worker resources: each worker opens its own pool once it has loaded the app (postWorkerInit),
// and closes it as it exits after a graceful stop (workerExit): on TERM, on a HUP reload, on
// --max-requests. Run from this directory, where tsunicorn finds this file by itself:
//   cd examples/db-pool && node ../../bin/tsunicorn.js
import { pool } from './pool.mjs';

export default {
  app: 'app.mjs',
  workers: 2,
  bind: ['127.0.0.1:8000'],

  // Runs in the worker, before it listens: no request can arrive before the pool is open.
  async postWorkerInit(worker) {
    await pool.open();
    console.error(`db-pool: worker ${worker.pid} opened ${pool.size} handles on ${pool.file}`);
  },

  // Runs in the worker once its connections have closed (or been closed at --graceful-timeout).
  async workerExit(worker) {
    await pool.close();
    console.error(`db-pool: worker ${worker.pid} closed its pool`);
  },
};
