/**
 * One close/destroy lifecycle for everything tsunicorn opens and later ends (a worker's HTTP server, the control
 * socket, the metrics endpoint, a log writer), after undici's DispatcherBase: two flags and the callbacks waiting
 * on each. `close()` ends gracefully and `destroy()` at once; both may be called any number of times, in any order,
 * and each resolves when its end is reached. A destroy during a close overtakes it and also settles the close.
 */
export interface Ending {
  /** Begin a graceful end; call `done` once it is complete. Runs at most once. */
  close(done: () => void): void;
  /** End now; call `done` once nothing is left. Runs at most once, possibly while `close` is still under way. */
  destroy(done: () => void): void;
}

export class Lifecycle {
  #closed = false;
  #destroyed = false;
  #closeDone = false;
  #destroyDone = false;
  #onClosed: Array<() => void> = [];
  #onDestroyed: Array<() => void> = [];

  constructor(private readonly ending: Ending) {}

  /** True once close() or destroy() was called: no new work should be taken. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True once destroy() was called. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.#closeDone || this.#destroyDone) return resolve();
      this.#onClosed.push(resolve);
      if (this.#closed) return;
      this.#closed = true;
      this.ending.close(() => this.#settleClose());
    });
  }

  destroy(): Promise<void> {
    return new Promise((resolve) => {
      if (this.#destroyDone) return resolve();
      this.#onDestroyed.push(resolve);
      if (this.#destroyed) return;
      this.#destroyed = true;
      this.#closed = true;
      this.ending.destroy(() => {
        this.#destroyDone = true;
        this.#settleClose();
        for (const cb of this.#onDestroyed.splice(0)) cb();
      });
    });
  }

  #settleClose(): void {
    this.#closeDone = true;
    for (const cb of this.#onClosed.splice(0)) cb();
  }
}
