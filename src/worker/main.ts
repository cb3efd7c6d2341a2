/**
 * Worker process entry. The arbiter forks this module through node:cluster; the process itself is one
 * WorkerProcess (process/worker-process.ts).
 */
import cluster from 'node:cluster';
import process from 'node:process';
import { ExitCode } from '../errors.js';
import { WorkerProcess } from './process/worker-process.js';

if (!cluster.isWorker) {
  process.stderr.write('tsunicorn: the worker entry must be started by the arbiter\n');
  process.exit(ExitCode.USAGE);
}

new WorkerProcess().start();
