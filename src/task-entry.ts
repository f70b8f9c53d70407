/**
 * `delayed-queue/task`: the light entry point for task modules. It has what a module that defines tasks
 * needs (`defineTask`, `taskContext`, `limit`, `semaphore`) and loads no Redis client: a child process of a `PreforkedWorker` or
 * `ForkedWorker` that imports the task module this way starts ~70 ms of CPU sooner than one that imports
 * the whole package (measured on a 2-core VM: ~20 ms against ~85 ms). Handles enqueue through any `Enqueuer`,
 * a `Queue` from the main entry point included.
 */
export { defineTask, type Task, type TaskCall, type AnyTask, type EnqueueOptions, type Enqueuer } from './task.ts';
export { taskContext, type TaskContext } from './context.ts';
export { limit, semaphore, LimitedError, type LimitOptions, type SemaphoreOptions, type Slot } from './flow.ts';
export { TaskDefinitionError } from './errors.ts';
