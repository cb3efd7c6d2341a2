#!/usr/bin/env node
// Launcher only: check the Node version, then hand over to the compiled CLI.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  process.stderr.write(`tsunicorn: error: Node.js >= 20.19 is required; this is ${process.version}\n`);
  process.exit(1);
}

let cli;
try {
  cli = await import('../dist/cli.js');
} catch (err) {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli.js')) {
    process.stderr.write('tsunicorn: error: not built; run `npm run build` first\n');
    process.exit(1);
  }
  throw err;
}
process.exitCode = await cli.main();
// Exit now: a loaded app may hold timers or handles that would keep the process alive.
process.exit(process.exitCode);
