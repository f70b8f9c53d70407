/** What a running task can learn about itself, through `taskContext()`. */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface TaskContext {
  readonly id: string;
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
