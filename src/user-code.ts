/**
 * Calling code tsunicorn does not own (the app, its upgrade and shutdown handlers, config hooks), which may be
 * synchronous or return a promise. A throw and a rejection go to the same `onError`, never to the caller, so a
 * faulty handler is reported once and cannot crash the arbiter or a worker.
 */

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  );
}

/** Calls `fn(...args)` without waiting for it; a throw or a later rejection goes to `onError(err, ...args)`. */
export function callUserCode<A extends unknown[]>(
  fn: (...args: A) => unknown,
  onError: (err: unknown, ...args: A) => void,
  ...args: A
): void {
  try {
    const result = fn(...args);
    if (isThenable(result)) result.then(undefined, (err: unknown) => onError(err, ...args));
  } catch (err) {
    onError(err, ...args);
  }
}

/** Calls `fn(...args)` and resolves once it has settled; a throw or rejection goes to `onError`. Never rejects. */
export async function awaitUserCode<A extends unknown[]>(
  fn: (...args: A) => unknown,
  onError: (err: unknown) => void,
  ...args: A
): Promise<void> {
  try {
    await fn(...args);
  } catch (err) {
    onError(err);
  }
}
