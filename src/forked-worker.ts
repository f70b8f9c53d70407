/**
 * A worker that runs each task in a fresh child process, which exits after the task: nothing leaks from one
 * task to the next. Children are started ahead (one warm child per slot), so a task does not wait for a
 * process to boot. The timeout is hard: the child's whole process group is stopped.
 */
import { ChildPool, inheritedExecArgv } from './child-pool.ts';
import { InvalidOptionError } from './errors.ts';
import type { Executor } from './executor.ts';
import { isTask, type TaskModule } from './task.ts';
import { Worker, type WorkerOptions } from './worker.ts';

export interface ForkedWorkerOptions extends WorkerOptions {
  /** Task modules (paths or URLs); children import them, so task handles cannot be passed here. */
  readonly tasks: readonly TaskModule[];
  /** Node flags for the children, after the parent's own (e.g. `['--max-old-space-size=256']`). @default [] */
  readonly childExecArgv?: readonly string[];
}

export function childModules(tasks: readonly unknown[]): TaskModule[] {
  for (const spec of tasks) {
    if (isTask(spec)) {
      throw new InvalidOptionError(
        `Task handles cannot be sent to child processes: give the path or URL of the module that exports ${JSON.stringify(spec.taskName)}`,
      );
    }
    if (typeof spec !== 'string' && !(spec instanceof URL)) {
      throw new InvalidOptionError(`Expected every entry of \`tasks\` to be a module path or URL, got \`${typeof spec}\``);
    }
  }
  return tasks as TaskModule[];
}

export function childExecArgv(extra: readonly string[] | undefined): string[] {
  if (extra !== undefined && (!Array.isArray(extra) || extra.some((a) => typeof a !== 'string'))) {
    throw new InvalidOptionError('Expected `childExecArgv` to be an array of strings');
  }
  return [...inheritedExecArgv(), ...(extra ?? [])];
}

/**
 * Runs each task in a fresh child process (one is started ahead of need, so a task does not wait for it), with
 * a hard timeout: SIGTERM to the child's process group, SIGKILL after `killGraceMs`. For tasks that leak or must
 * not share state. `tasks` are module paths or URLs, which the children import.
 */
export class ForkedWorker extends Worker {
  readonly #modules: TaskModule[];
  readonly #execArgv: string[];

  constructor(options: ForkedWorkerOptions) {
    super('forked', options);
    this.#modules = childModules(options.tasks);
    this.#execArgv = childExecArgv(options.childExecArgv);
  }

  protected override createExecutor(): Executor {
    return new ChildPool({
      modules: this.#modules,
      size: this.concurrency,
      tasksPerChild: 1,
      maxRssBytes: Infinity,
      killGraceMs: this.killGraceMs,
      execArgv: this.#execArgv,
    });
  }
}
