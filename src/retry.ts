/**
 * Whether a run that threw is run again, and after how long: decided where the task's definition lives (the
 * worker process for inline tasks, the child process for the others), from the definition's policy and the
 * per-call options the entry carries. The answer travels with the outcome; the processor then schedules the
 * retry with `lua/retry.lua` (token-checked: only the run that still holds the entry can).
 */
import { DEFAULT_BACKOFF, type ResolvedBackoff, retryDelay } from './backoff.ts';
import type { RetryPolicy } from './task.ts';

/** What the retry policy says about a thrown error. */
export type RetryAdvice =
  | { readonly retry: true; readonly delayMs: number }
  /** `why`: a sentence for logs and the failure, e.g. "retries exhausted (2 of 2)". */
  | { readonly retry: false; readonly why: string };

/** What the entry says about this task's retries. */
export interface RetryState {
  /** Runs that threw before this one. */
  readonly failures: number;
  /** Per-call retries, overriding the definition's. */
  readonly retries?: number | undefined;
  readonly backoff?: ResolvedBackoff | undefined;
}

/** True for an error that skips retries: a `FatalError`, also one that crossed a process boundary (by name). */
export function isFatal(error: unknown): boolean {
  return error instanceof Error && error.name === 'FatalError';
}

/**
 * The advice for a run that threw `error`, the task having thrown `state.failures` times before. `random` is
 * the jitter's source. Never throws: a `retryIf` or backoff function that throws (or returns a bad delay) ends
 * the retries, and says so.
 */
export function retryAdvice(policy: RetryPolicy | undefined, state: RetryState, error: unknown, random = Math.random): RetryAdvice {
  const retries = state.retries ?? policy?.retries ?? 0;
  if (retries === 0) return { retry: false, why: 'no retries' };
  if (isFatal(error)) return { retry: false, why: 'a FatalError is not retried' };
  if (state.failures >= retries) return { retry: false, why: `retries exhausted (${state.failures} of ${retries})` };
  try {
    if (policy?.retryIf && !policy.retryIf(error)) return { retry: false, why: 'retryIf said no' };
  } catch (err) {
    return { retry: false, why: `retryIf threw: ${(err as Error)?.message ?? String(err)}` };
  }
  const backoff = state.backoff ?? policy?.backoff ?? DEFAULT_BACKOFF;
  try {
    return { retry: true, delayMs: retryDelay(backoff, state.failures + 1, error, random) };
  } catch (err) {
    return { retry: false, why: `the backoff failed: ${(err as Error)?.message ?? String(err)}` };
  }
}
