/**
 * What a running task asks its worker for when it calls `limit()` or `semaphore()` (src/flow.ts), and the
 * answers: the same objects travel over IPC between a child process and its worker (src/child-protocol.ts).
 * Types only.
 */

export type FlowRequest =
  /** One call of `limit(key)`: GCRA with this interval and tolerance, ms. */
  | { readonly op: 'limit'; readonly key: string; readonly intervalMs: number; readonly toleranceMs: number }
  /** Take a slot of semaphore `name` (at most `n` holders); when none is free, put the task back after `retryAfterMs`. */
  | { readonly op: 'acquire'; readonly name: string; readonly n: number; readonly retryAfterMs: number }
  /** Give back slot `slot` (a number the acquire answered). */
  | { readonly op: 'release'; readonly slot: number };

export type FlowAnswer =
  /** `waitMs` 0: go ahead (a limit call was charged, or `slot` is held); more: refused, the task is put back that much later. */
  | { readonly ok: true; readonly waitMs: number; readonly slot?: number }
  /** The worker could not answer (Redis unreachable, the run is over, bad input): the task's call throws this. */
  | { readonly ok: false; readonly error: string };

/** Answers a task's request on behalf of the run of task `taskId`; never rejects. */
export type FlowHandler = (taskId: string, request: FlowRequest) => Promise<FlowAnswer>;

/** What the context of a run carries for `limit()` and `semaphore()`: how to reach the worker. */
export interface FlowGate {
  ask(request: FlowRequest): Promise<FlowAnswer>;
}
