import process from 'node:process';
import type { WorkerToArbiter } from '../../protocol.js';

/** Sends a message to the arbiter; resolves once it is handed to the channel, or at once without one. */
export function sendToArbiter(msg: WorkerToArbiter): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send!(msg, undefined, {}, () => resolve());
  });
}
