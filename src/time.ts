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
