export { Queue, type QueueOptions, type TaskRequest } from './queue.ts';
export {
  defineTask,
  type Task,
  type TaskCall,
  type AnyTask,
  type EnqueueOptions,
  type TaskOptions,
  type RetryPolicy,
  type TaskModule,
  type Enqueuer,
  type KeepResult,
  type TaskId,
  type UniqueOptions,
  type UniqueMode,
} from './task.ts';
export type { Backoff, BackoffSpec, BackoffFunction, Jitter } from './backoff.ts';
export type { ScheduledTask, ScheduledQuery } from './later.ts';
export type { ScheduleOptions, ScheduleInfo, Missed, Overlap } from './schedules.ts';
export { Timekeeper, type TimekeeperOptions, type TimekeeperRound } from './timekeeper.ts';
export { taskContext, type TaskContext } from './context.ts';
export { limit, semaphore, LimitedError, type LimitOptions, type SemaphoreOptions, type Slot } from './flow.ts';
export { Worker, type WorkerOptions, type WorkerKind, type WorkerEvents } from './worker.ts';
export { InlineWorker, type InlineWorkerOptions } from './inline-worker.ts';
export { ForkedWorker, type ForkedWorkerOptions } from './forked-worker.ts';
export { PreforkedWorker, type PreforkedWorkerOptions } from './preforked-worker.ts';
export { Sweeper, type SweeperOptions, type SweeperEvents, type SweepReport } from './sweeper.ts';
export type { TaskInfo, Failure, FailureReason, SuccessHandler, ErrorHandler } from './handlers.ts';
export { consoleLogger, type Logger, type LogLevel } from './logger.ts';
export type { RedisSource } from './redis-source.ts';
export {
  DelayedError,
  InvalidOptionError,
  SerializationError,
  PayloadTooLargeError,
  TaskDefinitionError,
  ModuleLoadError,
  TaskError,
  FatalError,
  StateError,
  NotReplicatedError,
  ConfigMismatchError,
  RedisUnavailableError,
  ConnectionLostError,
  CommandTimeoutError,
  TaskFailedError,
  CancelledError,
  ResultTimeoutError,
  NotSupportedByMemoryStoreError,
} from './errors.ts';
export { queueStatus } from './status.ts';
export { findQueues } from './find-queues.ts';
export type { TaskLookup, LookupOptions, CancelResult } from './lookup.ts';
export {
  listDeadLetters,
  findDeadLetterById,
  requeueDeadLetter,
  requeueDeadLetterById,
  requeueAllDeadLetters,
  deleteDeadLetter,
  purgeDeadLetters,
  type DeadLetterRecord,
  type DeadLetterPage,
  type DeadLetterPageOptions,
  type DeadLetterRef,
  type RequeueAllResult,
} from './dead-letters.ts';
export type {
  QueueStatus,
  WorkerStatus,
  RunningTask,
  DeadLetter,
  Throughput,
  StatusOptions,
} from './status.ts';
export type { FindQueuesOptions } from './find-queues.ts';
export type { RateOptions } from './rate.ts';
