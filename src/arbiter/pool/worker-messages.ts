/**
 * What the pool does with each message a worker sends (src/protocol.ts): one handler per message type,
 * called from the arbiter loop. Boot (hello, ready, boot-error), heartbeats with their recycling and
 * keep-alive balance rules, and the worker's own requests (a spare handle, retirement, a request timeout).
 */
import { callHookSync, hasWorkerHooks } from '../../config/hooks.js';
import type { Settings } from '../../config/settings.js';
import type { Dispatch, WorkerToArbiter } from '../../protocol.js';
import { connectionsToShed } from '../decisions/balance.js';
import { beatTime } from '../decisions/liveness.js';
import { requestTimedOut } from '../timeouts.js';
import type { PoolContext, WorkerPool } from './pool.js';
import { type WorkerRecord, WorkerState, bootWorker, isLive, now, sendToWorker } from './worker-record.js';

/** Most spare handles sent for one ask. */
const MAX_SPARES_PER_ASK = 8;
/** Heartbeats in a row above --max-worker-memory before the worker is recycled. */
const RSS_STRIKES = 3;

export type MessageHandlers = Dispatch<WorkerToArbiter, [WorkerRecord, PoolContext]>;

/** Keep-alive balance (balance.ts): a ready async worker well over its share sheds the excess. */
function balance(pool: WorkerPool, w: WorkerRecord, settings: Settings): void {
  if (settings.workerClass !== 'async' || settings.keepAlive === 0 || w.state !== WorkerState.Ready) return;
  const counts: number[] = [];
  for (const o of pool.values()) if (o.state === WorkerState.Ready) counts.push(o.connections);
  const count = connectionsToShed(w.connections, counts, pool.canary?.onTrial === true);
  if (count > 0) sendToWorker(w, { t: 'shed', count });
}

/** A worker is serving: its generation's canary window may open, and the whenReady hook may be due. */
function onReady(pool: WorkerPool, w: WorkerRecord, ctx: PoolContext): void {
  w.state = WorkerState.Ready;
  w.readyAt = now();
  w.lastBeat = now();
  pool.history.ready();
  pool.log.debug(`Worker (pid:${w.pid}) is ready`);
  const trial = pool.canary;
  if (trial?.onTrial && trial.workerId === w.id) {
    const old = [...pool.values()].filter((o) => o.generation !== w.generation && o.state === WorkerState.Ready);
    trial.open(
      w.id,
      now(),
      old.map((o) => ({ id: o.id, snapshot: pool.snapshots.get(o.id) ?? null })),
    );
    pool.log.info(`Canary (pid:${w.pid}) serving beside ${old.length} old workers for ${trial.seconds} s`);
  }
  if (!pool.history.whenReadyCalled && pool.countReady() >= pool.target) {
    pool.history.whenReadyCalled = true;
    callHookSync(ctx.hooks, 'whenReady', pool.reportHook, pool.serverInfo(ctx.settings));
  }
}

export function workerMessages(pool: WorkerPool): MessageHandlers {
  return {
    hello: (_msg, w, ctx) => {
      w.hello = true;
      // Retired or stopped before it could hear it: tell it now instead of booting it.
      if (w.state === WorkerState.Retiring || w.state === WorkerState.Stopping)
        sendToWorker(w, { t: 'stop', graceful: true });
      else bootWorker(w, ctx.settings, hasWorkerHooks(ctx.hooks), ctx.tls);
    },
    ready: (_msg, w, ctx) => {
      if (w.state === WorkerState.Booting) onReady(pool, w, ctx);
    },
    'boot-error': (msg, w) => {
      w.bootError = msg.exitCode;
      // All workers of a generation fail alike: print the cause once.
      if (pool.history.bootErrorReported.has(w.generation)) return;
      pool.history.bootErrorReported.add(w.generation);
      pool.log.error(msg.message);
      if (msg.stack) pool.log.debug(msg.stack);
    },
    'need-spare': (msg, w) => {
      const l = w.listeners[msg.index];
      const count = Math.min(Math.max(1, msg.count), MAX_SPARES_PER_ASK);
      if (l) for (let i = 0; i < count; i++) sendToWorker(w, { t: 'listener', info: l.info, spare: true }, l.handle);
    },
    beat: (msg, w, ctx) => {
      w.lastBeat = beatTime(msg.at, now(), w.lastBeat);
      w.requests = msg.requests;
      w.inFlight = msg.inFlight;
      w.connections = msg.connections;
      w.rss = msg.rss;
      const { heapUsed, heapLimit, loopIdleMs, loopActiveMs, latency } = msg;
      w.load = { heapUsed, heapLimit, loopIdleMs, loopActiveMs, latency };
      balance(pool, w, ctx.settings);
      if (msg.metrics) pool.snapshots.set(w.id, msg.metrics);
      if (pool.canary?.workerId === w.id) pool.canary.beat(msg.at);
      ctx.metrics?.workerBeat(w, msg.metrics);
      const limit = ctx.settings.maxWorkerMemory * 1024 * 1024;
      w.rssHigh = limit > 0 && msg.rss > limit ? w.rssHigh + 1 : 0;
      if (w.rssHigh >= RSS_STRIKES && w.state === WorkerState.Ready) {
        const mb = Math.round(msg.rss / 1048576);
        const max = ctx.settings.maxWorkerMemory;
        pool.log.warning(`Worker (pid:${w.pid}) uses ${mb} MB, above --max-worker-memory ${max} MB; replacing it`);
        pool.retire(w, 'memory', ctx.settings);
      }
    },
    retiring: (_msg, w, ctx) => {
      if (isLive(w)) pool.retire(w, 'max-requests', ctx.settings);
    },
    'request-timeout': (msg, w, ctx) => requestTimedOut(w, msg, ctx.settings, pool.log),
    // --diagnostics-dir: written by the arbiter (diagnostics/diagnostics-dir.ts).
    report: () => {},
  };
}
