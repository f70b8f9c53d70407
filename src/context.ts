/** What a running task can learn about itself, through `taskContext()`. */
import { AsyncLocalStorage } from 'node:async_hooks';

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
  /** Aborted when the run's timeout passes (in-process workers) or the worker stops. */
  readonly signal: AbortSignal;
}

const storage = new AsyncLocalStorage<TaskContext>();

/** The context of the task running now, or undefined outside a task (e.g. when a task is called directly). */
export function taskContext(): TaskContext | undefined {
  return storage.getStore();
}

export function runInContext<R>(context: TaskContext, fn: () => R): R {
  return storage.run(context, fn);
}
