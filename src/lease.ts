/**
 * A worker's registration and its lease. The worker process (never a task) renews the lease every third of
 * its length, so a task that blocks its own event loop cannot make its worker look dead. A worker of a queue
 * with several partitions registers the same id in each of them and renews them together; the lease holds
 * while every partition renewed it.
 *
 * Time: Redis stamps deadlines with its own clock (TIME in the scripts). Locally the lease is trusted only
 * until `send time of the last successful renew + lease - margin`, measured on the monotonic clock; as the
 * renew ran after it was sent, the Redis deadline is never earlier than that. When that moment passes without
 * a renew, or Redis refuses one, the lease is lost: the worker stops its runs and registers anew.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Client, whenReady } from './connection.ts';
import type { QueueKeys } from './keys.ts';
import { type WorkerFacts, workerFactsJson } from './records.ts';
import { keepFirstRecord } from './config.ts';
import { ConfigMismatchError } from './errors.ts';
import { failpoint } from './failpoints.ts';
import { recover, register, renew, type Registered } from './store.ts';
import { afterArrivedIo } from './time.ts';

export type LeaseLoss = 'expired' | 'refused' | 'epoch';

export interface LeaseEvents {
  lost(why: LeaseLoss, workerId: string): void;
  /** A partition's epoch changed: Redis lost the queue's data (restart without persistence, FLUSHALL). */
  epochChanged(previous: string, current: string): void;
  /** The ids of the tasks the worker runs from partition `partition` (asked at each renewal). */
  running?(partition: number): readonly string[];
  /** A renewal found cancel requests (`queue.cancel`) for these running tasks. */
  cancelRequested?(taskIds: readonly string[]): void;
  /** Each successful renewal says whether the queue is paused (`queue.pause()`). */
  paused?(paused: boolean): void;
}

export class Lease {
  readonly #redis: Client;
  readonly #partitions: readonly QueueKeys[];
  readonly #leaseMs: number;
  readonly #marginMs: number;
  readonly #facts: () => WorkerFacts;
  readonly #events: LeaseEvents;
  /** The queue's configuration record, compared with Redis' at each registration. */
  readonly #config: string;
  readonly #queueName: string;
  #id = '';
  /** The epoch each partition had when this worker last registered ('' before the first registration). */
  readonly #epochs: string[];
  #validUntil = 0;
  #renewTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #renewing = false;
  /** A renewal's turn came while the previous one was still out: it goes out as soon as that one is back. */
  #renewMissed = false;
  #closed = false;
  /** Waiting for the verdict on a lease whose local bound has passed (`verdictPending`). */
  #verdictWaiters: (() => void)[] = [];

  constructor(
    redis: Client,
    queue: { readonly name: string; readonly partitions: readonly QueueKeys[]; readonly configRecord: string },
    leaseMs: number,
    facts: () => WorkerFacts,
    events: LeaseEvents,
  ) {
    const partitions = queue.partitions;
    this.#queueName = queue.name;
    this.#config = queue.configRecord;
    this.#redis = redis;
    this.#partitions = partitions;
    this.#epochs = partitions.map(() => '');
    this.#leaseMs = leaseMs;
    this.#marginMs = Math.max(50, Math.round(leaseMs * 0.1));
    this.#facts = facts;
    this.#events = events;
  }

  /** The current registration's worker id; '' while unregistered. */
  get id(): string {
    return this.#id;
  }

  /** True while the lease surely holds in Redis. */
  valid(): boolean {
    return this.#id !== '' && performance.now() < this.#validUntil;
  }

  /**
   * Undefined while the lease is trusted (or there is none). Once its local bound has passed, and until the
   * lease is renewed or declared lost, a promise that resolves when that is decided: the verdict is made only
   * after the replies that already arrived are read (a renewal's may be among them), so an outcome that arrives
   * meanwhile waits for it rather than being written under a lease that may be gone.
   */
  verdictPending(): Promise<void> | undefined {
    if (this.#id === '' || performance.now() < this.#validUntil) return undefined;
    return new Promise((resolve) => this.#verdictWaiters.push(resolve));
  }

  #decided(): void {
    const waiters = this.#verdictWaiters;
    this.#verdictWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Registers under a fresh worker id (ids are never reused) and starts renewing. Rejects if Redis does. */
  async register(): Promise<void> {
    this.stop();
    const id = `${hostname()
      .replace(/[^A-Za-z0-9_.-]/g, '')
      .slice(0, 40)}.${process.pid}.${randomBytes(6).toString('base64url')}`;
    const sent = performance.now();
    const facts = this.#factsJson();
    const enter = (keys: QueueKeys) => register(this.#redis, keys, id, this.#leaseMs, randomBytes(8).toString('hex'), facts, this.#config);
    // Partition 0 first: every configuration has it, so its copy of the record decides between processes
    // that start at once with different configurations (neither wins a partition each); then the others.
    const [first, ...others] = this.#partitions;
    const settled = [(await Promise.allSettled([enter(first as QueueKeys)]))[0] as PromiseSettledResult<Registered>];
    if (settled[0]?.status === 'fulfilled' && settled[0].value.epoch !== '') settled.push(...(await Promise.allSettled(others.map(enter))));
    const refused = settled.findIndex((r) => r.status === 'fulfilled' && r.value.epoch === '');
    if (refused !== -1) {
      // Another configuration is recorded in partition `refused`. Leave the partitions that took this id.
      await Promise.all(
        this.#partitions.map((keys, i) => (i !== refused && settled[i]?.status === 'fulfilled' ? this.#leavePartition(keys, id) : true)),
      );
      const recorded = (settled[refused] as PromiseFulfilledResult<Registered>).value.recorded;
      throw new ConfigMismatchError(this.#queueName, this.#partitions[refused]!.config, recorded, this.#config);
    }
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) {
      // Registered in some partitions only: leave those now (else they would wait for a sweeper), then fail.
      await Promise.all(this.#partitions.map((keys, i) => (settled[i]?.status === 'fulfilled' ? this.#leavePartition(keys, id) : true)));
      throw failed.reason;
    }
    const replies = settled.map((r) => (r as PromiseFulfilledResult<Registered>).value);
    const epochs = replies.map((r) => r.epoch);
    this.#events.paused?.(replies.some((r) => r.paused));
    epochs.forEach((epoch, i) => {
      const previous = this.#epochs[i] ?? '';
      if (previous !== '' && epoch !== previous) this.#events.epochChanged(previous, epoch);
      this.#epochs[i] = epoch;
    });
    if (this.#closed) {
      // Left (the worker stopped) while this registration was on its way: take it back now, or it would wait
      // for a sweep, and a stopped queue would keep a registration.
      await Promise.all(this.#partitions.map((keys) => this.#leavePartition(keys, id)));
      return;
    }
    this.#id = id;
    this.#extend(sent);
    this.#renewTimer = setInterval(() => void this.#renew(), Math.max(10, Math.floor(this.#leaseMs / 3)));
    this.#renewTimer.unref();
  }

  /**
   * Registers, retrying with a growing pause (up to 5 s) until it works or `stop` aborts. Rejects only with
   * `ConfigMismatchError` (retrying cannot mend that); `failed` hears each other failed attempt.
   */
  async registerUntilDone(stop: AbortSignal, failed: (err: unknown, attempt: number) => void): Promise<void> {
    for (let attempt = 1; !stop.aborted; attempt++) {
      try {
        await whenReady(this.#redis, 1000);
        if (stop.aborted) return;
        await this.register();
        return;
      } catch (err) {
        if (err instanceof ConfigMismatchError) throw err;
        failed(err, attempt);
        await sleep(Math.min(5000, 50 * 2 ** attempt), undefined, { signal: stop }).catch(() => undefined);
      }
    }
  }

  #factsJson(): string {
    return workerFactsJson(this.#facts());
  }

  #extend(sentAt: number): void {
    this.#validUntil = sentAt + this.#leaseMs - this.#marginMs;
    this.#armExpiry();
    this.#decided();
  }

  /** The local bound's timer. A renewal whose reply came in time while this process was stopped or busy is read before the verdict. */
  #armExpiry(): void {
    clearTimeout(this.#expiryTimer);
    const timer = setTimeout(
      () =>
        afterArrivedIo(() => {
          if (this.#expiryTimer !== timer) return; // renewed or stopped meanwhile
          if (performance.now() >= this.#validUntil) this.#lose('expired');
          else this.#armExpiry(); // the timer ran a little early
        }),
      Math.max(0, Math.ceil(this.#validUntil - performance.now())),
    );
    timer.unref();
    this.#expiryTimer = timer;
  }

  async #renew(): Promise<void> {
    if (this.#id === '') return;
    if (this.#renewing) {
      this.#renewMissed = true;
      return;
    }
    this.#renewing = true;
    const id = this.#id;
    const sent = performance.now();
    const facts = this.#factsJson();
    try {
      const renewing = this.#partitions.map((keys, i) =>
        renew(this.#redis, keys, id, this.#leaseMs, this.#epochs[i] ?? '', facts, this.#events.running?.(keys.partition)),
      );
      failpoint('stall-after-renew-sent');
      const replies = await Promise.all(renewing);
      if (id !== this.#id) return;
      const statuses = replies.map((r) => r.status);
      const cancelled = replies.flatMap((r) => r.cancelled);
      if (cancelled.length > 0) this.#events.cancelRequested?.(cancelled);
      if (statuses.every((s) => s === 'renewed')) {
        this.#extend(sent);
        this.#events.paused?.(replies.some((r) => r.paused));
      } else this.#lose(statuses.includes('epoch') ? 'epoch' : 'refused');
    } catch {
      // Redis unreachable: keep trying; the expiry timer decides when the lease is gone.
    } finally {
      this.#renewing = false;
      // E.g. this process was stopped while a renewal was out: the next tick is a third of a lease away, and the
      // lease may end before it. Renew now instead.
      if (this.#renewMissed) {
        this.#renewMissed = false;
        void this.#renew();
      }
    }
  }

  /** Declares the lease lost (e.g. a script found it gone) and tells the worker. */
  invalidate(why: LeaseLoss): void {
    this.#lose(why);
  }

  #lose(why: LeaseLoss): void {
    const id = this.#id;
    if (id === '') return;
    this.stop();
    this.#events.lost(why, id);
  }

  /** Stops renewing and forgets the registration (its leftovers are for the sweeper, or for `leave`). */
  stop(): void {
    clearInterval(this.#renewTimer);
    clearTimeout(this.#expiryTimer);
    this.#renewTimer = undefined;
    this.#expiryTimer = undefined;
    this.#id = '';
    this.#validUntil = 0;
    this.#decided();
  }

  /**
   * Leaves in good order: puts back whatever the in-flight lists still hold (not counted as cut off) and
   * removes the registration. Returns false if Redis could not be reached (the sweeper will do it later).
   */
  async leave(): Promise<boolean> {
    const id = this.#id;
    this.#closed = true;
    this.stop();
    if (id === '') return true;
    const results = await Promise.all(this.#partitions.map((keys) => this.#leavePartition(keys, id)));
    // Partition 0's copy of the configuration record went if partition 0 drained; others may still hold work.
    await keepFirstRecord(this.#redis, this.#partitions);
    return results.every(Boolean);
  }

  async #leavePartition(keys: QueueKeys, id: string): Promise<boolean> {
    try {
      for (let i = 0; i < 1000; i++) {
        const { left, removed } = await recover(this.#redis, keys, id, 'stop', [0, 0]);
        if (removed || left === 0) return true;
      }
      return false;
    } catch {
      return false;
    }
  }
}
