/**
 * What a worker is configured with: the options every worker kind takes, their defaults (one place: the CLI's
 * help and the docs read them from here), and the checks done once in the constructor; and the events it emits.
 */
import { InvalidOptionError } from './errors.ts';
import type { ErrorHandler, SuccessHandler } from './handlers.ts';
import { consoleLogger, type Logger } from './logger.ts';
import { boolOption, functionOption, intOption, msOption } from './options.ts';
import type { LeaseLoss } from './lease.ts';
import type { RunEvents } from './processor.ts';
import type { Queue } from './queue.ts';
import type { SweepReport } from './sweeper.ts';
import type { AnyTask, TaskModule } from './task.ts';

export interface WorkerOptions {
  readonly queue: Queue;
  /** Task modules to load (file paths or URLs). In-process workers also take task handles. */
  readonly tasks: readonly (TaskModule | AnyTask)[];
  /** Tasks run at once. @default 1 */
  readonly concurrency?: number;
  /** Called in the worker process after a task succeeded, before the task is released. */
  readonly successHandler?: SuccessHandler;
  /** Called in the worker process after a task failed for good, before the task is released. */
  readonly errorHandler?: ErrorHandler;
  /** Lease length, ms: a worker that stops renewing has its tasks back in the queue this long (plus a sweep) later. @default 3000 */
  readonly leaseMs?: number;
  /** Also sweep the queue (one sweep per interval per queue, whoever does it). @default true */
  readonly sweep?: boolean;
  /** @default 1000 */
  readonly sweepIntervalMs?: number;
  /** On stop, how long running tasks may take to finish before they are killed and put back, ms. @default 10000 */
  readonly shutdownTimeoutMs?: number;
  /** Between SIGTERM and SIGKILL when a child's run is ended (timeout, stop), ms. @default 1000 */
  readonly killGraceMs?: number;
  /** Stop on SIGTERM / SIGINT (a second signal stops at once). @default true */
  readonly handleSignals?: boolean;
  /** @default consoleLogger('warn') */
  readonly logger?: Logger;
}

export type WorkerKind = 'inline' | 'forked' | 'preforked';

/** The defaults of `WorkerOptions`, and the bounds the checks use. */
export const WORKER_DEFAULTS = {
  concurrency: 1,
  maxConcurrency: 1000,
  leaseMs: 3000,
  minLeaseMs: 100,
  sweep: true,
  sweepIntervalMs: 1000,
  shutdownTimeoutMs: 10_000,
  killGraceMs: 1000,
  handleSignals: true,
} as const;

/** The options after the checks, every default filled in. */
export interface ResolvedWorkerOptions {
  readonly queue: Queue;
  readonly concurrency: number;
  readonly successHandler: SuccessHandler | undefined;
  readonly errorHandler: ErrorHandler | undefined;
  readonly leaseMs: number;
  readonly sweep: boolean;
  readonly sweepIntervalMs: number;
  readonly shutdownTimeoutMs: number;
  readonly killGraceMs: number;
  readonly handleSignals: boolean;
  readonly logger: Logger;
}

/** Checks the options (throws `InvalidOptionError` saying what was expected and what came) and fills in defaults. */
export function resolveWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('Expected worker options to be an object');
  if (!options.queue || typeof options.queue.enqueue !== 'function') throw new InvalidOptionError('Expected `queue` to be a Queue');
  if (!Array.isArray(options.tasks) || options.tasks.length === 0) {
    throw new InvalidOptionError('Expected `tasks` to be a non-empty array of task modules (paths or URLs)');
  }
  const d = WORKER_DEFAULTS;
  return {
    queue: options.queue,
    concurrency: intOption('concurrency', options.concurrency, d.concurrency, 1, d.maxConcurrency),
    successHandler: functionOption('successHandler', options.successHandler),
    errorHandler: functionOption('errorHandler', options.errorHandler),
    leaseMs: msOption('leaseMs', options.leaseMs, d.leaseMs, d.minLeaseMs),
    sweep: boolOption('sweep', options.sweep, d.sweep),
    sweepIntervalMs: msOption('sweepIntervalMs', options.sweepIntervalMs, d.sweepIntervalMs, 1),
    shutdownTimeoutMs: msOption('shutdownTimeoutMs', options.shutdownTimeoutMs, d.shutdownTimeoutMs, 0),
    killGraceMs: msOption('killGraceMs', options.killGraceMs, d.killGraceMs, 0),
    handleSignals: boolOption('handleSignals', options.handleSignals, d.handleSignals),
    logger: options.logger ?? consoleLogger(),
  };
}

export interface WorkerEvents extends RunEvents {
  /** Registered, and a child (or the process, inline) is ready: tasks are taken from now on. Once per run. */
  ready: [workerId: string];
  leaseLost: [workerId: string, why: LeaseLoss];
  /** The queue's epoch changed: Redis lost the queue's data (restart without persistence, FLUSHALL). */
  dataLoss: [previousEpoch: string, currentEpoch: string];
  /** This worker's sweep put tasks of dead workers back in the queue. */
  recovered: [report: SweepReport];
}
