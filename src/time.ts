/** Waiting with a bound, without leaving a timer behind that would keep the process up after a stop. */

/** Waits for `promise` (settled either way), at most `ms`, or until `signal` aborts; clears its timer. */
export function within(promise: Promise<unknown>, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (signal?.aborted) return done();
    signal?.addEventListener('abort', done, { once: true });
    promise.then(done, done);
  });
}

/**
 * Runs `verdict` once the event loop has read what already arrived. Node runs due timers before it polls its
 * sockets and pipes, so after a busy stretch (a loaded machine, a long synchronous task) a deadline's timer can
 * fire while the reply that came in time still waits unread; one immediate later the poll phase has read it.
 * Every deadline on a reply (a command's, a child's run, a connection's wait) decides through this.
 */
export function afterArrivedIo(verdict: () => void): void {
  setImmediate(verdict);
}

/** `afterArrivedIo` as a promise: resolves once what already arrived has been read. */
export function arrivedIoRead(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
