/**
 * Reaching one task by its id from any process: `queue.task(id)` (where is it now?) and `queue.cancel(id)`.
 *
 * A task is in exactly one place at any instant, moved between places only by scripts: the partition's
 * `scheduled` set, its `waiting` list (or its priority level's list), the in-flight list of one worker
 * registration, or (once failed, with dead letters kept) the `dead` list. Forward moves go scheduled →
 * waiting → in-flight → gone/dead, so a read of the places in that order finds a task that moves forward
 * while it reads. Entries are found by reading (ZSCAN / LRANGE in chunks of 1000: O(backlog), like every
 * peer's remove-by-id); nothing is indexed per task, so a plain task costs nothing more. With `maxScan` a
 * lookup reads at most that many entries of each partition's scheduled set, waiting lists (all levels'
 * together) and dead letters (the in-flight lists and the kept result,
 * bounded by the workers' concurrency and one key, are always read whole) and says where it stopped
 * (`more.cursor`), so a caller with a budget (the dashboard) pays a fixed cost per request.
 *
 * Cancel records a durable request first (`cancel.lua` 'request'), then reads. From then on a run that is put
 * back (requeue, retry, recovery of a dead worker) is dropped instead, which closes the one backward path a
 * read could miss; a worker running the task hears of it with its next lease renewal (`renew.lua`), kills
 * it and finishes it as `cancelled`.
 */
import { guard, send, type Client } from './connection.ts';
import type { QueueKeys } from './keys.ts';
import type { Queue } from './queue.ts';
import { readDeadLetter, readWorkerFacts } from './records.ts';
import { cancelForget, cancelRemove, cancelRequest } from './store.ts';
import { checkTaskId, decodeEntry } from './payload.ts';
import { InvalidOptionError } from './errors.ts';
import { ALL, budgetOf, type ListAt, readCursor, type Scan, START, writeScan } from './lookup-cursor.ts';
import { failureOutcome, readStored } from './results.ts';
import { recordLevels } from './level-status.ts';
import { levelKeys } from './priorities.ts';

interface Found {
  readonly id: string;
  readonly name: string;
  /** 0 on the first run; goes up each time the task was put back. */
  readonly attempt: number;
  /** The partition that holds it. */
  readonly partition: number;
}

/** Where a task is now (`queue.task(id)`, `delayed task ID`). */
export type TaskLookup =
  | (Found & { readonly state: 'scheduled'; readonly dueAt: Date })
  | (Found & { readonly state: 'waiting' })
  | (Found & {
      readonly state: 'running';
      /** The registration whose in-flight list holds it. */
      readonly workerId: string;
      readonly host: string | null;
      readonly pid: number | null;
      /** When its run started (from the worker's last renewal; null when it has not reported it yet). */
      readonly since: Date | null;
      /** A cancel request is pending: its worker will stop it at its next lease renewal. */
      readonly cancelling: boolean;
      /** The latest `taskContext().progress(value)`, as of the worker's last renewal (undefined: none). */
      readonly progress?: unknown;
    })
  | (Found & { readonly state: 'failed'; readonly failedAt: Date; readonly reason: string; readonly message: string })
  /** Finished with success, and the task keeps its result (`keepResult`): `value`, as `queue.result` gives it. */
  | { readonly state: 'succeeded'; readonly id: string; readonly partition: number; readonly finishedAt: Date; readonly value: unknown }
  | {
      readonly state: 'unknown';
      readonly id: string;
      /**
       * Only with `maxScan`: the lookup stopped before reading all of these partitions' scheduled set, waiting
       * list or dead letters. Pass `cursor` back (`queue.task(id, { maxScan, cursor })`) to read on from there.
       */
      readonly more?: { readonly cursor: string; readonly partitions: readonly number[] };
    };

/** `queue.task(id, options)`: a lookup with a budget. */
export interface LookupOptions {
  /**
   * Read at most this many entries of each partition's scheduled set, waiting list (from its newest end) and
   * dead letters, 1,000 a read (the scheduled set's reads are ZSCANs: about that many); an `unknown` answer
   * then carries `more` when something was left unread. @default no limit: O(backlog)
   */
  readonly maxScan?: number;
  /** Where an earlier lookup of the same id stopped: its answer's `more.cursor`. */
  readonly cursor?: string;
}

/** What `queue.cancel(id)` did: `removed` (it was scheduled or waiting: it never runs), `stopping` (it was running: its worker kills it), `not-found`. */
export type CancelResult = 'removed' | 'stopping' | 'not-found';

/** How long a cancel request waits for the worker or sweeper that holds the task (ms). */
export const CANCEL_REQUEST_MS = 600_000;

const CHUNK = 1000;

/** The id an entry names (field 5 of `1|attempt|cutoffs|reason|id|name|...`), or null. */
export function entryTaskId(entry: string): string | null {
  let at = 0;
  for (let i = 0; i < 4; i++) {
    at = entry.indexOf('|', at) + 1;
    if (at === 0) return null;
  }
  const end = entry.indexOf('|', at);
  return end < 0 ? null : entry.slice(at, end);
}

function header(entry: string, id: string, partition: number): Found {
  const fields = entry.split('|', 6);
  return { id, name: fields[5] ?? '', attempt: Number(fields[1]) || 0, partition };
}

const globEscape = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&');

/** What one place's read gave: the entry, or where to go on (`next`; null when read to the end). */
interface Scanned<T, C> {
  readonly hit: T | null;
  readonly next: C | null;
}

/**
 * Reads the scheduled set with ZSCAN from `cursor`, about `budget` entries. A cursor stays good between calls:
 * an entry that is in the set all along is returned by some call.
 */
async function scanScheduled(
  redis: Client,
  keys: QueueKeys,
  id: string,
  cursor: string,
  budget: number,
): Promise<Scanned<{ entry: string; due: number }, string>> {
  const pattern = `*|${globEscape(id)}|*`;
  for (let left = budget; left > 0; ) {
    const count = Math.min(CHUNK, left);
    const [next, flat] = await guard(redis, redis.zscan(keys.scheduled, cursor, 'MATCH', pattern, 'COUNT', count));
    for (let i = 0; i + 1 < flat.length; i += 2)
      if (entryTaskId(flat[i] as string) === id) return { hit: { entry: flat[i] as string, due: Number(flat[i + 1]) }, next: null };
    if (next === '0') return { hit: null, next: null };
    cursor = next;
    left -= count;
  }
  return { hit: null, next: cursor };
}

/**
 * Reads a list from offset `from` of its left end (where pushes go), at most `budget` entries. A push meanwhile
 * shifts entries right (read twice, never missed); takes and trims at the right end move no offset.
 */
async function scanList(
  redis: Client,
  key: string,
  match: (item: string) => boolean,
  from: number,
  budget: number,
): Promise<Scanned<string, number>> {
  for (let left = budget; left > 0; ) {
    const count = Math.min(CHUNK, left);
    const items = await guard(redis, redis.lrange(key, from, from + count - 1));
    const hit = items.find(match);
    if (hit !== undefined) return { hit, next: null };
    if (items.length < count) return { hit: null, next: null };
    from += count;
    left -= count;
  }
  return { hit: null, next: from };
}

const entryMatch = (id: string) => {
  const needle = `|${id}|`;
  return (item: string) => item.includes(needle) && entryTaskId(item) === id;
};

/** Each partition's waiting lists: `waiting`, or with priority levels every level's list in declared order. */
type WaitingLists = (keys: QueueKeys) => readonly string[];

/**
 * The waiting lists of `queue`, read when first needed: its declared levels', else those its configuration
 * record names (a queue object made without `priorities`, as the CLI and the dashboard make them: one GET).
 */
function waitingLists(queue: Queue): () => Promise<WaitingLists> {
  let read: Promise<WaitingLists> | undefined;
  return () => {
    if (queue.levels) return Promise.resolve((keys: QueueKeys) => keys.levels?.lists ?? [keys.waiting]);
    const redis = queue.redis;
    read ??= send(redis, () => redis.get(queue.keys.config)).then((record) => {
      const levels = recordLevels(record);
      return levels ? (keys: QueueKeys) => levelKeys(levels, keys) : (keys: QueueKeys) => [keys.waiting];
    });
    return read;
  };
}

/**
 * `scanList` over a partition's waiting lists in turn, from place `from`, at most `budget` entries in all; the
 * list the entry was found in comes with it (a cancel removes it from there).
 */
async function scanWaiting(
  redis: Client,
  lists: readonly string[],
  match: (item: string) => boolean,
  from: ListAt,
  budget: number,
): Promise<Scanned<{ entry: string; list: string }, ListAt>> {
  let left = budget;
  for (let i = from.list; i < lists.length; i++) {
    const key = lists[i] as string;
    let at = i === from.list ? from.offset : 0;
    for (;;) {
      if (left <= 0) return { hit: null, next: { list: i, offset: at } };
      const count = Math.min(CHUNK, left);
      const items = await guard(redis, redis.lrange(key, at, at + count - 1));
      const hit = items.find(match);
      if (hit !== undefined) return { hit: { entry: hit, list: key }, next: null };
      // A list read to its end passes what is left of the budget on to the next list.
      left -= items.length;
      if (items.length < count) break;
      at += count;
    }
  }
  return { hit: null, next: null };
}

/** The in-flight lists of every registration, read at once (each holds at most its worker's concurrency). */
async function inWorkers(redis: Client, keys: QueueKeys, id: string): Promise<{ entry: string; workerId: string } | null> {
  const workers = await guard(redis, redis.zrange(keys.workers, 0, -1));
  const match = entryMatch(id);
  const lists = await Promise.all(workers.map((workerId) => scanList(redis, keys.worker(workerId), match, 0, ALL)));
  const at = lists.findIndex((l) => l.hit !== null);
  return at < 0 ? null : { entry: lists[at]?.hit as string, workerId: workers[at] as string };
}

async function lookupIn(
  queue: Queue,
  keys: QueueKeys,
  id: string,
  from: Scan,
  budget: number,
  lists: () => Promise<WaitingLists>,
): Promise<TaskLookup | { rest: Scan | null }> {
  const redis = queue.redis;
  const p = keys.partition;
  const scheduled = from.scheduled === null ? null : await scanScheduled(redis, keys, id, from.scheduled, budget);
  if (scheduled?.hit) return { ...header(scheduled.hit.entry, id, p), state: 'scheduled', dueAt: new Date(scheduled.hit.due) };
  const waiting = from.waiting === null ? null : await scanWaiting(redis, (await lists())(keys), entryMatch(id), from.waiting, budget);
  if (waiting?.hit) return { ...header(waiting.hit.entry, id, p), state: 'waiting' };
  const running = await inWorkers(redis, keys, id);
  if (running) {
    const [info, cancelling] = await Promise.all([
      guard(redis, redis.hget(keys.info, running.workerId)),
      guard(redis, redis.hexists(keys.cancel, id)),
    ]);
    const read = readWorkerFacts(info ?? undefined);
    const facts = read?.facts;
    const run = Array.isArray(facts?.running)
      ? (facts.running as unknown[]).find((r) => (r as { id?: unknown } | null)?.id === id)
      : undefined;
    const forMs = Number((run as { forMs?: unknown } | undefined)?.forMs);
    return {
      ...header(running.entry, id, p),
      state: 'running',
      workerId: running.workerId,
      host: typeof facts?.host === 'string' ? facts.host : null,
      pid: typeof facts?.pid === 'number' ? facts.pid : null,
      since: read && Number.isFinite(forMs) ? new Date(read.at - forMs) : null,
      cancelling: cancelling === 1,
      ...((run as { progress?: unknown } | undefined)?.progress !== undefined ? { progress: (run as { progress: unknown }).progress } : {}),
    };
  }
  const kept = await guard(redis, redis.get(keys.result(id)));
  if (kept !== null) {
    const { at, outcome } = readStored(kept);
    const finishedAt = new Date(at);
    if (outcome.ok) return { state: 'succeeded', id, partition: p, finishedAt, value: outcome.value };
    return {
      id,
      name: '',
      attempt: 0,
      partition: p,
      state: 'failed',
      failedAt: finishedAt,
      reason: outcome.reason,
      message: outcome.message,
    };
  }
  const needle = `"id":${JSON.stringify(id)}`;
  const deadMatch = (r: string) => r.includes(needle) && readDeadLetter(r).fields.id === id;
  const dead = from.dead === null ? null : await scanList(redis, keys.dead, deadMatch, from.dead, budget);
  const record = dead?.hit ?? null;
  if (record !== null) {
    const { at, fields } = readDeadLetter(record);
    const entry = typeof fields.entry === 'string' ? fields.entry : '';
    const name = typeof fields.name === 'string' ? fields.name : '';
    return {
      ...(entry ? header(entry, id, p) : { id, name, attempt: 0, partition: p }),
      name,
      state: 'failed',
      failedAt: new Date(at),
      reason: typeof fields.reason === 'string' ? fields.reason : '',
      message: typeof fields.message === 'string' ? fields.message : '',
    };
  }
  const rest = { scheduled: scheduled?.next ?? null, waiting: waiting?.next ?? null, dead: dead?.next ?? null };
  return { rest: rest.scheduled === null && rest.waiting === null && rest.dead === null ? null : rest };
}

/**
 * Where task `id` is now: scheduled (due when), waiting, running (on which worker, since when), failed (a
 * dead letter, when the queue keeps them) or unknown (finished, never existed, or failed without a record).
 * Reads every partition: O(backlog) reads of 1000, or with `maxScan` at most that many entries of each
 * partition's scheduled set, waiting list and dead letters (an `unknown` answer says in `more` what is unread).
 */
export async function lookupTask(queue: Queue, id: string, options: LookupOptions = {}): Promise<TaskLookup> {
  checkTaskId(id);
  if (options === null || typeof options !== 'object')
    throw new InvalidOptionError(`Expected lookup options to be an object, got \`${options === null ? 'null' : typeof options}\``);
  const budget = budgetOf(options.maxScan);
  const from = readCursor(options.cursor, queue.partitions.length);
  const lists = waitingLists(queue);
  const answers = await Promise.all(queue.partitions.map((keys, i) => lookupIn(queue, keys, id, from[i] ?? START, budget, lists)));
  for (const answer of answers) if ('state' in answer) return answer;
  const rests = answers.map((answer) => ('rest' in answer ? answer.rest : null));
  const partitions = rests.flatMap((rest, i) => (rest === null ? [] : [queue.partitions[i]?.partition ?? i]));
  if (partitions.length === 0) return { state: 'unknown', id };
  return { state: 'unknown', id, more: { cursor: rests.map(writeScan).join(','), partitions } };
}

/** What removing a waiting entry also writes: the 'cancelled' outcome for waiters, the unique key's release. */
function resultOf(entry: string): { outcome?: string; ttlMs?: number; uniqueKey?: string } {
  const decoded = decodeEntry(entry, Number.MAX_SAFE_INTEGER);
  if (!decoded.ok) return {};
  const { keepResultMs: ttlMs, unique } = decoded.task;
  return {
    ...(ttlMs !== undefined ? { outcome: failureOutcome('cancelled', 'The task was cancelled (queue.cancel) before it ran'), ttlMs } : {}),
    ...(unique && unique.mode !== 't' ? { uniqueKey: unique.key } : {}),
  };
}

async function cancelIn(queue: Queue, keys: QueueKeys, id: string, lists: () => Promise<WaitingLists>): Promise<CancelResult> {
  const redis = queue.redis;
  // Running already (the case of a stuck task): with the request recorded it cannot move back, so its worker
  // will stop it; answered without reading the backlog. Otherwise the places in the order tasks move forward.
  if (await inWorkers(redis, keys, id)) return 'stopping';
  // An entry that moved on between the read and the removal is read again (it only moves forward now).
  for (let round = 0; round < 5; round++) {
    const scheduled = (await scanScheduled(redis, keys, id, '0', ALL)).hit;
    if (scheduled) {
      if (await cancelRemove(redis, keys, id, scheduled.entry, 'scheduled', resultOf(scheduled.entry))) return 'removed';
      continue;
    }
    const waiting = (await scanWaiting(redis, (await lists())(keys), entryMatch(id), { list: 0, offset: 0 }, ALL)).hit;
    if (waiting !== null) {
      if (await cancelRemove(redis, keys, id, waiting.entry, { list: waiting.list }, resultOf(waiting.entry))) return 'removed';
      continue;
    }
    if (await inWorkers(redis, keys, id)) return 'stopping';
    // Nowhere: drop the request, unless a put-back or a sweep consumed it meanwhile (it was running).
    return (await cancelForget(redis, keys, id)) ? 'not-found' : 'stopping';
  }
  return 'stopping';
}

/**
 * Cancels task `id` from any process. 'removed': it was scheduled or waiting and never runs. 'stopping': it
 * was running; its worker hears of it with its next lease renewal (within `leaseMs`/3), kills the child's
 * process group (an in-process run's signal aborts) and fails it with reason 'cancelled', never retried; if
 * that worker dies first, the sweep drops the task instead of putting it back. 'not-found': finished,
 * failed, or never existed.
 */
export async function cancelTask(queue: Queue, id: string): Promise<CancelResult> {
  checkTaskId(id);
  const redis = queue.redis;
  await Promise.all(queue.partitions.map((keys) => cancelRequest(redis, keys, id, CANCEL_REQUEST_MS)));
  const lists = waitingLists(queue);
  const results = await Promise.all(queue.partitions.map((keys) => cancelIn(queue, keys, id, lists)));
  return results.includes('removed') ? 'removed' : results.includes('stopping') ? 'stopping' : 'not-found';
}

/** `queue.pause()` / `resume()`: sets or deletes the `paused` key of every partition (read by renewals). */
export async function setPaused(queue: Queue, paused: boolean): Promise<void> {
  const redis = queue.redis;
  await Promise.all(
    queue.partitions.map((keys) => send<unknown>(redis, () => (paused ? redis.set(keys.paused, '1') : redis.del(keys.paused)))),
  );
}
