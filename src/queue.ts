/**
 * A queue: its name, its Redis, its defaults. Producers enqueue through it; workers and sweepers take it as
 * their first option. Enqueueing is one LPUSH (or one pipelined batch for `enqueueMany`); ids are made here,
 * unique without a round trip: a random producer prefix and a counter. A queue with several partitions
 * spreads its tasks over them, round robin or by `partitionKey`.
 */
import { randomBytes } from 'node:crypto';
import { checkRedisSource, connect, DEFAULT_COMMAND_TIMEOUT_MS, disconnect, send, type Client, type RedisSource } from './connection.ts';
import { checkProducerConfig, configRecord } from './config.ts';
import { ConfigMismatchError, InvalidOptionError, NotReplicatedError, StateError } from './errors.ts';
import { crc16, isValidQueueName, MAX_PARTITIONS, queueKeys, type QueueKeys } from './keys.ts';
import { intOption, msOption, stringOption } from './options.ts';
import { encodeEntry, isValidTaskName } from './payload.ts';
import { dueOptions, listScheduled, retryOptions, type Due, type ScheduledTask, type ScheduledQuery } from './later.ts';
import { isNoScript, scriptSha, scriptSource } from './scripts.ts';
import { levelOf, levelsOption, withLevels, type Levels, type PriorityOrder } from './priorities.ts';
import { pushEntry, scheduleCall, scheduleLater } from './store.ts';
import { endSpan, publishSpan, type Span, traceparentOf, tracingOption } from './tracing.ts';
import { listSchedules, registerSchedule, removeSchedule, type ScheduleInfo, type ScheduleOptions } from './schedules.ts';
import type { Enqueuer, EnqueueOptions, Task } from './task.ts';

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
  /**
   * Priority levels and their weights, most urgent first: `{ high: 6, normal: 3, low: 1 }` (2-10 levels, weights
   * 1-100). Tasks choose one with `priority`; the default level is `normal`, else the last one. The same in every
   * process (README "Priorities"). @default none: one line
   */
  readonly priorities?: Readonly<Record<string, number>>;
  /**
   * 'weighted': each level gets its weight's share of the dispatches while it has work, so no level starves (a
   * task at position p of a level starts within ⌈p·Σw/w⌉ dispatches). 'strict': a level is served only when every
   * level above it is empty — lower levels can wait for ever under steady urgent work. @default 'weighted'
   */
  readonly priorityOrder?: PriorityOrder;
  /**
   * OpenTelemetry tracing (needs `@opentelemetry/api`, and an SDK your application registers): a span per enqueue
   * whose trace context travels in the entry, and in this queue's workers a span per run, its child. See README
   * "Tracing with OpenTelemetry". Off, nothing of it runs and entries are unchanged. @default false
   */
  readonly tracing?: boolean;
}

interface Built {
  readonly id: string;
  readonly entry: string;
  readonly keys: QueueKeys;
  /** Set when the task runs later. */
  readonly due: Due | undefined;
  /** Set when the task goes to a level other than the default, or to the front: push.lua / RPUSH. */
  readonly push: { readonly level: string; readonly front: boolean } | undefined;
}

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
  readonly prefix: string;
  /** Where Redis is, as given; workers make their own connections from it. */
  readonly redisSource: RedisSource;
  /** The priority levels (`priorities`), or undefined. */
  readonly levels: Levels | undefined;
  /** What every process of this queue must agree on (`partitions`, levels), as Redis records it (`keys.config`). */
  readonly configRecord: string;
  #redis: Client | undefined;
  /** The producer's one configuration check, made before its first write. */
  #configChecked: Promise<void> | undefined;
  #closed = false;
  /** Round robin over the partitions, from a random one (short-lived producers would all start at 0). */
  #nextPartition = Math.floor(Math.random() * MAX_PARTITIONS);
  readonly #idPrefix = `${randomBytes(6).toString('base64url')}.`;
  #counter = 0;

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
    this.prefix = stringOption('prefix', options.prefix, 'delayed', /^[A-Za-z0-9_.:-]{1,100}$/, '1-100 of A-Z a-z 0-9 _ . : -');
    const partitions = intOption('partitions', options.partitions, 1, 1, MAX_PARTITIONS);
    this.levels = levelsOption(options.priorities, options.priorityOrder);
    this.partitions = queueKeys(this.prefix, this.name, partitions).map((keys) => withLevels(this.levels, keys));
    this.keys = this.partitions[0] as QueueKeys;
    this.configRecord = configRecord(partitions, this.levels?.record);
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
    const checking = (this.#configChecked ??= checkProducerConfig(this.redis, this.name, this.keys, this.configRecord));
    // A failure to reach Redis is asked again next time; a mismatch stays.
    checking.catch((err: unknown) => {
      if (!(err instanceof ConfigMismatchError) && this.#configChecked === checking) this.#configChecked = undefined;
    });
    return checking;
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
    const level = levelOf(this.levels, options?.priority);
    const front = options?.atFront ?? false;
    if (typeof front !== 'boolean') throw new InvalidOptionError(`Expected \`atFront\` to be a boolean, got \`${typeof front}\``);
    if (front && due) throw new InvalidOptionError('Expected `atFront` without `delayMs` or `runAt`, got both');
    const levels = this.levels;
    const priority = levels && level !== undefined && level !== levels.defaultIndex ? levels.names[level] : undefined;
    const id = this.#idPrefix + (this.#counter++).toString(36);
    return {
      id,
      entry: encodeEntry(
        { id, name, args, timeoutMs, maxAttempts, ...retry, priority, ...(traceparent ? { traceparent } : {}) },
        this.maxPayloadBytes,
      ),
      keys: this.#partitionFor(options?.partitionKey),
      due,
      // A task that runs later waits in `scheduled`; promote.lua puts it into its level's list when due.
      push: !due && (priority !== undefined || front) ? { level: priority ?? '', front } : undefined,
    };
  }

  #partitionFor(key: string | undefined): QueueKeys {
    const n = this.partitions.length;
    if (n === 1) return this.keys;
    if (key !== undefined && typeof key !== 'string')
      throw new InvalidOptionError(`Expected \`partitionKey\` to be a string, got \`${typeof key}\``);
    const i = key === undefined ? this.#nextPartition++ % n : crc16(key) % n;
    return this.partitions[i] as QueueKeys;
  }

  /** Resolves once `waitForReplicas` replicas confirmed what this connection wrote; throws if fewer did. */
  #checkReplicas(replies: [Error | null, unknown][] | null, ids: readonly string[]): void {
    const failed = replies?.find(([err]) => err);
    if (failed) throw failed[0];
    if (this.waitForReplicas === 0) return;
    const confirmed = Number(replies?.at(-1)?.[1] ?? 0);
    if (confirmed < this.waitForReplicas) throw new NotReplicatedError(ids, confirmed, this.waitForReplicas, this.replicaTimeoutMs);
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
    if (!this.tracing) return await this.#enqueue(this.#entry(name, args, options));
    const span = publishSpan(this.name, String(name));
    try {
      const built = this.#entry(name, args, options, traceparentOf(span));
      span.setAttribute('messaging.message.id', built.id);
      const id = await this.#enqueue(built);
      endSpan(span);
      return id;
    } catch (err) {
      endSpan(span, err);
      throw err;
    }
  }

  async #enqueue({ id, entry, keys, due, push }: Built): Promise<string> {
    await this.checkConfig();
    const redis = this.redis;
    if (push) {
      await send(redis, () => pushEntry(redis, keys, entry, push.level, push.front));
      if (this.waitForReplicas > 0)
        this.#checkReplicas(await send(redis, () => redis.pipeline().wait(this.waitForReplicas, this.replicaTimeoutMs).exec()), [id]);
      return id;
    }
    if (due) {
      // schedule.lua: the due time is TIME + delay (or runAt on Redis' clock), computed inside Redis.
      if (this.waitForReplicas === 0) await send(redis, () => scheduleLater(redis, keys, entry, due.delayMs, due.atMs));
      else {
        let replies = await send(redis, () =>
          this.#scheduledPipeline(keys, [entry], [due]).wait(this.waitForReplicas, this.replicaTimeoutMs).exec(),
        );
        if (isNoScript(replies?.[0]?.[0])) {
          // The server did not know the script, so nothing ran: send it again with its text.
          const source = scriptSource('schedule');
          const call = scheduleCall(keys, entry, due.delayMs, due.atMs);
          replies = await send(redis, () =>
            redis
              .pipeline()
              .eval(source, call.keys.length, ...call.keys, ...call.args)
              .wait(this.waitForReplicas, this.replicaTimeoutMs)
              .exec(),
          );
        }
        this.#checkReplicas(replies, [id]);
      }
      return id;
    }
    if (this.waitForReplicas === 0) {
      await send(redis, () => redis.lpush(keys.waiting, entry));
      return id;
    }
    this.#checkReplicas(
      await send(redis, () => redis.pipeline().lpush(keys.waiting, entry).wait(this.waitForReplicas, this.replicaTimeoutMs).exec()),
      [id],
    );
    return id;
  }

  /**
   * Enqueues many tasks in one pipelined batch per partition, in order, and resolves with their ids. Every
   * task is checked before anything is sent, so bad input writes nothing. `RedisUnavailableError`: none was
   * sent. On `CommandTimeoutError` / `ConnectionLostError` some may have been written.
   */
  async enqueueMany(requests: readonly TaskRequest[]): Promise<string[]> {
    if (!Array.isArray(requests)) throw new InvalidOptionError(`Expected an array of tasks, got \`${typeof requests}\``);
    if (!this.tracing) return await this.#enqueueMany(requests.map((r) => this.#entry(r.name, r.args, r)));
    const spans = requests.map((r) => publishSpan(this.name, String(r?.name)));
    try {
      const built = requests.map((r, i) => this.#entry(r.name, r.args, r, traceparentOf(spans[i] as Span)));
      for (const [i, b] of built.entries()) spans[i]?.setAttribute('messaging.message.id', b.id);
      const ids = await this.#enqueueMany(built);
      for (const span of spans) endSpan(span);
      return ids;
    } catch (err) {
      for (const span of spans) endSpan(span, err);
      throw err;
    }
  }

  async #enqueueMany(built: readonly Built[]): Promise<string[]> {
    const byPartition = new Map<QueueKeys, { entries: string[]; ids: string[]; later: string[]; dues: Due[] }>();
    const pushed: Built[] = [];
    for (const b of built) {
      if (b.push) {
        pushed.push(b);
        continue;
      }
      let group = byPartition.get(b.keys);
      if (!group) byPartition.set(b.keys, (group = { entries: [], ids: [], later: [], dues: [] }));
      if (b.due) {
        group.later.push(b.entry);
        group.dues.push(b.due);
      } else group.entries.push(b.entry);
      group.ids.push(b.id);
    }
    const CHUNK = 1000;
    if (built.length > 0) await this.checkConfig();
    const redis = this.redis;
    // Tasks of another level or for the front: one push.lua (or RPUSH) each, before the pipelines (whose WAIT
    // then covers them too).
    await Promise.all(pushed.map((b) => send(redis, () => pushEntry(redis, b.keys, b.entry, b.push!.level, b.push!.front))));
    if (pushed.length > 0 && byPartition.size === 0 && this.waitForReplicas > 0)
      this.#checkReplicas(
        await send(redis, () => redis.pipeline().wait(this.waitForReplicas, this.replicaTimeoutMs).exec()),
        pushed.map((b) => b.id),
      );
    await Promise.all(
      [...byPartition].map(async ([keys, { entries, ids, later, dues }]) => {
        const pipeline = this.#scheduledPipeline(keys, later, dues);
        for (let i = 0; i < entries.length; i += CHUNK) pipeline.lpush(keys.waiting, ...entries.slice(i, i + CHUNK));
        if (this.waitForReplicas > 0) pipeline.wait(this.waitForReplicas, this.replicaTimeoutMs);
        let replies = (await send(redis, () => pipeline.exec())) ?? [];
        // A server that did not know schedule.lua ran none of those calls: send exactly them again, with the text.
        const missed = later.map((_, i) => i).filter((i) => isNoScript(replies[i]?.[0]));
        if (missed.length > 0) {
          const again = redis.pipeline();
          const source = scriptSource('schedule');
          for (const i of missed) {
            const due = dues[i] as Due;
            const call = scheduleCall(keys, later[i] as string, due.delayMs, due.atMs);
            again.eval(source, call.keys.length, ...call.keys, ...call.args);
          }
          if (this.waitForReplicas > 0) again.wait(this.waitForReplicas, this.replicaTimeoutMs);
          replies = [...replies.filter(([err]) => !isNoScript(err)), ...((await send(redis, () => again.exec())) ?? [])];
        }
        this.#checkReplicas(replies, ids);
      }),
    );
    return built.map((b) => b.id);
  }

  /** A pipeline that starts with one schedule.lua call per entry that runs later. */
  #scheduledPipeline(keys: QueueKeys, entries: readonly string[], dues: readonly Due[]) {
    const pipeline = this.redis.pipeline();
    const sha = scriptSha('schedule');
    entries.forEach((entry, i) => {
      const due = dues[i] as Due;
      const call = scheduleCall(keys, entry, due.delayMs, due.atMs);
      pipeline.evalsha(sha, call.keys.length, ...call.keys, ...call.args);
    });
    return pipeline;
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

  /** Closes the producer connection. Never rejects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#redis) await disconnect(this.#redis);
  }
}
