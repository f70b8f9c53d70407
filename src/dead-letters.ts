/**
 * Dead letters as a library API: read a page of them, requeue one, delete one, requeue them all.
 *
 * A record is `<now_ms>|<json>` (written by `lua/fail.lua`); the JSON holds the failure and the task's entry
 * as the worker held it. The record's bytes are the token for every action: `dead-requeue.lua` and
 * `dead-delete.lua` remove exactly those bytes and do nothing when they are gone, so two operators acting on
 * the same letter requeue it once. The entry pushed back is made here from the record (attempt + 1, cut-offs
 * reset to 0, so a task cut off `maxAttempts` times runs again instead of failing at once); Lua never decodes
 * the JSON.
 *
 * Pages: the partitions' lists are read as one sequence (partition 0's records, newest first, then
 * partition 1's, …). A page costs one LLEN per partition and at most `limit` (≤ 100) records, whatever the
 * lists hold.
 */
import { createHash } from 'node:crypto';
import { guard, type Client } from './connection.ts';
import { InvalidOptionError } from './errors.ts';
import type { QueueKeys } from './keys.ts';
import { checkTaskId } from './payload.ts';
import { decodeEntry } from './payload.ts';
import type { Queue } from './queue.ts';
import { readDeadLetter } from './records.ts';
import { levelHome } from './level-status.ts';
import { deadDelete, deadRequeue, type ListSide } from './store.ts';

/** One failure record, decoded for people (every field as found; unknown ones are null). */
export interface DeadLetterRecord {
  readonly partition: number;
  /** Position in its partition's list when read (0 = newest). */
  readonly index: number;
  /** Records in its partition's list when read. */
  readonly total: number;
  /** Redis time (ms) of the failure. */
  readonly at: number;
  readonly id: string;
  readonly name: string;
  readonly reason: string;
  readonly message: string;
  readonly signal: string | null;
  readonly exitCode: number | null;
  /** Runs started before it failed: the entry's attempt counter + 1 (null when the entry is unreadable). */
  readonly attempts: number | null;
  readonly cutoffs: number | null;
  /** The task's arguments as JSON text (at most `argsChars` characters; `argsTruncated` says if cut). */
  readonly args: string;
  readonly argsTruncated: boolean;
  /** A short hash of the record's bytes, to find it again without sending the bytes around. */
  readonly digest: string;
  /** The record's bytes: the token `requeueDeadLetter` / `deleteDeadLetter` take. */
  readonly record: string;
}

export interface DeadLetterPage {
  /** Records in all partitions now. */
  readonly total: number;
  readonly offset: number;
  readonly letters: readonly DeadLetterRecord[];
}

export interface DeadLetterPageOptions {
  /** @default 0 */
  readonly offset?: number;
  /** At most 100. @default 50 */
  readonly limit?: number;
  /** Characters of the arguments to keep per record. @default 2000 */
  readonly argsChars?: number;
}

/** Names a record to act on: its partition and its exact bytes (as listed). */
export interface DeadLetterRef {
  readonly partition: number;
  readonly record: string;
  /** Where it was when read (0 = newest): the scripts search from the nearer end of the list. */
  readonly index?: number;
  /** The list's length when read, with `index`. */
  readonly total?: number;
}

/** '-1' when the record is nearer the old end of its list (LREM searches from there), else '1'. */
function side(ref: DeadLetterRef): ListSide {
  return ref.index !== undefined && ref.total !== undefined && ref.index >= ref.total / 2 ? '-1' : '1';
}

// ---- reading ----

export function recordDigest(record: string): string {
  return createHash('sha256').update(record).digest('base64url').slice(0, 22);
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Decodes one record; never throws (an unreadable record is shown with what could be read). */
export function decodeDeadLetter(record: string, partition: number, index: number, total: number, argsChars = 2000): DeadLetterRecord {
  const { at, fields } = readDeadLetter(record);
  const entry = str(fields.entry);
  const decoded = entry === null ? null : decodeEntry(entry, Number.MAX_SAFE_INTEGER);
  const task = decoded?.ok ? decoded.task : null;
  const argsText = task ? task.argsJson : entry !== null ? entry.split('|').slice(8).join('|') : '';
  return {
    partition,
    index,
    total,
    at,
    id: str(fields.id) ?? '?',
    name: str(fields.name) ?? '?',
    reason: str(fields.reason) ?? '?',
    message: str(fields.message) ?? '',
    signal: str(fields.signal),
    exitCode: typeof fields.exitCode === 'number' ? fields.exitCode : null,
    attempts: task ? task.attempt + 1 : null,
    cutoffs: task ? task.cutoffs : null,
    args: argsText.slice(0, argsChars),
    argsTruncated: argsText.length > argsChars,
    digest: recordDigest(record),
    record,
  };
}

function checkPaging(options: DeadLetterPageOptions): { offset: number; limit: number; argsChars: number } {
  const offset = options.offset ?? 0;
  const limit = options.limit ?? 50;
  const argsChars = options.argsChars ?? 2000;
  if (!Number.isInteger(offset) || offset < 0)
    throw new InvalidOptionError(`Expected \`offset\` to be an integer from 0 and up, got \`${String(offset)}\``);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100)
    throw new InvalidOptionError(`Expected \`limit\` to be an integer from 1 to 100, got \`${String(limit)}\``);
  if (!Number.isInteger(argsChars) || argsChars < 0)
    throw new InvalidOptionError(`Expected \`argsChars\` to be an integer from 0 and up, got \`${String(argsChars)}\``);
  return { offset, limit, argsChars };
}

/** The sizes of every partition's dead-letter list (one LLEN each, sent together). */
async function sizes(redis: Client, parts: readonly QueueKeys[]): Promise<number[]> {
  return await Promise.all(parts.map((keys) => guard(redis, redis.llen(keys.dead))));
}

/** A page of dead letters, newest first within each partition. */
export async function listDeadLetters(queue: Queue, options: DeadLetterPageOptions = {}): Promise<DeadLetterPage> {
  const { offset, limit, argsChars } = checkPaging(options);
  const redis = queue.redis;
  const lengths = await sizes(redis, queue.partitions);
  const total = lengths.reduce((a, b) => a + b, 0);
  const reads: Promise<DeadLetterRecord[]>[] = [];
  let start = 0;
  let wanted = limit;
  for (let p = 0; p < lengths.length && wanted > 0; p++) {
    const length = lengths[p] as number;
    const from = Math.max(0, offset - start);
    start += length;
    if (from >= length) continue;
    const count = Math.min(wanted, length - from);
    wanted -= count;
    const keys = queue.partitions[p] as QueueKeys;
    reads.push(
      guard(redis, redis.lrange(keys.dead, from, from + count - 1)).then((records) =>
        records.map((r, i) => decodeDeadLetter(r, p, from + i, length, argsChars)),
      ),
    );
  }
  return { total, offset, letters: (await Promise.all(reads)).flat() };
}

/**
 * Finds a record listed earlier by its partition, index and digest: reads the records around the index
 * (failures since then push it further from the head; requeues and deletes pull it closer) — at most 100.
 * Null when it is not there any more.
 */
export async function findDeadLetter(
  queue: Queue,
  where: { partition: number; index: number; digest: string },
): Promise<DeadLetterRef | null> {
  const keys = partitionOf(queue, where.partition);
  if (!Number.isInteger(where.index) || where.index < 0)
    throw new InvalidOptionError(`Expected \`index\` to be an integer from 0 and up, got \`${String(where.index)}\``);
  const from = Math.max(0, where.index - 20);
  const [records, total] = await Promise.all([
    guard(queue.redis, queue.redis.lrange(keys.dead, from, from + 99)),
    guard(queue.redis, queue.redis.llen(keys.dead)),
  ]);
  const at = records.findIndex((r) => recordDigest(r) === where.digest);
  return at < 0 ? null : { partition: where.partition, record: records[at] as string, index: from + at, total };
}

function partitionOf(queue: Queue, partition: number): QueueKeys {
  const keys = Number.isInteger(partition) ? queue.partitions[partition] : undefined;
  if (!keys)
    throw new InvalidOptionError(
      `Expected \`partition\` to be an integer from 0 to ${queue.partitions.length - 1}, got \`${String(partition)}\``,
    );
  return keys;
}

// ---- actions ----

/** The entry to enqueue for a record: attempt + 1, cut-offs 0, no cut-off reason. Throws when unreadable. */
export function entryToRequeue(record: string): string {
  let entry: unknown;
  try {
    entry = (JSON.parse(record.slice(record.indexOf('|') + 1)) as { entry?: unknown }).entry;
  } catch {
    entry = undefined;
  }
  if (typeof entry !== 'string')
    throw new InvalidOptionError('Expected a dead-letter record holding the failed entry, got one without it: it cannot be requeued');
  const decoded = decodeEntry(entry, Number.MAX_SAFE_INTEGER);
  if (!decoded.ok)
    throw new InvalidOptionError(
      `Expected a readable task entry in the dead letter, got one that is not (${decoded.problem}): it cannot be requeued`,
    );
  const match = /^1\|(\d+)\|\d+\|[a-z]*\|/.exec(entry);
  if (!match) throw new InvalidOptionError('Expected a version 1 entry in the dead letter: it cannot be requeued');
  return `1|${Number(match[1]) + 1}|0||${entry.slice(match[0].length)}`;
}

/** Puts a dead letter's task back at the end of its level's waiting list. False if the record was gone already. */
export async function requeueDeadLetter(queue: Queue, ref: DeadLetterRef): Promise<boolean> {
  const keys = partitionOf(queue, ref.partition);
  const entry = entryToRequeue(ref.record);
  const into = await levelHome(queue.redis, queue.levels, queue.keys)(keys, entry);
  return await deadRequeue(queue.redis, keys, ref.record, entry, side(ref), into);
}

/** Deletes one dead letter. False if it was gone already. */
export async function deleteDeadLetter(queue: Queue, ref: DeadLetterRef): Promise<boolean> {
  const keys = partitionOf(queue, ref.partition);
  return await deadDelete(queue.redis, keys, ref.record, side(ref));
}

export interface RequeueAllResult {
  /** Records requeued. */
  readonly requeued: number;
  /** Records left alone because their entry cannot be read (they stay in the list). */
  readonly skipped: number;
}

/**
 * Requeues the dead letters present when called, oldest first, 100 per round trip per partition (each one
 * through `dead-requeue.lua`, so a record another caller took meanwhile is skipped, never doubled). Letters
 * that fail while this runs stay for the next call. Unreadable records are left in the list.
 */
export async function requeueAllDeadLetters(queue: Queue): Promise<RequeueAllResult> {
  const redis = queue.redis;
  const home = levelHome(redis, queue.levels, queue.keys);
  let requeued = 0;
  let skipped = 0;
  const lengths = await sizes(redis, queue.partitions);
  await Promise.all(
    queue.partitions.map(async (keys, p) => {
      let left = lengths[p] as number;
      // Read from the old end; unreadable records stay there, so skip past them by position.
      let kept = 0;
      while (left > 0) {
        const count = Math.min(100, left);
        // LRANGE lists newest first: reverse, so the oldest failure goes back first (and is taken first).
        const records = (await guard(redis, redis.lrange(keys.dead, -kept - count, -kept - 1))).reverse();
        if (records.length === 0) break;
        left -= records.length;
        const batch: Promise<boolean>[] = [];
        for (const record of records) {
          let entry: string;
          try {
            entry = entryToRequeue(record);
          } catch {
            kept++;
            skipped++;
            continue;
          }
          // These records are the oldest: LREM searches from the old end, so each finds its record at once.
          batch.push(home(keys, entry).then((into) => deadRequeue(redis, keys, record, entry, '-1', into)));
        }
        for (const done of await Promise.all(batch)) if (done) requeued++;
      }
    }),
  );
  return { requeued, skipped };
}

/**
 * Finds the dead letter of task `id` (the newest, if it failed more than once) by reading the lists, 1000
 * records a read; null when there is none.
 */
export async function findDeadLetterById(queue: Queue, id: string): Promise<DeadLetterRecord | null> {
  checkTaskId(id);
  const redis = queue.redis;
  const needle = `"id":${JSON.stringify(id)}`;
  for (const keys of queue.partitions) {
    const total = await guard(redis, redis.llen(keys.dead));
    for (let from = 0; from < total; from += 1000) {
      const records = await guard(redis, redis.lrange(keys.dead, from, from + 999));
      const at = records.findIndex((r) => r.includes(needle) && readDeadLetter(r).fields.id === id);
      if (at >= 0) return decodeDeadLetter(records[at] as string, keys.partition, from + at, total);
      if (records.length < 1000) break;
    }
  }
  return null;
}

/** Requeues the dead letter of task `id` (`delayed dead --requeue ID`). False when it has none (any more). */
export async function requeueDeadLetterById(queue: Queue, id: string): Promise<boolean> {
  const found = await findDeadLetterById(queue, id);
  return found !== null && (await requeueDeadLetter(queue, found));
}

/** Deletes every dead letter of the queue (one `DEL` per partition); resolves with how many there were. */
export async function purgeDeadLetters(queue: Queue): Promise<number> {
  const redis = queue.redis;
  const counts = await Promise.all(
    queue.partitions.map(async (keys) => {
      const [[, length], [, deleted]] = ((await guard(redis, redis.multi().llen(keys.dead).del(keys.dead).exec())) ?? [
        [null, 0],
        [null, 0],
      ]) as [[Error | null, number], [Error | null, number]];
      return deleted === 1 ? length : 0;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}
