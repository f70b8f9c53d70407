/**
 * A worker with `concurrency` long-lived child processes; tasks go to them over IPC. A child is replaced
 * after it crashes or times out, after `maxTasksPerChild` tasks, or when its RSS passes `maxRssBytes`.
 * The timeout is hard: the child's whole process group is stopped.
 */
import { ChildPool } from './child-pool.ts';
import type { Executor } from './executor.ts';
import { childExecArgv, childModules, type ForkedWorkerOptions } from './forked-worker.ts';
import { limitOption } from './options.ts';
import type { TaskModule } from './task.ts';
import { Worker } from './worker.ts';

export interface PreforkedWorkerOptions extends ForkedWorkerOptions {
  /** Replace a child after this many tasks. @default Infinity */
  readonly maxTasksPerChild?: number;
  /** Replace a child whose resident memory passed this many bytes after a task. @default Infinity */
  readonly maxRssBytes?: number;
}

/**
 * Runs tasks in `concurrency` long-lived child processes, one task at a time each, with a hard timeout (as
 * `ForkedWorker`). A child is replaced after it crashes or times out, after `maxTasksPerChild` tasks, or when
 * its memory passed `maxRssBytes`. The kind for most work. `tasks` are module paths or URLs.
 *
 * @example
 * const worker = new PreforkedWorker({ queue, tasks: [new URL('./tasks.js', import.meta.url)], concurrency: 4 });
 * await worker.run(); // until SIGTERM / Ctrl-C
 */
export class PreforkedWorker extends Worker {
  readonly #modules: TaskModule[];
  readonly #execArgv: string[];
  readonly #maxTasksPerChild: number;
  readonly #maxRssBytes: number;

  constructor(options: PreforkedWorkerOptions) {
    super('preforked', options);
    this.#modules = childModules(options.tasks);
    this.#execArgv = childExecArgv(options.childExecArgv);
    this.#maxTasksPerChild = limitOption('maxTasksPerChild', options.maxTasksPerChild, Infinity, 1);
    this.#maxRssBytes = limitOption('maxRssBytes', options.maxRssBytes, Infinity, 1);
  }

  protected override createExecutor(): Executor {
    return new ChildPool({
      modules: this.#modules,
      size: this.concurrency,
      tasksPerChild: this.#maxTasksPerChild,
      maxRssBytes: this.#maxRssBytes,
      killGraceMs: this.killGraceMs,
      execArgv: this.#execArgv,
    });
  }
}
