/** The options of `new Queue(options)` (checked in its constructor, src/queue.ts). */
import type { PriorityOrder } from './priorities.ts';
import type { RateOptions } from './rate.ts';
import type { RedisSource } from './redis-source.ts';

export interface QueueOptions {
  /** The queue's name: 1-100 of `A-Z a-z 0-9 _ . : -`. */
  readonly name: string;
  /** Where Redis is: a URL, ioredis options or an ioredis client (duplicated, not taken over). @default 'redis://127.0.0.1:6379' */
  readonly redis?: RedisSource;
  /** Hard limit for one run of a task, ms. @default 600_000 (10 minutes) */
  readonly defaultTimeoutMs?: number;
  /** How many runs of a task may be cut off (worker lost, child crashed) before it fails; not a retry count: a task that throws fails at once. @default 3 */
  readonly maxAttempts?: number;
  /** The largest encoded task, bytes; checked before writing and before parsing. @default 1_048_576 (1 MiB) */
  readonly maxPayloadBytes?: number;
  /** How many failed tasks to keep in the dead-letter list (newest first); 0 keeps none. @default 0 */
  readonly deadLetters?: number;
  /** The first part of every key. @default 'delayed' */
  readonly prefix?: string;
  /**
   * How many partitions (hash tags, so Redis Cluster shards) the queue is spread over. Every producer and
   * worker of a queue must use the same number; raise it freely, lower it only once the queue is drained.
   * @default 1
   */
  readonly partitions?: number;
  /**
   * Replicas that must confirm each enqueue and each finished task (Redis `WAIT`) before it counts as done;
   * narrows what a failover can lose (see README "Scaling out"). 0 does not wait. @default 0
   */
  readonly waitForReplicas?: number;
  /** How long to wait for those replicas, ms. @default 1000 */
  readonly replicaTimeoutMs?: number;
  /**
   * How long a command may wait for Redis' reply, ms, before it fails with `CommandTimeoutError` (it may or may
   * not have run) and the connection is reset. Used by this queue's producer connection and by its workers'
   * connections (Redis frozen, a half-open connection). With `waitForReplicas`, add `replicaTimeoutMs` to
   * what Redis itself needs. @default 5000
   */
  readonly commandTimeoutMs?: number;
  /** The largest result a task that keeps its result (`keepResult`) may store, bytes of JSON. @default 65_536 */
  readonly maxResultBytes?: number;
  /**
   * Priority levels and weights, most urgent first: `{ high: 6, normal: 3, low: 1 }` (README "Priorities"); the
   * same in every process. @default none
   */
  readonly priorities?: Readonly<Record<string, number>>;
  /**
   * 'weighted' (no level starves: the task at position p of a level starts within ⌈p·Σw/w⌉ dispatches) or
   * 'strict' (a level runs only when those above are empty: lower levels can starve). @default 'weighted'
   */
  readonly priorityOrder?: PriorityOrder;
  /**
   * A queue rate limit over all workers and machines: at most `limit` tasks start per `perMs`, evenly spaced on
   * Redis' clock, `burst` at once after a quiet spell (README "Rate limit"). Part of the configuration record:
   * every process must give the same. @default none
   */
  readonly rate?: RateOptions;
  /**
   * OpenTelemetry tracing (needs `@opentelemetry/api`, and an SDK your application registers): a span per enqueue
   * whose trace context travels in the entry, and in this queue's workers a span per run, its child. See README
   * "Tracing with OpenTelemetry". Off, nothing of it runs and entries are unchanged. @default false
   */
  readonly tracing?: boolean;
}
