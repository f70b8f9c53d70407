/**
 * Typed task handles. `defineTask('add', (a: number, b: number) => a + b)` returns a function that runs the task
 * now when called, and enqueues it with `.delay(queue, 1, 2)`; the argument types follow the function.
 * Workers find tasks by the names of the handles exported from the modules they are told to load.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { backoffOption, type Backoff, type BackoffFunction, type BackoffSpec, type ResolvedBackoff } from './backoff.ts';
import { ModuleLoadError, TaskDefinitionError } from './errors.ts';
import { functionOption, intOption, keepResultOption } from './options.ts';
import { isValidTaskName } from './payload.ts';

export interface EnqueueOptions {
  /** Hard limit for one run, ms. @default the queue's `defaultTimeoutMs` */
  readonly timeoutMs?: number;
  /**
   * Runs that may be cut off (child crashed or killed, worker died or lost its lease) before the task fails.
   * Not a retry count: a task that throws fails at once. @default the queue's `maxAttempts`
   */
  readonly maxAttempts?: number;
  /**
   * On a queue with several partitions: tasks with the same key go to the same partition, so they are taken
   * in the order they were enqueued. @default round robin over the partitions
   */
  readonly partitionKey?: string;
  /**
   * Run no earlier than this many ms after Redis has the task. The due time is `TIME` + `delayMs` inside Redis,
   * so neither the producer's nor the worker's clock matters. Not with `runAt`. @default 0 (at once)
   */
  readonly delayMs?: number;
  /**
   * Run at this time, read on **Redis' clock** (a `Date` or ms since the epoch): a producer whose clock is off
   * does not move it, but Redis' own clock must be right. A time in the past runs at once. Not with `delayMs`.
   * @default undefined (at once)
   */
  readonly runAt?: Date | number;
  /**
   * How many times a run that throws is retried (after a backoff) before the task fails with reason `thrown`.
   * Overrides the task definition's for this call; written into the entry only when set. Runs cut off by a
   * crash or a lost worker count against `maxAttempts` instead. @default the definition's `retries`, else 0
   */
  readonly retries?: number;
  /** The backoff before each retry, for this call (a function only in the definition). @default the definition's, else exponential from 1 s to 1 h with full jitter */
  readonly backoff?: BackoffSpec;
  /**
   * The priority level to wait in, one of the queue's `priorities` (README "Priorities"). @default the queue's
   * default level (`normal`, else its last level)
   */
  readonly priority?: string;
  /**
   * Next to run: the task goes to the front of its level's line instead of the back (the taking end), ahead of
   * every task waiting there. Works without `priorities` too. @default false
   */
  readonly atFront?: boolean;
  /**
   * Keep the task's outcome in Redis for `ttlMs` after it finishes, for `queue.result(id)`. Off by default
   * (a finished task leaves nothing). @default the definition's `keepResult`, else off
   */
  readonly keepResult?: KeepResult;
  /**
   * At most one task per key (see README "Unique tasks"): an enqueue while the key is held creates nothing
   * and gives the id of the task that holds it. @default none
   */
  readonly unique?: UniqueOptions;
}

/** What a unique key prevents: a second copy waiting (`until-start`), waiting or running (`until-finish`), or any second copy for `forMs` (`for-ttl`). */
export type UniqueMode = 'until-start' | 'until-finish' | 'for-ttl';

export interface UniqueOptions {
  /** 1-200 characters; tasks with the same key (on this queue) are one. */
  readonly key: string;
  /** @default 'until-finish' */
  readonly mode?: UniqueMode;
  /** How long the key is held at most (also the bound after a Redis data loss), ms. @default 86_400_000 (24 h) */
  readonly forMs?: number;
}

/** How long a task's outcome is kept for `queue.result(id)`. */
export interface KeepResult {
  /** ms, from when the task finished: 1 ms to 30 days. */
  readonly ttlMs: number;
}

declare const RESULT: unique symbol;
/** A task id, as `delay` resolves it; it remembers the task's result type for `queue.result(id)`. */
export type TaskId<R = unknown> = string & { readonly [RESULT]?: R };

/** Options of a task definition: what happens when a run throws. */
export interface TaskOptions {
  /** How many times a run that throws is retried before the task fails with reason `thrown`. @default 0 */
  readonly retries?: number;
  /**
   * The delay before each retry: a policy, or `(failures, error) => ms` (runs in the worker).
   * @default { type: 'exponential', delayMs: 1000, maxDelayMs: 3_600_000, jitter: 'full' }
   */
  readonly backoff?: Backoff;
  /** Retry only when this returns true for the error (a `FatalError` is never retried). @default every error */
  readonly retryIf?: (error: unknown) => boolean;
  /** Keep every run's outcome for `queue.result(id)` (a call's `with({ keepResult })` overrides it). @default off */
  readonly keepResult?: KeepResult;
}

/** A definition's retry policy, checked. */
export interface RetryPolicy {
  readonly retries: number;
  readonly backoff: ResolvedBackoff | BackoffFunction | undefined;
  readonly retryIf: ((error: unknown) => boolean) | undefined;
}

/** The most retries a task may have. */
export const MAX_RETRIES = 1000;

/** Checks a definition's options (throws an `InvalidOptionError` naming what was expected and what came). */
export function retryPolicy(options: TaskOptions | undefined): RetryPolicy {
  return {
    retries: intOption('retries', options?.retries, 0, 0, MAX_RETRIES),
    backoff: backoffOption(options?.backoff),
    retryIf: functionOption<(error: unknown) => boolean>('retryIf', options?.retryIf),
  };
}

/**
 * What a handle needs from a queue to enqueue; `Queue` provides it. In a unit test of code that enqueues,
 * an object with this one method stands in for a queue, with no Redis:
 *
 * @example
 * const calls: { name: string; args: readonly unknown[] }[] = [];
 * const fake: Enqueuer = { enqueue: async (name, args) => (calls.push({ name, args }), `fake.${calls.length}`) };
 * await add.delay(fake, 1, 2); // calls: [{ name: 'add', args: [1, 2] }]
 */
export interface Enqueuer {
  enqueue(name: string, args: readonly unknown[], options?: EnqueueOptions): Promise<string>;
}

/** Enqueues one task with fixed options: `add.timeout(10_000).delay(queue, 1, 2)`. */
export interface TaskCall<A extends unknown[], R = unknown> {
  delay(queue: Enqueuer, ...args: A): Promise<TaskId<Awaited<R>>>;
}

export interface Task<A extends unknown[] = unknown[], R = unknown> extends TaskCall<A, R> {
  /** Runs the task now, in this process. */
  (...args: A): R;
  /** The name workers look the task up by. */
  readonly taskName: string;
  readonly fn: (...args: A) => R;
  /** Enqueues with a timeout for this call, in ms: `add.timeout(10_000).delay(queue, 1, 2)`. */
  timeout(ms: number): TaskCall<A, R>;
  /** Enqueues with per-call options: `add.with({ delayMs: 30_000, retries: 2 }).delay(queue, 1, 2)`. */
  with(options: EnqueueOptions): TaskCall<A, R>;
  /** What the worker does when a run throws (from the definition's options). */
  readonly retry: RetryPolicy;
}

/** A task of any signature. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
// biome-ignore lint/suspicious/noExplicitAny: a handle of any argument types (unknown[] would not accept them all)
export type AnyTask = Task<any[], unknown>;

const BRAND = Symbol.for('delayed-queue.task');

export function isTask(value: unknown): value is AnyTask {
  return typeof value === 'function' && (value as unknown as Record<symbol, unknown>)[BRAND] === true;
}

/**
 * Defines a task: a name workers look it up by, and the function they run. Export the handle from a module
 * the workers load (`tasks: [...]`); the argument types follow the function, so enqueueing the wrong
 * arguments does not compile.
 *
 * @param name 1-128 characters: a letter, `_` or `$` first, then letters, digits, `_ $ . : / -`. Unique among
 *   the modules a worker loads.
 * @param fn The task. Arguments and result travel as JSON (checked at enqueue: a `SerializationError` names
 *   what JSON cannot carry). It may be async; `taskContext()` inside it gives the run's id, attempt and signal.
 * @param options What happens when a run throws: `retries`, `backoff`, `retryIf` (see `TaskOptions`).
 * @returns A handle: call it to run the task here and now; `.delay(queue, ...args)` enqueues it and resolves
 *   with the task id once Redis has it; `.timeout(ms)` and `.with(options)` enqueue with options for one call.
 * @throws TaskDefinitionError when the name is not valid or `fn` is not a function; InvalidOptionError for a
 *   bad option.
 * @example
 * export const add = defineTask('add', (a: number, b: number) => a + b);
 * await add.delay(queue, 1, 2);
 * export const charge = defineTask('charge', chargeCard, { retries: 5, backoff: { type: 'exponential', delayMs: 1000 } });
 */
export function defineTask<A extends unknown[], R>(name: string, fn: (...args: A) => R, options?: TaskOptions): Task<A, R> {
  if (!isValidTaskName(name)) {
    throw new TaskDefinitionError(
      `Task name ${JSON.stringify(name)} is not valid: use 1-128 characters, a letter, _ or $ first, then letters, digits, _ $ . : / -`,
    );
  }
  if (typeof fn !== 'function') throw new TaskDefinitionError(`Task ${name}: expected a function, got ${typeof fn}`);
  const retry = retryPolicy(options);
  const keep = options?.keepResult;
  keepResultOption(keep);
  const call = (given: EnqueueOptions | undefined): TaskCall<A, R> => ({
    delay: (queue, ...args) =>
      queue.enqueue(name, args, keep && given?.keepResult === undefined ? { ...given, keepResult: keep } : given) as Promise<
        TaskId<Awaited<R>>
      >,
  });
  const task = ((...args: A) => fn(...args)) as Task<A, R>;
  Object.defineProperties(task, {
    [BRAND]: { value: true },
    name: { value: name },
    taskName: { value: name, enumerable: true },
    fn: { value: fn },
    delay: { value: (queue: Enqueuer, ...args: A) => call(undefined).delay(queue, ...args) },
    timeout: { value: (ms: number) => call({ timeoutMs: ms }) },
    with: { value: (options: EnqueueOptions) => call(options) },
    retry: { value: retry },
  });
  return task;
}

/** A module that defines tasks: a file path (relative to the working directory) or a URL. */
export type TaskModule = string | URL;

/** Adds every task handle a module exports (directly, or inside its default export) to `into`. */
export function collectTasks(namespace: Record<string, unknown>, into: Map<string, AnyTask>, from: string): number {
  const candidates: unknown[] = [];
  for (const [key, value] of Object.entries(namespace)) {
    if (key === 'default' && value !== null && typeof value === 'object') candidates.push(...Object.values(value));
    else candidates.push(value);
  }
  let found = 0;
  for (const value of candidates) {
    if (!isTask(value)) continue;
    const existing = into.get(value.taskName);
    if (existing && existing !== value) {
      throw new TaskDefinitionError(`Two tasks are named ${JSON.stringify(value.taskName)} (the second in ${from})`);
    }
    found++;
    into.set(value.taskName, value);
  }
  return found;
}

/**
 * The URL a task module is imported by. A path is resolved against the working directory. A `.js` (`.mjs`,
 * `.cjs`) file that does not exist stands for the `.ts` (`.mts`, `.cts`) file beside it, as in TypeScript's
 * own imports: so `new URL('./tasks.js', import.meta.url)` names `src/tasks.ts` when the worker runs from its
 * source under tsx, and `dist/tasks.js` once tsc has built it.
 */
export function moduleUrl(spec: TaskModule): string {
  const href = spec instanceof URL ? spec.href : /^[a-z][a-z0-9+.-]+:/i.test(spec) ? spec : pathToFileURL(resolve(spec)).href;
  if (!href.startsWith('file:')) return href;
  const match = /\.(m|c)?js$/.exec(new URL(href).pathname);
  if (!match) return href;
  const path = fileURLToPath(href);
  if (existsSync(path)) return href;
  const source = `${path.slice(0, -match[0].length)}.${match[1] ?? ''}ts`;
  return existsSync(source) ? pathToFileURL(source).href : href;
}

/**
 * Imports the given modules (paths or URLs the user configured; never a name read from Redis) and returns
 * their tasks by name. A module that fails to load or defines no task is a `ModuleLoadError`.
 */
export async function loadTasks(modules: readonly (TaskModule | AnyTask)[]): Promise<Map<string, AnyTask>> {
  const tasks = new Map<string, AnyTask>();
  for (const spec of modules) {
    if (isTask(spec)) {
      collectTasks({ [spec.taskName]: spec }, tasks, spec.taskName);
      continue;
    }
    const url = moduleUrl(spec);
    let namespace: Record<string, unknown>;
    try {
      namespace = (await import(url)) as Record<string, unknown>;
    } catch (err) {
      throw new ModuleLoadError(String(spec), `failed to load: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
    if (collectTasks(namespace, tasks, String(spec)) === 0) {
      throw new ModuleLoadError(String(spec), 'defines no task (export the handles that defineTask returns)');
    }
  }
  return tasks;
}
