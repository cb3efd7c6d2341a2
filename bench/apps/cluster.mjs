// Raw node:cluster: a primary forking WORKERS (default 2) copies of serve.mjs.
// NODE_CLUSTER_SCHED_POLICY=none|rr in the environment picks the scheduling policy
// (node:cluster reads it when first loaded).
import cluster from 'node:cluster';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const workers = Number(process.env.WORKERS ?? 2);
cluster.setupPrimary({ exec: path.join(path.dirname(fileURLToPath(import.meta.url)), 'serve.mjs') });
for (let i = 0; i < workers; i++) cluster.fork();
let stopping = false;
const stop = () => {
  stopping = true;
  for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
  cluster.disconnect(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
cluster.on('exit', (w, code) => {
  if (!stopping) process.stderr.write(`cluster.mjs: worker ${w.process.pid} exited with ${code}\n`);
});
