/**
 * `delayed-queue/testing`: test your tasks, producers and workers without a Redis server.
 *
 * - `memoryStore()` gives a store in this process' memory; pass its `url` (`memory://`, or `memory://<name>` for
 *   a store of its own) as `redis` to a `Queue`. It runs the same operations as the Lua scripts (one function
 *   per script in src/memory/scripts.ts, checked against Redis by one table of cases), so workers of every kind
 *   take, run, retry, release, fail, requeue and recover as on Redis.
 * - `store.clock`: Redis' clock of that store. `advance(ms)` moves it forward: due tasks, retries after their
 *   backoff and schedule occurrences become due (the workers' timekeepers run a round at once); leases stay
 *   live (as if renewed meanwhile) unless `{ renewals: false }`.
 * - `store.drain(queue)`: resolves once nothing waits, nothing runs and nothing scheduled is due.
 * - `recordOutcomes(worker)`: every outcome the worker reports; `await outcomes.of(id)`.
 *
 * Not modelled: several processes sharing a store (it lives in one process; forked workers' children need no
 * store, their parent talks to it), faults (crashes of Redis, lost connections, timeouts, failover), Redis
 * Cluster, replicas (`waitForReplicas` rejects), and commands or scripts it has no implementation of: those
 * reject with `NotSupportedByMemoryStoreError`. Run timeouts, blocking waits and lease renewals use real time.
 */
import type { Client } from './connection.ts';
import { setMemoryConnect } from './redis-source.ts';
import type { Failure, TaskInfo } from './handlers.ts';
import type { QueueKeys } from './keys.ts';
import { MemoryStore as Store } from './memory/client.ts';
import type { Worker } from './worker.ts';

export { NotSupportedByMemoryStoreError } from './errors.ts';

const stores = new Map<string, TestStore>();

setMemoryConnect((name) => memoryStore(name).connect());

/** The clock every due time and lease deadline of a memory store is on (Redis' `TIME`). */
export interface FakeClock {
  /** The store's time, ms: this machine's clock plus every `advance` so far. */
  now(): number;
  /**
   * Moves the clock forward by `ms`: what falls due meanwhile (tasks run later, retries, schedules) is due now,
   * and workers' timekeepers run a round at once. Live leases move along (their workers are taken to have
   * renewed meanwhile) unless `renewals` is false: then they run out, and a sweep recovers their tasks.
   */
  advance(ms: number, options?: { readonly renewals?: boolean }): void;
}

export interface DrainOptions {
  /** How long to wait, ms; then it rejects, saying what is left. @default 10_000 */
  readonly timeoutMs?: number;
}

/** A store in this process' memory. Get one with `memoryStore()`. */
export class TestStore {
  /** What to pass as a queue's `redis`. */
  readonly url: string;
  readonly clock: FakeClock;
  readonly #store: Store;

  /** @internal */
  constructor(name: string) {
    this.url = `memory://${name}`;
    const store = new Store(name);
    this.#store = store;
    this.clock = {
      now: () => store.keyspace.now(),
      advance: (ms, options) => {
        if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`Expected ms to be a number >= 0, got ${ms}`);
        store.keyspace.advance(ms);
        if (options?.renewals !== false) for (const key of store.keyspace.keys('*}:workers')) store.keyspace.shiftScores(key, ms);
        store.keyspace.onWrite();
        store.clockMoved();
      },
    };
  }

  /** @internal A connection, as the library makes them. */
  connect(): Client {
    return this.#store.connect() as unknown as Client;
  }

  /** What is left in a queue's partitions (or the whole store): waiting, running (taken, not finished), due. */
  pending(queue?: { readonly partitions: readonly QueueKeys[] }): { waiting: number; running: number; due: number } {
    const ks = this.#store.keyspace;
    const now = ks.now();
    const counts = { waiting: 0, running: 0, due: 0 };
    const parts = queue
      ? queue.partitions.map((k) => ({
          waiting: k.levels?.lists ?? [k.waiting],
          running: ks.keys(k.worker('*')),
          scheduled: [k.scheduled],
        }))
      : [
          {
            waiting: [...ks.keys('*}:waiting'), ...ks.keys('*}:waiting:*')],
            running: ks.keys('*}:worker:*'),
            scheduled: ks.keys('*}:scheduled'),
          },
        ];
    for (const p of parts) {
      for (const key of p.waiting) counts.waiting += ks.type(key) === 'list' ? ks.llen(key) : 0;
      for (const key of p.running) counts.running += ks.type(key) === 'list' ? ks.llen(key) : 0;
      for (const key of p.scheduled)
        counts.due += ks.type(key) === 'zset' ? ks.zrangeByScore(key, Number.NEGATIVE_INFINITY, now, false).length : 0;
    }
    return counts;
  }

  /**
   * Resolves once nothing waits, nothing runs and nothing scheduled is due in `queue` (or in the whole store):
   * every task enqueued so far has finished, its handlers called and its outcome written. Tasks due later stay
   * (advance the clock first). Rejects after `timeoutMs` saying what is left (is a worker running?).
   */
  async drain(queue?: { readonly partitions: readonly QueueKeys[] }, options: DrainOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const idle = () => {
      const p = this.pending(queue);
      return p.waiting + p.running + p.due === 0;
    };
    if (idle()) return;
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!idle()) return;
        done();
        resolve();
      };
      // Due times pass without a write: look now and then as well.
      const poll = setInterval(check, 10);
      const timer = setTimeout(() => {
        done();
        const p = this.pending(queue);
        reject(
          new Error(
            `drain: after ${timeoutMs} ms ${p.waiting} task(s) wait, ${p.running} run and ${p.due} scheduled are due (is a worker running on this queue?)`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearInterval(poll);
        clearTimeout(timer);
        this.#store.changes.off('change', check);
      };
      this.#store.changes.on('change', check);
    });
  }

  /** Deletes every key of the store (its clock stays where it is). */
  flush(): void {
    for (const key of this.#store.keyspace.allKeys()) this.#store.keyspace.del(key);
  }
}

/** The memory store named `name` ('' is `memory://`), made on first use; the same one for every caller in this process. */
export function memoryStore(name = ''): TestStore {
  let store = stores.get(name);
  if (!store) stores.set(name, (store = new TestStore(name)));
  return store;
}

/** A task's outcome as its worker reported it. */
export type TaskOutcome =
  | { readonly status: 'succeeded'; readonly task: TaskInfo; readonly result: unknown }
  | { readonly status: 'failed'; readonly task: TaskInfo; readonly failure: Failure };

export interface OutcomeRecorder {
  /** Every outcome so far, in order. */
  readonly all: readonly TaskOutcome[];
  /** Resolves with the outcome of task `id` (at once if it is known); rejects after `timeoutMs` (default 10 s). */
  of(id: string, options?: { readonly timeoutMs?: number }): Promise<TaskOutcome>;
  /** Stops recording. */
  stop(): void;
}

/**
 * Records the outcomes `worker` reports (its `success` and `failure` events), from now on: make it before the
 * worker runs, then `await outcomes.of(id)`. Works on Redis as well as on a memory store.
 */
export function recordOutcomes(worker: Pick<Worker, 'on' | 'off'>): OutcomeRecorder {
  const all: TaskOutcome[] = [];
  const waiters = new Map<string, ((o: TaskOutcome) => void)[]>();
  const add = (o: TaskOutcome) => {
    all.push(o);
    for (const w of waiters.get(o.task.id) ?? []) w(o);
    waiters.delete(o.task.id);
  };
  const onSuccess = (task: TaskInfo, result: unknown) => add({ status: 'succeeded', task, result });
  const onFailure = (task: TaskInfo, failure: Failure) => add({ status: 'failed', task, failure });
  worker.on('success', onSuccess);
  worker.on('failure', onFailure);
  return {
    all,
    of(id, options) {
      const known = all.findLast((o) => o.task.id === id);
      if (known) return Promise.resolve(known);
      const timeoutMs = options?.timeoutMs ?? 10_000;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`No outcome for task ${id} within ${timeoutMs} ms`)), timeoutMs);
        const list = waiters.get(id) ?? [];
        list.push((o) => {
          clearTimeout(timer);
          resolve(o);
        });
        waiters.set(id, list);
      });
    },
    stop() {
      worker.off('success', onSuccess);
      worker.off('failure', onFailure);
    },
  };
}
