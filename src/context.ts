/** What a running task can learn about itself, through `taskContext()`. */
import { AsyncLocalStorage } from 'node:async_hooks';
import { InvalidOptionError } from './errors.ts';
import type { FlowGate } from './flow-types.ts';
import { assertJsonFaithful } from './payload.ts';

/**
 * The running task's own facts, from `taskContext()` inside a task (in a child process or in the worker):
 * its id and name, which run this is, and a signal to stop cooperatively.
 */
export interface TaskContext {
  /** The task id, as `delay` returned it. */
  readonly id: string;
  /** The task's name, as given to `defineTask`. */
  readonly name: string;
  /** 0 on the first run; goes up each time the task was put back. */
  readonly attempt: number;
  /** Aborted when the run's timeout passes (in-process workers), the worker stops, or the task is cancelled. */
  readonly signal: AbortSignal;
  /**
   * Reports how far the task got: any JSON value of at most 1024 bytes (e.g. `{ done: 40, of: 100 }`). The
   * latest value travels with the worker's next lease renewal (no Redis command per call) and shows in
   * `queue.task(id)`, `queueStatus()` and `delayed status`. Throws `InvalidOptionError` for a value that
   * JSON cannot carry or that is larger.
   */
  progress(value: unknown): void;
}

/** The largest progress value, bytes of JSON. */
export const MAX_PROGRESS_BYTES = 1024;

/** Checks a progress value; returns it as it will be shown (parsed back from its JSON). */
export function checkProgress(value: unknown): unknown {
  let text: string | undefined;
  try {
    assertJsonFaithful(value, 'progress');
    text = JSON.stringify(value);
  } catch (err) {
    throw new InvalidOptionError(`Expected progress to be a JSON value, got one that is not: ${(err as Error).message}`);
  }
  if (text === undefined || Buffer.byteLength(text) > MAX_PROGRESS_BYTES)
    throw new InvalidOptionError(
      `Expected progress to be at most ${MAX_PROGRESS_BYTES} bytes of JSON, got ${text === undefined ? 'none' : Buffer.byteLength(text)}`,
    );
  return value;
}

/** Where a run's context keeps its way to the worker for `limit()` and `semaphore()` (src/flow.ts). */
export const FLOW: unique symbol = Symbol('delayed-queue.flow');

/** A run's context as workers and children make it: the public facts and the flow gate. */
export interface RunContext extends TaskContext {
  readonly [FLOW]?: FlowGate;
}

const storage = new AsyncLocalStorage<TaskContext>();

/** The context of the task running now, or undefined outside a task (e.g. when a task is called directly). */
export function taskContext(): TaskContext | undefined {
  return storage.getStore();
}

export function runInContext<R>(context: TaskContext, fn: () => R): R {
  return storage.run(context, fn);
}
