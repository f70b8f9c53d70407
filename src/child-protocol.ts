/** The messages between a worker and its child processes (JSON over Node's IPC channel). */
import type { ResolvedBackoff } from './backoff.ts';
import type { FlowAnswer, FlowRequest } from './flow-types.ts';
import type { TaskEntry } from './payload.ts';
import type { RetryAdvice } from './retry.ts';

export type ParentMessage =
  /** `rss`: answer each task with the child's resident set size (only when the worker recycles by size). */
  | { readonly t: 'init'; readonly modules: readonly string[]; readonly rss: boolean }
  /** `args` is the JSON text from the entry, parsed by the child (a string crosses IPC without a second encoding). */
  | {
      readonly t: 'run';
      readonly id: string;
      readonly name: string;
      readonly attempt: number;
      readonly args: string;
      /** Runs of the task that threw before (for its retry policy, which the child holds); absent: 0. */
      readonly failures?: number;
      /** Per-call retry options from the entry, when it has them. */
      readonly retries?: number;
      readonly backoff?: ResolvedBackoff;
      /** The run span's W3C trace context (a queue with `tracing: true`): the task runs inside it. */
      readonly traceparent?: string;
    }
  /** The answer to the running task's `limit()` / `semaphore()` request number `seq`. */
  | { readonly t: 'flow-reply'; readonly seq: number; readonly answer: FlowAnswer }
  | { readonly t: 'exit' };

export type ChildMessage =
  | { readonly t: 'ready'; readonly names: readonly string[] }
  /** The running task reported progress (`taskContext().progress`); the parent keeps the latest. */
  | { readonly t: 'progress'; readonly value: unknown }
  | { readonly t: 'init-error'; readonly module: string; readonly message: string }
  /** The running task called `limit()` or `semaphore()`: the worker answers with a 'flow-reply' of the same `seq`. */
  | { readonly t: 'flow'; readonly seq: number; readonly request: FlowRequest }
  /** `rss` is 0 unless the init asked for it. */
  | { readonly t: 'done'; readonly ok: true; readonly value: unknown; readonly rss: number }
  | {
      readonly t: 'done';
      readonly ok: false;
      readonly unknown?: true;
      readonly error?: { readonly name: string; readonly message: string; readonly stack: string | undefined };
      /** What the task's retry policy says about the error. */
      readonly retry?: RetryAdvice;
      readonly rss: number;
    };

/** The message that starts a run of `task` in a child: the retry fields only when the entry has them. */
export function runMessage(task: TaskEntry): Extract<ParentMessage, { t: 'run' }> {
  return {
    t: 'run',
    id: task.id,
    name: task.name,
    attempt: task.attempt,
    args: task.argsJson,
    ...(task.failures > 0 ? { failures: task.failures } : {}),
    ...(task.retries !== undefined ? { retries: task.retries } : {}),
    ...(task.backoff !== undefined ? { backoff: task.backoff } : {}),
    ...(task.traceparent !== undefined ? { traceparent: task.traceparent } : {}),
  };
}
/**
 * The child's fd for its lifeline: a pipe whose other end only the parent holds. The child's watchdog thread
 * waits on it, and kills the child's process group when it closes (the parent died).
 */
export const LIFELINE_FD = 4;
/**
 * The child's receipts: a file (unlinked) the child appends one byte to as it takes each run, before the task
 * starts. The parent reads its size when the child dies, so a child that dies with a run outstanding tells whether that run ever reached it (a
 * child killed while idle, just as a task was sent to it, never ran that task: not a cut-off).
 */
export const RECEIPT_FD = 5;
