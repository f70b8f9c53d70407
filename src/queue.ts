/**
 * A queue: its name, its Redis, its defaults. Producers enqueue through it; workers and sweepers take it as
 * their first option. Enqueueing is one LPUSH (or one pipelined batch for `enqueueMany`); ids are made here,
 * unique without a round trip: a random producer prefix and a counter.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { checkRedisSource, connect, disconnect, guard, type RedisSource } from './connection.ts';
import { InvalidOptionError, StateError } from './errors.ts';
import { isValidQueueName, queueKeys, type QueueKeys } from './keys.ts';
import { intOption, stringOption } from './options.ts';
import { encodeEntry, isValidTaskName } from './payload.ts';
import type { Enqueuer, EnqueueOptions, Task } from './task.ts';

export interface QueueOptions {
  /** The queue's name: 1-100 of `A-Z a-z 0-9 _ . : -`. */
  readonly name: string;
  /** Where Redis is: a URL, ioredis options or an ioredis client (duplicated, not taken over). @default 'redis://127.0.0.1:6379' */
  readonly redis?: RedisSource;
  /** Hard limit for one run of a task, ms. @default 600_000 (10 minutes) */
  readonly defaultTimeoutMs?: number;
  /** How many runs of a task may be cut off (worker lost, child crashed) before it fails. @default 3 */
  readonly maxAttempts?: number;
  /** The largest encoded task, bytes; checked before writing and before parsing. @default 1_048_576 (1 MiB) */
  readonly maxPayloadBytes?: number;
  /** How many failed tasks to keep in the dead-letter list (newest first); 0 keeps none. @default 0 */
  readonly deadLetters?: number;
  /** The first part of every key. @default 'delayed' */
  readonly prefix?: string;
}

/** One task for `enqueueMany`. */
export interface TaskRequest extends EnqueueOptions {
  readonly name: string;
  readonly args: readonly unknown[];
}

export class Queue implements Enqueuer {
  readonly name: string;
  readonly keys: QueueKeys;
  readonly defaultTimeoutMs: number;
  readonly maxAttempts: number;
  readonly maxPayloadBytes: number;
  readonly deadLetters: number;
  readonly prefix: string;
  /** Where Redis is, as given; workers make their own connections from it. */
  readonly redisSource: RedisSource;
  #redis: Redis | undefined;
  #closed = false;
  readonly #idPrefix = `${randomBytes(6).toString('base64url')}.`;
  #counter = 0;

  constructor(options: QueueOptions) {
    if (options === null || typeof options !== 'object') throw new InvalidOptionError('Expected queue options to be an object');
    if (typeof options.name !== 'string' || !isValidQueueName(options.name)) {
      throw new InvalidOptionError(`Expected \`name\` to be 1-100 of A-Z a-z 0-9 _ . : -, got \`${JSON.stringify(options.name)}\``);
    }
    this.name = options.name;
    this.redisSource = checkRedisSource(options.redis);
    this.defaultTimeoutMs = intOption('defaultTimeoutMs', options.defaultTimeoutMs, 600_000, 1);
    this.maxAttempts = intOption('maxAttempts', options.maxAttempts, 3, 1, 1000);
    this.maxPayloadBytes = intOption('maxPayloadBytes', options.maxPayloadBytes, 1_048_576, 64, 512 * 1_048_576);
    this.deadLetters = intOption('deadLetters', options.deadLetters, 0, 0, 1_000_000);
    this.prefix = stringOption('prefix', options.prefix, 'delayed', /^[A-Za-z0-9_.:-]{1,100}$/, '1-100 of A-Z a-z 0-9 _ . : -');
    this.keys = queueKeys(this.prefix, this.name);
  }

  /** The producer connection, made on first use. */
  get redis(): Redis {
    if (this.#closed) throw new StateError(`Queue ${this.name} is closed`);
    this.#redis ??= connect(this.redisSource, 'producer', this.name);
    return this.#redis;
  }

  /** Builds the entry for one task; throws a typed error (and writes nothing) on bad input. */
  #entry(name: string, args: readonly unknown[], options: EnqueueOptions | undefined): { id: string; entry: string } {
    if (!isValidTaskName(name)) throw new InvalidOptionError(`Expected a task name (a letter, _ or $, then letters, digits, _ $ . : / -), got \`${JSON.stringify(name)}\``);
    if (!Array.isArray(args)) throw new InvalidOptionError(`Expected the arguments of ${name} to be an array, got \`${typeof args}\``);
    const timeoutMs = intOption('timeoutMs', options?.timeoutMs, this.defaultTimeoutMs, 1);
    const maxAttempts = intOption('maxAttempts', options?.maxAttempts, this.maxAttempts, 1, 1000);
    const id = this.#idPrefix + (this.#counter++).toString(36);
    return { id, entry: encodeEntry({ id, name, args, timeoutMs, maxAttempts }, this.maxPayloadBytes) };
  }

  /**
   * Enqueues a task by name and resolves with its id once Redis has it. Rejects, having written nothing,
   * when the arguments cannot be carried by JSON or are too large; rejects when Redis cannot be reached.
   */
  async enqueue(name: string, args: readonly unknown[], options?: EnqueueOptions): Promise<string> {
    const { id, entry } = this.#entry(name, args, options);
    const redis = this.redis;
    await guard(redis, redis.lpush(this.keys.waiting, entry));
    return id;
  }

  /**
   * Enqueues many tasks in one pipelined batch, in order, and resolves with their ids. Every task is checked
   * before anything is sent, so bad input writes nothing. On a connection error some may have been written.
   */
  async enqueueMany(requests: readonly TaskRequest[]): Promise<string[]> {
    const built = requests.map((r) => this.#entry(r.name, r.args, r));
    const CHUNK = 1000;
    const redis = this.redis;
    const pipeline = redis.pipeline();
    for (let i = 0; i < built.length; i += CHUNK) {
      pipeline.lpush(this.keys.waiting, ...built.slice(i, i + CHUNK).map((b) => b.entry));
    }
    const results = await guard(redis, pipeline.exec());
    const failed = results?.find(([err]) => err);
    if (failed) throw failed[0];
    return built.map((b) => b.id);
  }

  /** A queue-bound enqueue function for a task (the seed's `delay(queue)(fn)` and `delay_in_time`). */
  delay<A extends unknown[], R>(task: Task<A, R>, options?: EnqueueOptions): (...args: A) => Promise<string> {
    const call = options ? task.with(options) : task;
    return (...args: A) => call.delay(this, ...args);
  }

  /** How many tasks wait to be taken. */
  async waiting(): Promise<number> {
    const redis = this.redis;
    return await guard(redis, redis.llen(this.keys.waiting));
  }

  /** Closes the producer connection. Never rejects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#redis) await disconnect(this.#redis);
  }
}
