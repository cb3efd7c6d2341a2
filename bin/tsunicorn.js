#!/usr/bin/env node
// Launcher only: check the Node version, then hand over to the compiled CLI.
import { nodeVersionError } from './node-version.js';

const problem = nodeVersionError(process.versions.node);
if (problem) {
  process.stderr.write(`tsunicorn: error: ${problem}\n`);
  process.exit(1);
}

async function load(file) {
  try {
    return await import(file);
  } catch (err) {
    if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(file.slice(3))) {
      process.stderr.write('tsunicorn: error: not built; run `npm run build` first\n');
      process.exit(1);
    }
    throw err;
  }
}

// PID 1 (a container's entrypoint) must reap orphaned processes, which Node cannot do:
// run under tini when it is installed, staying only as a signal relay (src/arbiter/platform/pid1.ts).
if (process.pid === 1) {
  const { runAsPid1 } = await load('../dist/arbiter/platform/pid1.js');
  const relayed = runAsPid1(process.argv.slice(2), process.env);
  if (relayed) process.exit(await relayed);
}

const cli = await load('../dist/cli.js');
process.exitCode = await cli.main();
// Exit now: a loaded app may hold timers or handles that would keep the process alive.
process.exit(process.exitCode);
