/** What handlers and events are told about a task and its outcome. */
import type { TaskEntry } from './payload.ts';

export interface TaskInfo {
  readonly queue: string;
  readonly id: string;
  readonly name: string;
  /** The arguments; undefined when the entry could not be read (reason 'bad-payload'). */
  readonly args: readonly unknown[] | undefined;
  /** 0 on the first run; goes up each time the task was put back. */
  readonly attempt: number;
  /** Runs of this task that were cut off before this one. */
  readonly cutoffs: number;
  /** Runs of this task that threw (and were retried) before this one (set by workers; optional for hand-made infos). */
  readonly failures?: number;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
}

/**
 * Why a task failed for good:
 * - `thrown`: the task threw or rejected (`error`);
 * - `timeout`: it ran past its timeout and was stopped (`signal` for child processes);
 * - `crashed`: its child process died without answering, `maxAttempts` times (`exitCode` / `signal` of the last);
 * - `lost`: the workers running it died or lost their lease, `maxAttempts` times;
 * - `unknown-task`: no loaded module defines a task of that name;
 * - `bad-payload`: the entry in Redis could not be read (`error` says why);
 * - `cancelled`: `queue.cancel(id)` stopped it while it ran (never retried).
 */
export type FailureReason = 'thrown' | 'timeout' | 'crashed' | 'lost' | 'unknown-task' | 'bad-payload' | 'cancelled';

export interface Failure {
  readonly reason: FailureReason;
  readonly message: string;
  readonly error?: Error;
  readonly signal?: NodeJS.Signals;
  readonly exitCode?: number;
  /** The run's attempt (0 on the first run; every put-back and retry adds one). */
  readonly attempt?: number;
  /** Runs of the task that threw, this one included: a `thrown` failure after 2 retries has 3. */
  readonly failures?: number;
  /** Runs of the task that were cut off (crash, lost worker, stop), this one included when it was. */
  readonly cutoffs?: number;
}

export type SuccessHandler = (task: TaskInfo, result: unknown) => unknown;
export type ErrorHandler = (task: TaskInfo, failure: Failure) => unknown;

export function taskInfo(queue: string, task: TaskEntry): TaskInfo {
  return {
    queue,
    id: task.id,
    name: task.name,
    args: task.args,
    attempt: task.attempt,
    cutoffs: task.cutoffs,
    failures: task.failures,
    timeoutMs: task.timeoutMs,
    maxAttempts: task.maxAttempts,
  };
}
