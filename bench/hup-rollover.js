#!/usr/bin/env node
// HUP rollover time: from HUP to "all new workers ready and all old workers gone",
// with 4 workers on the example app, on an idle box. Median of N rounds.
//   node bench/hup-rollover.js [--rounds 9] [--workers 4]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { numberOption } from './options.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const rounds = numberOption('rounds', 9);
const workers = numberOption('workers', 4);

const children = (pid) => {
  try {
    const text = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text ? text.split(/\s+/).map(Number) : [];
  } catch {
    return [];
  }
};

const server = spawn(
  process.execPath,
  [
    path.join(root, 'bin/tsunicorn.js'),
    'examples/hello.js:app',
    '-w',
    String(workers),
    '-b',
    '127.0.0.1:0',
    '--log-level',
    'debug',
  ],
  {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
  },
);
let log = '';
server.stderr.on('data', (c) => (log += c));
const ready = () => (log.match(/is ready$/gm) ?? []).length;

async function until(what, fn, ms = 20_000) {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

try {
  await until('first workers', () => ready() >= workers);
  const times = [];
  for (let i = 0; i < rounds; i++) {
    const old = new Set(children(server.pid));
    const before = ready();
    const t0 = performance.now();
    server.kill('SIGHUP');
    await until('rollover', () => {
      const now = children(server.pid);
      return ready() >= before + workers && now.length === workers && now.every((p) => !old.has(p));
    });
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  const result = {
    bench: 'hup-rollover',
    node: process.version,
    workers,
    rounds,
    medianMs: Math.round(median),
    minMs: Math.round(times[0]),
    maxMs: Math.round(times.at(-1)),
  };
  console.log(JSON.stringify(result));
  console.log(
    `HUP rollover of ${workers} workers: median ${result.medianMs} ms (min ${result.minMs}, max ${result.maxMs}) over ${rounds} rounds — target < 1500 ms: ${median < 1500 ? 'PASS' : 'FAIL'}`,
  );
  process.exitCode = median < 1500 ? 0 : 1;
} finally {
  server.kill('SIGTERM');
}
