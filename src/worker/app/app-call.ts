/**
 * Calling the app's function from tsunicorn's request path without letting V8
 * inline it there.
 *
 * TurboFan inlines a callee into its caller when the call site has only ever
 * seen that one function, and the app's request listener is exactly that: one
 * function, called from one place in the worker. Inlined, the app's code is
 * compiled again each time the worker's own functions are, with the worker's
 * feedback: a keep-alive balance `shed` (a branch handleRequest had not taken
 * before) made TurboFan recompile handleRequest with the app inside, and the
 * bench's CPU-bound endpoint then ran at 580 req/s on 2 workers against 1,890
 * before (and for node:cluster), every core busy. Earlier the same inlining had
 * made it 4× slower on one worker.
 *
 * Node's own http server never meets this: it calls the request listener
 * through EventEmitter.prototype.emit, whose call site sees every listener of
 * every emitter in the process, so it is megamorphic and TurboFan does not
 * inline through it. The app is called the same way here, so it is compiled
 * as it would be under plain node:http. The cost is one emit per request.
 * `test/integration/app-inlining.test.ts` checks with V8's inlining trace.
 */
import { EventEmitter } from 'node:events';

/**
 * A function that calls `fn` through EventEmitter.prototype.emit and returns
 * what it returned. A throw from `fn` propagates to the caller.
 */
export function callThroughEmit<A, B, R>(fn: (a: A, b: B) => R): (a: A, b: B) => R {
  const emitter = new EventEmitter();
  let result: R | undefined;
  // The only code that calls `fn` directly: a thunk with no branches, compiled once.
  const appThunk = (a: A, b: B): void => {
    result = fn(a, b);
  };
  emitter.on('call', appThunk);
  // `result` is undefined between calls (a throw leaves it unset), and reset after each so that it
  // does not hold the last return value (a promise, a Response) alive.
  const callViaEmit = (a: A, b: B): R => {
    emitter.emit('call', a, b);
    const r = result as R;
    result = undefined;
    return r;
  };
  return callViaEmit;
}
