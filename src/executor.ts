/** How a worker runs a task: in its own process, or in a child process. The worker does the rest. */
import type { FlowHandler } from './flow-types.ts';
import type { TaskEntry } from './payload.ts';
import type { RetryAdvice } from './retry.ts';

export type RunOutcome =
  | { readonly kind: 'success'; readonly value: unknown }
  /** `retry`: what the task's retry policy says (computed where its definition lives); absent: no retry. */
  | { readonly kind: 'thrown'; readonly error: Error; readonly retry?: RetryAdvice }
  | { readonly kind: 'timeout'; readonly signal?: NodeJS.Signals }
  /** `started` false: the process died before the task reached it (the task never ran: not a cut-off). */
  | { readonly kind: 'crashed'; readonly exitCode: number | null; readonly signal: NodeJS.Signals | null; readonly started?: boolean }
  | { readonly kind: 'unknown-task' }
  /**
   * Ended by the worker itself (stop, lost lease): the worker decides what becomes of the task. `started` is
   * false for a run that ended before its task was handed to a process (it never ran).
   */
  | { readonly kind: 'killed'; readonly started: boolean }
  /** Ended because the task was cancelled (`queue.cancel`): a child's process group was killed, an in-process run's signal aborted. */
  | { readonly kind: 'cancelled' };

export interface Executor {
  /** Loads the task modules (and starts children); rejects with a ModuleLoadError when they do not load. */
  start(): Promise<void>;
  run(task: TaskEntry): Promise<RunOutcome>;
  /**
   * How many runs could start right now without waiting (ready children with nothing to do; in-process:
   * unlimited). The worker takes no more tasks than this, so it never holds work it cannot start.
   */
  available(): number;
  /** Called when `available()` may have grown (a child became ready). */
  onAvailable?: () => void;
  /**
   * Ends every run; each ends with 'killed'. 'stop': the task may react (SIGTERM, then SIGKILL after the
   * grace period); 'lost': the lease is gone and the task may already run elsewhere, so at once (SIGKILL).
   */
  killAll(how?: 'stop' | 'lost'): void;
  /**
   * Ends the run of task `taskId` (if this executor runs it) with 'cancelled': a child's process group gets
   * SIGTERM, then SIGKILL after the grace period; an in-process run's signal aborts (cooperative).
   */
  cancel(taskId: string): void;
  /** Stops for good; always resolves. */
  close(): Promise<void>;
  /** Called when a running task reports progress (`taskContext().progress`). */
  onProgress?: (taskId: string, value: unknown) => void;
  /** Answers a running task's `limit()` and `semaphore()` calls (set by the worker, src/flow-host.ts). */
  flow?: FlowHandler;
  /** Called with a fatal error when the executor can no longer run tasks (e.g. children stop loading). */
  onFatal?: (error: Error) => void;
}

/** A non-Error thrown value made into an Error, keeping what can be said about it. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  let text: string;
  try {
    text = typeof thrown === 'string' ? thrown : (JSON.stringify(thrown) ?? String(thrown));
  } catch {
    text = String(thrown);
  }
  const error = new Error(`A non-Error value was thrown: ${text.slice(0, 1000)}`);
  error.name = 'NonErrorThrown';
  return error;
}
