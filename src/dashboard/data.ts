/**
 * What the dashboard reads, per queue, with its Redis cost bounded and shared:
 *
 * - every answer is cached for `refreshMs` (1 s): N browsers polling cost what one does, and concurrent
 *   requests share one read (the cache holds the promise);
 * - the overview and the workers page come from ONE `queueStatus` read (a MULTI of O(1) reads per partition
 *   plus one LLEN per registration: never O(tasks));
 * - dead letters are read a page at a time (≤ 100 records; one LLEN per partition);
 * - scheduled tasks and repeating schedules are read a page at a time, by rank (scheduled.ts): O(page);
 * - Find a task reads at most FIND_SCAN entries of each place that grows with the backlog (lookup.ts `maxScan`);
 * - each status read is also a throughput sample: the finished-task counters the workers report, compared
 *   worker by worker with the previous read, so the chart costs no extra command.
 */
import { findDeadLetter, listDeadLetters, type DeadLetterPage, type DeadLetterRecord } from '../dead-letters.ts';
import type { TaskLookup } from '../lookup.ts';
import type { Queue } from '../queue.ts';
import { queueStatus, type QueueStatus } from '../status.ts';
import { ThroughputMeter } from '../throughput.ts';
import { type SchedulePage, schedulePage, type ScheduledPage, scheduledPage } from './scheduled.ts';

/** One throughput sample: tasks the workers finished since the previous sample. */
export interface Sample {
  /** Redis time (ms) of the read. */
  readonly at: number;
  readonly succeeded: number;
  readonly failed: number;
}

/** What one Find request reads at most of each partition's scheduled set, waiting list and dead letters. */
export const FIND_SCAN = 10_000;

/** Samples kept: 10 minutes at one a second. */
const HISTORY = 600;
interface Cached<T> {
  readonly at: number;
  readonly value: Promise<T>;
}

export class QueueData {
  readonly queue: Queue;
  readonly #refreshMs: number;
  #status: Cached<QueueStatus> | undefined;
  readonly #pages = new Map<string, Cached<DeadLetterPage>>();
  readonly #later = new Map<string, Cached<ScheduledPage | SchedulePage>>();
  readonly #lookups = new Map<string, Cached<TaskLookup>>();
  readonly #meter = new ThroughputMeter(10_000);
  readonly #last = new Map<string, { succeeded: number; failed: number }>();
  #sampled = false;
  readonly history: Sample[] = [];

  constructor(queue: Queue, refreshMs: number) {
    this.queue = queue;
    this.#refreshMs = refreshMs;
  }

  /** The queue's status, read at most once per refresh interval. */
  status(): Promise<QueueStatus> {
    const now = performance.now();
    if (this.#status && now - this.#status.at < this.#refreshMs) return this.#status.value;
    const value = queueStatus(this.queue, { runningLimit: 100, deadLimit: 1 }).then((s) => {
      s.throughput = this.#meter.add(s);
      this.#sample(s);
      return s;
    });
    // A failed read is not kept: the next request tries again.
    value.catch(() => {
      if (this.#status?.value === value) this.#status = undefined;
    });
    this.#status = { at: now, value };
    return value;
  }

  /**
   * Adds the finished-task counts since the previous read, process by process: a worker's counters live as
   * long as its process and survive re-registration (a lost lease gives it a new id), so they are keyed by
   * host, pid and start time; when one process shows under two ids (the old registration not swept yet),
   * its highest counts are its own. A process seen first counts from then on.
   */
  #sample(s: QueueStatus): void {
    const now = new Map<string, { succeeded: number; failed: number }>();
    for (const w of s.workers) {
      if (!w.counts) continue;
      const key = w.host !== null && w.pid !== null && w.startedAt !== null ? `${w.host}/${w.pid}/${w.startedAt}` : w.id;
      const seen = now.get(key);
      now.set(key, { succeeded: Math.max(seen?.succeeded ?? 0, w.counts.succeeded), failed: Math.max(seen?.failed ?? 0, w.counts.failed) });
    }
    let succeeded = 0;
    let failed = 0;
    for (const [key, counts] of now) {
      const before = this.#last.get(key);
      if (before) {
        succeeded += Math.max(0, counts.succeeded - before.succeeded);
        failed += Math.max(0, counts.failed - before.failed);
      }
    }
    this.#last.clear();
    for (const [key, counts] of now) this.#last.set(key, counts);
    if (!this.#sampled) {
      this.#sampled = true;
      return; // the first read is the baseline
    }
    this.history.push({ at: s.at, succeeded, failed });
    if (this.history.length > HISTORY) this.history.splice(0, this.history.length - HISTORY);
  }

  /** A page of dead letters, read at most once per refresh interval per (offset, limit). */
  deadPage(offset: number, limit: number): Promise<DeadLetterPage> {
    const key = `${offset}:${limit}`;
    const now = performance.now();
    const hit = this.#pages.get(key);
    if (hit && now - hit.at < this.#refreshMs) return hit.value;
    for (const [k, c] of this.#pages) if (now - c.at >= this.#refreshMs) this.#pages.delete(k);
    const value = listDeadLetters(this.queue, { offset, limit, argsChars: 2000 });
    value.catch(() => {
      if (this.#pages.get(key)?.value === value) this.#pages.delete(key);
    });
    this.#pages.set(key, { at: now, value });
    return value;
  }

  /** A page of scheduled tasks from a cursor (per-partition offsets), read at most once per refresh interval. */
  scheduledPage(cursor: readonly number[], limit: number): Promise<ScheduledPage> {
    return this.#laterPage(`t:${cursor.join(',')}:${limit}`, () => scheduledPage(this.queue, cursor, limit)) as Promise<ScheduledPage>;
  }

  /** A page of repeating schedules by next due time, read at most once per refresh interval. */
  schedulePage(offset: number, limit: number): Promise<SchedulePage> {
    return this.#laterPage(`s:${offset}:${limit}`, () => schedulePage(this.queue, offset, limit)) as Promise<SchedulePage>;
  }

  #laterPage(key: string, read: () => Promise<ScheduledPage | SchedulePage>): Promise<ScheduledPage | SchedulePage> {
    const now = performance.now();
    const hit = this.#later.get(key);
    if (hit && now - hit.at < this.#refreshMs) return hit.value;
    for (const [k, c] of this.#later) if (now - c.at >= this.#refreshMs) this.#later.delete(k);
    const value = read();
    value.catch(() => {
      if (this.#later.get(key)?.value === value) this.#later.delete(key);
    });
    this.#later.set(key, { at: now, value });
    return value;
  }

  /** Forget cached reads (after an action changed the queue). */
  invalidate(): void {
    this.#status = undefined;
    this.#pages.clear();
    this.#later.clear();
    this.#lookups.clear();
  }

  find(where: { partition: number; index: number; digest: string }) {
    return findDeadLetter(this.queue, where);
  }

  /**
   * A task by id: the library's lookup (`queue.task(id, { maxScan: FIND_SCAN, cursor })`: scheduled, waiting,
   * running with its worker and progress, succeeded with its kept result, failed, unknown). It reads the
   * in-flight lists and the kept result whole and at most FIND_SCAN entries of each partition's scheduled set,
   * waiting list and dead letters, so a request costs a bounded number of commands whatever the backlog; an
   * unknown answer with `more` says where to read on ("Search further"). One answer per (id, cursor) serves
   * every tab for a refresh interval.
   */
  lookup(id: string, cursor?: string): Promise<TaskLookup> {
    const key = `${id}\n${cursor ?? ''}`;
    const now = performance.now();
    const hit = this.#lookups.get(key);
    if (hit && now - hit.at < this.#refreshMs) return hit.value;
    const value = this.queue.task(id, { maxScan: FIND_SCAN, ...(cursor !== undefined ? { cursor } : {}) });
    value.catch(() => this.#lookups.delete(key));
    if (this.#lookups.size >= 100) this.#lookups.clear();
    this.#lookups.set(key, { at: now, value });
    return value;
  }
}

/** A dead letter as the browser gets it: without the record's bytes (the digest names it). */
export type PublicLetter = Omit<DeadLetterRecord, 'record'>;

export function publicLetter(letter: DeadLetterRecord): PublicLetter {
  const { record: _record, ...rest } = letter;
  return rest;
}

/** The overview of one queue, as the Queues page shows it. */
export function overview(data: QueueData, s: QueueStatus) {
  return {
    name: s.queue,
    prefix: s.prefix,
    partitions: s.partitions,
    at: s.at,
    waiting: s.waiting,
    scheduled: s.scheduled,
    nextDueAt: s.nextDueAt,
    schedules: s.schedules,
    paused: s.paused,
    next: s.next,
    inFlight: s.inFlight,
    deadLetters: s.deadLetters,
    workersAlive: s.workersAlive,
    workersExpired: s.workersExpired,
    oldestLeaseAgeMs: s.oldestLeaseAgeMs,
    totals: s.totals,
    throughput: s.throughput,
    history: data.history.slice(-300),
  };
}

/** The workers page: each registration with the tasks it runs. */
export function workers(s: QueueStatus) {
  return {
    name: s.queue,
    at: s.at,
    inFlight: s.inFlight,
    workers: s.workers.map((w) => ({
      id: w.id,
      alive: w.alive,
      host: w.host,
      pid: w.pid,
      kind: w.kind,
      concurrency: w.concurrency,
      startedAt: w.startedAt,
      leaseLeftMs: w.leaseLeftMs,
      /** ms since the worker last renewed its lease (and reported). */
      leaseAgeMs: w.reportedAt === null ? null : Math.max(0, s.at - w.reportedAt),
      inFlight: w.inFlight,
      counts: w.counts,
      tasks: s.running
        .filter((r) => r.worker === w.id)
        .map((r) => ({
          id: r.id,
          name: r.name,
          attempt: r.attempt,
          forMs: r.forMs,
          orphaned: r.orphaned,
          ...(r.progress !== undefined ? { progress: r.progress } : {}),
        })),
    })),
  };
}
