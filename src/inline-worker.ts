/**
 * A worker that runs tasks in its own process, many at once (async concurrency): for I/O-bound tasks.
 * Its timeout is cooperative: at the timeout the task's `taskContext().signal` aborts and the task is failed
 * with reason 'timeout', but code that ignores the signal keeps running, and a synchronous loop blocks the
 * whole worker (and its lease renewals). Use ForkedWorker or PreforkedWorker where a task can hang.
 */
import { checkProgress, FLOW, type RunContext, runInContext } from './context.ts';
import { toError, type Executor, type RunOutcome } from './executor.ts';
import type { FlowHandler } from './flow-types.ts';
import type { TaskEntry } from './payload.ts';
import { MAX_TIMER_MS } from './options.ts';
import { retryAdvice } from './retry.ts';
import { loadTasks, type AnyTask, type TaskModule } from './task.ts';
import { Worker, type WorkerOptions } from './worker.ts';

export type InlineWorkerOptions = WorkerOptions;

/** A run that threw, with what the task's retry policy says about it. */
function thrownOutcome(handle: AnyTask, task: TaskEntry, thrown: unknown): RunOutcome {
  const error = toError(thrown);
  return { kind: 'thrown', error, retry: retryAdvice(handle.retry, task, thrown) };
}

class InlineExecutor implements Executor {
  readonly #modules: readonly (TaskModule | AnyTask)[];
  onProgress?: (taskId: string, value: unknown) => void;
  flow?: FlowHandler;
  #tasks = new Map<string, AnyTask>();
  readonly #runs = new Set<{
    readonly id: string;
    readonly abort: (reason: Error) => void;
    readonly settle: (outcome: RunOutcome) => void;
  }>();

  constructor(modules: readonly (TaskModule | AnyTask)[]) {
    this.#modules = modules;
  }

  async start(): Promise<void> {
    this.#tasks = await loadTasks(this.#modules);
  }

  available(): number {
    return Infinity;
  }

  run(task: TaskEntry): Promise<RunOutcome> {
    const handle = this.#tasks.get(task.name);
    if (!handle) return Promise.resolve({ kind: 'unknown-task' });
    return new Promise<RunOutcome>((resolve) => {
      // The abort signal is made only if the task asks for it (most never do); an abort before that is kept.
      let controller: AbortController | undefined;
      let abortedWith: Error | undefined;
      let timer: NodeJS.Timeout | undefined;
      const run = {
        id: task.id,
        abort: (reason: Error) => {
          if (controller) controller.abort(reason);
          else abortedWith ??= reason;
        },
        settle: (outcome: RunOutcome) => {
          if (!this.#runs.delete(run)) return;
          clearTimeout(timer);
          resolve(outcome);
        },
      };
      this.#runs.add(run);
      timer = setTimeout(
        () => {
          run.abort(new Error(`timed out after ${task.timeoutMs} ms`));
          run.settle({ kind: 'timeout' });
        },
        Math.min(task.timeoutMs, MAX_TIMER_MS),
      );
      const context: RunContext = {
        id: task.id,
        name: task.name,
        attempt: task.attempt,
        get signal(): AbortSignal {
          if (!controller) {
            controller = new AbortController();
            if (abortedWith) controller.abort(abortedWith);
          }
          return controller.signal;
        },
        progress: (value: unknown) => this.onProgress?.(task.id, checkProgress(value)),
        [FLOW]: { ask: (request) => this.flow?.(task.id, request) ?? Promise.resolve({ ok: false, error: 'no worker answers' }) },
      };
      try {
        Promise.resolve(runInContext(context, () => handle.fn(...task.args))).then(
          (value) => run.settle({ kind: 'success', value }),
          (thrown: unknown) => run.settle(thrownOutcome(handle, task, thrown)),
        );
      } catch (thrown) {
        run.settle(thrownOutcome(handle, task, thrown));
      }
    });
  }

  killAll(): void {
    for (const run of [...this.#runs]) {
      run.abort(new Error('the worker is stopping'));
      run.settle({ kind: 'killed', started: true });
    }
  }

  /** Cooperative: the run's signal aborts and its outcome is 'cancelled' at once; code that ignores the signal runs on. */
  cancel(taskId: string): void {
    for (const run of [...this.#runs]) {
      if (run.id !== taskId) continue;
      run.abort(new Error('the task was cancelled'));
      run.settle({ kind: 'cancelled' });
    }
  }

  async close(): Promise<void> {
    this.killAll();
  }
}

/**
 * Runs tasks in this process, `concurrency` at once: the cheapest kind, for I/O-bound tasks. Timeouts are
 * cooperative (the run's `taskContext().signal` aborts and the task fails with reason `timeout`; code that
 * ignores the signal keeps running). Takes task modules or task handles in `tasks`.
 */
export class InlineWorker extends Worker {
  constructor(options: InlineWorkerOptions) {
    super('inline', options);
  }

  protected override createExecutor(): Executor {
    return new InlineExecutor(this.options.tasks);
  }
}
