/**
 * Stop signals as a person means them. One Ctrl-C in a terminal often reaches a worker twice: the terminal
 * sends SIGINT to every process of the foreground group, and a launcher in that group (`npx tsx`, `npm run`,
 * `npx`) forwards the SIGINT it got to its child as well, some milliseconds later. Taken literally, that is
 * "second signal: stop now", and the running tasks would be put back instead of finishing.
 *
 * So a repeat of the same signal within `repeatWindowMs` (default 1 s) of the first is taken as the same
 * request; a person who means "now" presses again a moment later, or sends the other signal. The window is
 * measured on the monotonic clock.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from './logger.ts';

/** What the helper decided about one signal. */
export type StopRequest = 'stop' | 'stop-now' | 'repeat';

export interface StopSignalOptions {
  /** A repeat of the same signal this soon after the first is the same request, ms. @default 1000 */
  readonly repeatWindowMs?: number;
  /** Monotonic clock, ms (tests). @default performance.now */
  readonly now?: () => number;
}

/** The default window, ms: longer than a launcher takes to forward a signal, shorter than a deliberate second press. */
export const REPEAT_WINDOW_MS = 1000;

/**
 * Returns a listener for `process.on('SIGINT' | 'SIGTERM', …)` that calls `onRequest` once per signal with
 * what it means: the first is `stop`; the same signal again within the window is `repeat`; anything after
 * that (the same signal later, or the other signal at any time) is `stop-now`.
 */
export function stopSignalListener(
  onRequest: (request: StopRequest, signal: NodeJS.Signals, sinceFirstMs: number) => void,
  options: StopSignalOptions = {},
): (signal: NodeJS.Signals) => void {
  const windowMs = options.repeatWindowMs ?? REPEAT_WINDOW_MS;
  if (!Number.isFinite(windowMs) || windowMs < 0) {
    throw new RangeError(`Expected \`repeatWindowMs\` to be a number of ms, 0 or more, got \`${String(windowMs)}\``);
  }
  const clock = options.now ?? (() => performance.now());
  let first: { signal: NodeJS.Signals; at: number } | undefined;
  return (signal) => {
    const at = clock();
    if (first === undefined) {
      first = { signal, at };
      onRequest('stop', signal, 0);
      return;
    }
    const since = at - first.at;
    onRequest(signal === first.signal && since < windowMs ? 'repeat' : 'stop-now', signal, since);
  };
}

/**
 * Listens for SIGTERM and SIGINT with `stopSignalListener`; returns the function that stops listening. The
 * one place a process of this package wires its stop signals.
 */
export function onStopSignals(
  onRequest: (request: StopRequest, signal: NodeJS.Signals, sinceFirstMs: number) => void,
  options: StopSignalOptions = {},
): () => void {
  const listener = stopSignalListener(onRequest, options);
  process.on('SIGTERM', listener);
  process.on('SIGINT', listener);
  return () => {
    process.off('SIGTERM', listener);
    process.off('SIGINT', listener);
  };
}

/**
 * A worker's stop signals, logged: the first asks for a stop that lets running tasks finish, a later one (or any
 * while `closing()` says a stop is under way) for a stop now; a repeat within the window is the same request.
 */
export function onWorkerStopSignals(logger: Logger, queue: string, closing: () => boolean, close: (now: boolean) => void): () => void {
  return onStopSignals((request, signal, sinceFirstMs) => {
    if (request === 'repeat') {
      logger.info(
        { queue, signal, sinceFirstMs: Math.round(sinceFirstMs) },
        `${signal} again within ${REPEAT_WINDOW_MS} ms: taken as the same request`,
      );
      return;
    }
    const now = request === 'stop-now' || closing();
    logger.warn(
      { queue, signal },
      now
        ? 'second signal: stopping now, putting running tasks back'
        : `stopping: running tasks may finish (signal again after ${REPEAT_WINDOW_MS / 1000} s to stop at once)`,
    );
    close(now);
  });
}
