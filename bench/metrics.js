#!/usr/bin/env node
// Metrics overhead: hello-world keep-alive load with --statsd-host, with --metrics-bind, and with both,
// against neither; 2 workers each, interleaved rounds. Reports the server's CPU time per request
// (arbiter + workers, from /proc: robust to other load on the box, unlike requests/s) and the
// throughput ratio to "off", medians over rounds. The StatsD target is a UDP socket that never reads
// (the kernel drops what overflows), so the figure is the sender's cost alone, as with a StatsD
// daemon on another host.
//   node bench/metrics.js [--rounds 5] [--seconds 3] [--only off,statsd,metrics,both]
import { spawn } from 'node:child_process';
import { numberOption } from './options.js';
import { startHello, wrkHello } from './overhead-harness.js';
import { TICKS_PER_SECOND, cpuTicks, tree } from './proc.js';

const args = process.argv.slice(2);
const rounds = numberOption('rounds', 5);
const seconds = numberOption('seconds', 3);

/** A bound UDP socket nobody reads from. */
function udpSink() {
  const child = spawn(
    'python3',
    [
      '-c',
      [
        'import socket, time',
        's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
        "s.bind(('127.0.0.1', 0))",
        'print(s.getsockname()[1], flush=True)',
        'time.sleep(86400)',
      ].join('\n'),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return {
    child,
    port: new Promise((resolve) => child.stdout.once('data', (d) => resolve(Number(String(d).trim())))),
  };
}

/** One wrk run: requests/s, and the server tree's CPU µs per request. */
function wrk(server, port) {
  const ticks = () => tree(server.child.pid).reduce((n, pid) => n + cpuTicks(pid), 0);
  const before = ticks();
  const { rps, requests } = wrkHello(port, seconds);
  const cpu = ticks() - before;
  return { rps, cpuUs: (cpu * 1e6) / TICKS_PER_SECOND / requests };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const sink = udpSink();
const statsd = ['--statsd-host', `127.0.0.1:${await sink.port}`];
const prom = ['--metrics-bind', '127.0.0.1:0'];
const flagsOf = { off: [], statsd, metrics: prom, both: [...statsd, ...prom] };
// --only off,both,both: run these (repeats allowed, to see the spread between identical servers).
const only = args.includes('--only')
  ? args[args.indexOf('--only') + 1].split(',')
  : ['off', 'statsd', 'metrics', 'both'];
const variants = only.map((name, i) => [
  only.indexOf(name) === i ? name : `${name}#${i}`,
  startHello(['--no-control-socket', ...flagsOf[name]]),
]);
try {
  const ports = await Promise.all(variants.map(([, s]) => s.port()));
  for (const [i, [, s]] of variants.entries()) wrk(s, ports[i]); // warm-up
  const runs = variants.map(() => []);
  for (let i = 0; i < rounds; i++) {
    // Rotate the order each round, so no variant always runs right after another.
    const results = new Array(variants.length);
    for (let k = 0; k < variants.length; k++) {
      const j = (i + k) % variants.length;
      results[j] = wrk(variants[j][1], ports[j]);
    }
    for (const [j, r] of results.entries()) runs[j].push(r);
    console.log(
      `round ${i + 1}: ${variants.map(([name], j) => `${name} ${results[j].rps.toFixed(0)} req/s ${results[j].cpuUs.toFixed(1)} µs/req`).join(', ')}`,
    );
  }
  const offCpu = median(runs[0].map((r) => r.cpuUs));
  const summary = {};
  variants.forEach(([name], j) => {
    const cpu = median(runs[j].map((r) => r.cpuUs));
    summary[name] = {
      cpuUsPerRequest: Number(cpu.toFixed(2)),
      extraCpuUsPerRequest: Number((cpu - offCpu).toFixed(2)),
      medianRpsRatio: Number(median(runs[j].map((r, i) => r.rps / runs[0][i].rps)).toFixed(3)),
    };
  });
  console.log(JSON.stringify({ bench: 'metrics', node: process.version, rounds, seconds, ...summary }));
} finally {
  for (const [, s] of variants) s.child.kill('SIGTERM');
  sink.child.kill('SIGTERM');
}
