/**
 * A queue: its name, its Redis, its defaults. Producers enqueue through it; workers and sweepers take it as
 * their first option. Enqueueing is one LPUSH (or one pipelined batch for `enqueueMany`); ids are made here,
 * unique without a round trip: a random producer prefix and a counter. A queue with several partitions
 * spreads its tasks over them, round robin or by `partitionKey`.
 */
import { randomBytes } from 'node:crypto';
import { connect, DEFAULT_COMMAND_TIMEOUT_MS, disconnect, send, type Client } from './connection.ts';
import { checkRedisSource, type RedisSource } from './redis-source.ts';
import { checkProducerConfig, configRecord, OnceChecked } from './config.ts';
import { InvalidOptionError, StateError } from './errors.ts';
import { crc16, isValidQueueName, MAX_PARTITIONS, queueKeys, type QueueKeys } from './keys.ts';
import { intOption, msOption, stringOption } from './options.ts';
import { encodeEntry, isValidTaskName } from './payload.ts';
import { dueOptions, listScheduled, retryOptions, type ScheduledTask, type ScheduledQuery } from './later.ts';
import { type Built, checkReplicas, writeMany, writeOne } from './enqueue-writes.ts';
import { levelsOption, placement, withLevels, type Levels } from './priorities.ts';
import { type Rate, rateOption, rateRecord, withRate } from './rate.ts';
import { enqueueUniqueEntry } from './store.ts';
import { type ResolvedUnique, uniqueOption } from './unique.ts';
import { endSpan, publishSpan, type Span, traceparentOf, tracingOption } from './tracing.ts';
import { listSchedules, registerSchedule, removeSchedule, type ScheduleInfo, type ScheduleOptions } from './schedules.ts';
import type { Enqueuer, EnqueueOptions, Task, TaskId } from './task.ts';
import type { QueueOptions } from './queue-options.ts';
import { cancelTask, type LookupOptions, lookupTask, setPaused, type CancelResult, type TaskLookup } from './lookup.ts';
import { keepResultOption, type ResultWaiter, waitForResult } from './results.ts';

export type { QueueOptions } from './queue-options.ts';

/** One task for `enqueueMany`. */
export interface TaskRequest extends EnqueueOptions {
  readonly name: string;
  readonly args: readonly unknown[];
}

/**
 * A queue on Redis: producers enqueue with it (`add.delay(queue, 1, 2)`, `queue.enqueue(name, args)`), and
 * workers and sweepers are given it. It holds one Redis connection, opened on first use; `close()` it when done.
 * Every key of the queue shares one hash tag, `{name}` (with `partitions: N`, N tags), so it runs on Redis Cluster.
 *
 * @example
 * const queue = new Queue({ name: 'emails', redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
 * const id = await sendEmail.delay(queue, 'ada@example.com');
 * await queue.close();
 */
export class Queue implements Enqueuer {
  readonly name: string;
  /** The keys of partition 0 (the only one unless `partitions` is set). */
  readonly keys: QueueKeys;
  /** The keys of every partition. */
  readonly partitions: readonly QueueKeys[];
  readonly waitForReplicas: number;
  readonly replicaTimeoutMs: number;
  readonly commandTimeoutMs: number;
  /** `tracing: true`: enqueues and this queue's workers' runs make OpenTelemetry spans. */
  readonly tracing: boolean;
  readonly defaultTimeoutMs: number;
  readonly maxAttempts: number;
  readonly maxPayloadBytes: number;
  readonly deadLetters: number;
  readonly maxResultBytes: number;
  readonly prefix: string;
  /** Where Redis is, as given; workers make their own connections from it. */
  readonly redisSource: RedisSource;
  /** The priority levels (`priorities`), or undefined. */
  readonly levels: Levels | undefined;
  /** The rate limit (`rate`), or undefined. */
  readonly rate: Rate | undefined;
  /** What every process of this queue must agree on (`partitions`, levels, `rate`), as Redis records it (`keys.config`). */
  readonly configRecord: string;
  #redis: Client | undefined;
  /** The producer's one configuration check, made before its first write. */
  readonly #config = new OnceChecked();
  #closed = false;
  /** Round robin over the partitions, from a random one (short-lived producers would all start at 0). */
  #nextPartition = Math.floor(Math.random() * MAX_PARTITIONS);
  /** Never starts with '-', so that `delayed task <id>` does not read an id as an option. */
  readonly #idPrefix = `${randomBytes(6).toString('base64url').replace(/^-/, '_')}.`;
  #counter = 0;
  readonly #waiters = new Map<number, ResultWaiter>();

  constructor(options: QueueOptions) {
    if (options === null || typeof options !== 'object') throw new InvalidOptionError('Expected queue options to be an object');
    if (typeof options.name !== 'string' || !isValidQueueName(options.name)) {
      throw new InvalidOptionError(`Expected \`name\` to be 1-100 of A-Z a-z 0-9 _ . : -, got \`${JSON.stringify(options.name)}\``);
    }
    this.name = options.name;
    this.redisSource = checkRedisSource(options.redis);
    this.defaultTimeoutMs = msOption('defaultTimeoutMs', options.defaultTimeoutMs, 600_000, 1);
    this.maxAttempts = intOption('maxAttempts', options.maxAttempts, 3, 1, 1000);
    this.maxPayloadBytes = intOption('maxPayloadBytes', options.maxPayloadBytes, 1_048_576, 64, 512 * 1_048_576);
    this.deadLetters = intOption('deadLetters', options.deadLetters, 0, 0, 1_000_000);
    this.maxResultBytes = intOption('maxResultBytes', options.maxResultBytes, 65_536, 16, 512 * 1_048_576);
    this.prefix = stringOption('prefix', options.prefix, 'delayed', /^[A-Za-z0-9_.:-]{1,100}$/, '1-100 of A-Z a-z 0-9 _ . : -');
    const partitions = intOption('partitions', options.partitions, 1, 1, MAX_PARTITIONS);
    this.levels = levelsOption(options.priorities, options.priorityOrder);
    this.rate = rateOption(options.rate, partitions);
    this.partitions = queueKeys(this.prefix, this.name, partitions).map((keys) => withRate(this.rate, withLevels(this.levels, keys)));
    this.keys = this.partitions[0] as QueueKeys;
    this.configRecord = configRecord(partitions, (this.levels?.record ?? '') + rateRecord(this.rate));
    this.waitForReplicas = intOption('waitForReplicas', options.waitForReplicas, 0, 0, 100);
    this.replicaTimeoutMs = msOption('replicaTimeoutMs', options.replicaTimeoutMs, 1000, 1);
    this.tracing = tracingOption(options.tracing);
    this.commandTimeoutMs = intOption('commandTimeoutMs', options.commandTimeoutMs, DEFAULT_COMMAND_TIMEOUT_MS, 100, 2_147_483_647 - 2000);
  }

  /** The producer connection, made on first use. */
  get redis(): Client {
    if (this.#closed) throw new StateError(`Queue ${this.name} is closed`);
    this.#redis ??= connect(this.redisSource, 'producer', this.name, this.commandTimeoutMs);
    return this.#redis;
  }

  /**
   * Compares this queue's configuration with the one Redis records, once (a later call reuses the answer);
   * rejects with `ConfigMismatchError` when they differ. Enqueueing calls it before its first write.
   */
  checkConfig(): Promise<void> {
    return this.#config.check(() => checkProducerConfig(this.redis, this.name, this.partitions, this.configRecord));
  }

  /** Builds the entry for one task; throws a typed error (and writes nothing) on bad input. */
  #entry(name: string, args: readonly unknown[], options: EnqueueOptions | undefined, traceparent?: string): Built {
    if (!isValidTaskName(name))
      throw new InvalidOptionError(
        `Expected a task name (a letter, _ or $, then letters, digits, _ $ . : / -), got \`${JSON.stringify(name)}\``,
      );
    if (!Array.isArray(args)) throw new InvalidOptionError(`Expected the arguments of ${name} to be an array, got \`${typeof args}\``);
    const timeoutMs = msOption('timeoutMs', options?.timeoutMs, this.defaultTimeoutMs, 1);
    const maxAttempts = intOption('maxAttempts', options?.maxAttempts, this.maxAttempts, 1, 1000);
    const due = dueOptions(options);
    const retry = retryOptions(options);
    const keepResultMs = keepResultOption(options?.keepResult);
    const unique = uniqueOption(options?.unique);
    const { priority, push } = placement(this.levels, options, due !== undefined);
    // A unique task lives in its key's partition: lock and task share a slot (one script takes both).
    const keys = this.#partitionFor(options?.partitionKey ?? unique?.key);
    let id = this.#idPrefix + (this.#counter++).toString(36);
    // A result is read from its partition: the id names it (when there is more than one).
    if (keepResultMs !== undefined && this.partitions.length > 1) id += `@${keys.partition}`;
    const fields = {
      ...{ id, name, args, timeoutMs, maxAttempts, ...retry },
      ...(keepResultMs !== undefined ? { keepResultMs } : {}),
      ...(unique ? { unique: { key: unique.key, mode: unique.mode } } : {}),
      ...(priority !== undefined ? { priority } : {}),
      ...(traceparent ? { traceparent } : {}),
    };
    return { id, entry: encodeEntry(fields, this.maxPayloadBytes), keys, due, unique, push, level: priority ?? '' };
  }

  #partitionFor(key: string | undefined): QueueKeys {
    const n = this.partitions.length;
    if (n === 1) return this.keys;
    if (key !== undefined && typeof key !== 'string')
      throw new InvalidOptionError(`Expected \`partitionKey\` to be a string, got \`${typeof key}\``);
    const i = key === undefined ? this.#nextPartition++ % n : crc16(key) % n;
    return this.partitions[i] as QueueKeys;
  }

  /**
   * Enqueues a task by name and resolves with its id once Redis has it. Rejects, having written nothing,
   * when the arguments cannot be carried by JSON or are too large, and with `RedisUnavailableError` when Redis
   * cannot be reached within about a second (not sent, never sent later: safe to retry). Rejects with
   * `CommandTimeoutError` (no reply within `commandTimeoutMs`) or `ConnectionLostError` (the connection
   * dropped) when the command was sent and may or may not have run. With `delayMs` or `runAt` the task waits
   * in the partition's scheduled set until it is due (one script: `TIME` + `ZADD`); without, one `LPUSH`.
   */
  async enqueue(name: string, args: readonly unknown[], options?: EnqueueOptions): Promise<string> {
    if (options?.unique !== undefined) return (await this.enqueueUnique(name, args, options)).id;
    if (!this.tracing) return await writeOne(this, this.#entry(name, args, options));
    const span = publishSpan(this.name, String(name));
    try {
      const built = this.#entry(name, args, options, traceparentOf(span));
      span.setAttribute('messaging.message.id', built.id);
      const id = await writeOne(this, built);
      endSpan(span);
      return id;
    } catch (err) {
      endSpan(span, err);
      throw err;
    }
  }

  /**
   * Enqueues a unique task (`options.unique`, see README "Unique tasks"): `{ id, duplicate: false }` when it
   * was enqueued; `{ id, duplicate: true }` with the id of the task holding the key when it was held (nothing
   * written). After `ConnectionLostError`, calling again with the same key is safe: one task either way.
   */
  async enqueueUnique(name: string, args: readonly unknown[], options: EnqueueOptions): Promise<{ id: string; duplicate: boolean }> {
    if (options?.unique === undefined) throw new InvalidOptionError('Expected `unique: { key }` in the options of enqueueUnique, got none');
    const { id, entry, keys, due, unique, level } = this.#entry(name, args, options);
    await this.checkConfig();
    const redis = this.redis;
    const u = unique as ResolvedUnique;
    const when = { delayMs: due?.atMs === undefined ? due?.delayMs : undefined, atMs: due?.atMs };
    const done = await send(redis, () => enqueueUniqueEntry(redis, keys, u, entry, id, when, { level, front: options.atFront === true }));
    if (this.waitForReplicas > 0)
      checkReplicas(
        this,
        await send(redis, () => redis.pipeline().exists(keys.waiting).wait(this.waitForReplicas, this.replicaTimeoutMs).exec()),
        [done.id],
      );
    return done;
  }

  /**
   * Enqueues many tasks in one pipelined batch per partition, in order, and resolves with their ids. Every
   * task is checked before anything is sent, so bad input writes nothing. `RedisUnavailableError`: none was
   * sent. On `CommandTimeoutError` / `ConnectionLostError` some may have been written.
   */
  async enqueueMany(requests: readonly TaskRequest[]): Promise<string[]> {
    if (!Array.isArray(requests)) throw new InvalidOptionError(`Expected an array of tasks, got \`${typeof requests}\``);
    if (requests.some((r) => r?.unique !== undefined))
      throw new InvalidOptionError('Expected no `unique` in enqueueMany (use enqueue or enqueueUnique for unique tasks)');
    if (!this.tracing)
      return await writeMany(
        this,
        requests.map((r) => this.#entry(r.name, r.args, r)),
      );
    const spans = requests.map((r) => publishSpan(this.name, String(r?.name)));
    try {
      const built = requests.map((r, i) => this.#entry(r.name, r.args, r, traceparentOf(spans[i] as Span)));
      for (const [i, b] of built.entries()) spans[i]?.setAttribute('messaging.message.id', b.id);
      const ids = await writeMany(this, built);
      for (const span of spans) endSpan(span);
      return ids;
    } catch (err) {
      for (const span of spans) endSpan(span, err);
      throw err;
    }
  }

  /**
   * The tasks that wait for their due time (`delayMs`, `runAt`, retries after a backoff), earliest first, over
   * all partitions: `offset` skips that many, `count` (at most 1000) is the page size.
   */
  async scheduled(query: ScheduledQuery = {}): Promise<ScheduledTask[]> {
    return await listScheduled(this.redis, this.partitions, query, this.maxPayloadBytes);
  }

  /**
   * Registers a repeating schedule under `id`, or leaves it as it is when the same one is registered already
   * (an upsert: call it at every start, from every process). A changed spec replaces the old one and is armed
   * anew. Occurrences are enqueued by the workers of this queue (no other process is needed), once each, with
   * the task id `cron:<id>:<due ms>`. Resolves with the next due time (on Redis' clock).
   * @example
   * await queue.schedule('nightly-report', { cron: '0 3 * * *', tz: 'Europe/Berlin', task: report, args: ['daily'] });
   */
  async schedule<A extends unknown[]>(id: string, options: ScheduleOptions<A>): Promise<{ changed: boolean; nextDueAt: Date }> {
    return await registerSchedule(this.redis, this.keys, id, options as ScheduleOptions<unknown[]>);
  }

  /** Removes a schedule (occurrences already enqueued still run); resolves true if it was registered. */
  async unschedule(id: string): Promise<boolean> {
    return await removeSchedule(this.redis, this.keys, id);
  }

  /** The registered schedules, by id, with their next due times. */
  async schedules(): Promise<ScheduleInfo[]> {
    return await listSchedules(this.redis, this.keys);
  }

  /** How many tasks wait for their due time (over all partitions). */
  async scheduledCount(): Promise<number> {
    const redis = this.redis;
    const counts = await Promise.all(this.partitions.map((keys) => send(redis, () => redis.zcard(keys.scheduled))));
    return counts.reduce((a, b) => a + b, 0);
  }

  /** A queue-bound enqueue function for a task: `queue.delay(add)(1, 2)`, or with options `queue.delay(add, { timeoutMs: 5_000 })(1, 2)`. */
  delay<A extends unknown[], R>(task: Task<A, R>, options?: EnqueueOptions): (...args: A) => Promise<string> {
    const call = options ? task.with(options) : task;
    return (...args: A) => call.delay(this, ...args);
  }

  /** How many tasks wait to be taken (over all partitions and priority levels). */
  async waiting(): Promise<number> {
    const redis = this.redis;
    const lists = this.partitions.flatMap((keys) => keys.levels?.lists ?? [keys.waiting]);
    const counts = await Promise.all(lists.map((list) => send(redis, () => redis.llen(list))));
    return counts.reduce((a, b) => a + b, 0);
  }

  /**
   * Where task `id` is now: scheduled, waiting, running (where, since when, progress), succeeded, failed, unknown
   * (src/lookup.ts). `{ maxScan }` bounds what it reads of the backlog; `more.cursor` then continues.
   */
  task(id: string, options?: LookupOptions): Promise<TaskLookup> {
    return lookupTask(this, id, options);
  }

  /** Cancels task `id` from any process: 'removed' (it never runs), 'stopping' (its worker kills it), 'not-found' (src/lookup.ts). */
  cancel(id: string): Promise<CancelResult> {
    return cancelTask(this, id);
  }

  /**
   * Waits for the outcome of a task that keeps its result (`keepResult`), also one that finished before: its
   * value, or `TaskFailedError` / `CancelledError` / `ResultTimeoutError` (src/results.ts).
   */
  result<R = unknown>(id: TaskId<R> | string, options: { timeoutMs?: number } = {}): Promise<R> {
    return waitForResult<R>(this, this.#waiters, id, options);
  }

  /** Pauses the queue from any process: workers take nothing new within `leaseMs` / 3, running tasks finish. */
  pause(): Promise<void> {
    return setPaused(this, true);
  }

  /** Resumes a paused queue: workers take tasks again within one lease renewal. */
  resume(): Promise<void> {
    return setPaused(this, false);
  }

  /** True while the queue is paused. */
  async isPaused(): Promise<boolean> {
    return (await send(this.redis, () => this.redis.exists(this.keys.paused))) === 1;
  }

  /** Closes the producer connection. Never rejects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#waiters.values()].map((w) => w.close()));
    if (this.#redis) await disconnect(this.#redis);
  }
}
