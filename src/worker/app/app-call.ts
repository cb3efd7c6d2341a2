/**
 * Calling the app's function from tsunicorn's request path without letting V8 inline it there: TurboFan
 * inlines a callee whose call site has only seen that one function, and the app's code then gets recompiled
 * with the worker's feedback, several times slower for a CPU-bound app (docs/benchmarks.md).
 *
 * Node's own http server calls the request listener through EventEmitter.prototype.emit, whose call site is
 * megamorphic, so TurboFan does not inline through it. The app is called the same way here, for one emit per
 * request. `test/integration/app-inlining.test.ts` checks with V8's inlining trace.
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
