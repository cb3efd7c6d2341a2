#!/usr/bin/env node
// Access-log overhead: hello-world keep-alive throughput with the access log on (to a file) against
// off, 2 workers each, interleaved rounds, median ratio. Target: >= 0.85.
//   node bench/access-log.js [--rounds 5] [--seconds 3]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { numberOption } from './options.js';
import { startHello, wrkHello } from './overhead-harness.js';

const rounds = numberOption('rounds', 5);
const seconds = numberOption('seconds', 3);
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsu-bench-'));

const wrk = (port) => wrkHello(port, seconds).rps;

const off = startHello([]);
const on = startHello(['--access-logfile', path.join(logDir, 'access.log')]);
try {
  const [portOff, portOn] = [await off.port(), await on.port()];
  wrk(portOff); // warm-up
  wrk(portOn);
  const ratios = [];
  for (let i = 0; i < rounds; i++) {
    const a = wrk(portOff);
    const b = wrk(portOn);
    ratios.push(b / a);
    console.log(`round ${i + 1}: off ${a.toFixed(0)} req/s, on ${b.toFixed(0)} req/s, ratio ${(b / a).toFixed(3)}`);
  }
  ratios.sort((x, y) => x - y);
  const median = ratios[Math.floor(ratios.length / 2)];
  console.log(
    JSON.stringify({
      bench: 'access-log',
      node: process.version,
      rounds,
      medianRatio: Number(median.toFixed(3)),
      min: Number(ratios[0].toFixed(3)),
      max: Number(ratios.at(-1).toFixed(3)),
    }),
  );
  console.log(`access log on / off: median ${median.toFixed(3)} — target >= 0.85: ${median >= 0.85 ? 'PASS' : 'FAIL'}`);
  process.exitCode = median >= 0.85 ? 0 : 1;
} finally {
  off.child.kill('SIGTERM');
  on.child.kill('SIGTERM');
  fs.rmSync(logDir, { recursive: true, force: true });
}
