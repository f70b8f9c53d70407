/**
 * One typed function per Lua script: the keys in the order the script's header gives them, the arguments, and
 * the reply read into named fields. Callers never order KEYS by hand. What each script does, and why it is
 * safe to run twice, is in the header of `lua/<name>.lua`.
 */
import type { Client } from './connection.ts';
import type { QueueKeys } from './keys.ts';
import { CANCELLED } from './decide.ts';
import { cancelWrites, type Entry } from './payload.ts';
import { failureOutcome } from './results.ts';
import { runScript, type ScriptArg } from './scripts.ts';

/** What register.lua found: the partition's epoch, whether the queue is paused, and the configuration record (the partition's copy). */
export interface Registered {
  /** The epoch ('' when the configuration differed and nothing was written). */
  readonly epoch: string;
  /** The queue is paused (`queue.pause()`): take nothing. */
  readonly paused: boolean;
  readonly recorded: string;
}

/**
 * register.lua: adds a registration with a lease; the partition's epoch (set from `candidate` if none). With
 * `config`, first writes the partition's copy of the configuration record if there is none, and registers
 * only if the copy equals `config`.
 */
export async function register(
  redis: Client,
  keys: QueueKeys,
  id: string,
  leaseMs: number,
  candidate: string,
  facts: string,
  config?: string,
): Promise<Registered> {
  const withConfig = config !== undefined;
  const [epoch, , paused, recorded] = (await runScript(
    redis,
    'register',
    withConfig ? [keys.workers, keys.epoch, keys.info, keys.paused, keys.config] : [keys.workers, keys.epoch, keys.info, keys.paused],
    withConfig ? [id, leaseMs, candidate, facts, config] : [id, leaseMs, candidate, facts],
  )) as [string, number, number, string?];
  return { epoch: String(epoch), paused: paused === 1, recorded: String(recorded ?? '') };
}

/** renew.lua: 'renewed'; 'gone' (expired or swept); 'epoch' (the partition's epoch is not `epoch`: data lost). */
export type RenewStatus = 'renewed' | 'gone' | 'epoch';

export interface Renewal {
  readonly status: RenewStatus;
  /** Of the `running` task ids given, those with a cancel request pending (`queue.cancel`). */
  readonly cancelled: string[];
  /** The queue is paused (`queue.pause()`): take nothing. */
  readonly paused: boolean;
}

/** renew.lua: extends the lease; also says which of the `running` task ids have a cancel request pending. */
export async function renew(
  redis: Client,
  keys: QueueKeys,
  id: string,
  leaseMs: number,
  epoch: string,
  facts: string,
  running: readonly string[] = [],
): Promise<Renewal> {
  const [status, , paused, ...cancelled] = (await runScript(
    redis,
    'renew',
    [keys.workers, keys.epoch, keys.info, keys.cancel, keys.paused],
    [id, leaseMs, epoch, facts, ...running],
  )) as [number, number, number | undefined, ...string[]];
  return { status: status === 1 ? 'renewed' : status === -1 ? 'epoch' : 'gone', cancelled: cancelled.map(String), paused: paused === 1 };
}

/**
 * dequeue.lua: moves up to `count` waiting entries into the worker's in-flight list, as raw bytes (entries
 * need not be UTF-8). 'refused' when the registration's lease has ended (nothing moved).
 */
export async function dequeue(redis: Client, keys: QueueKeys, workerId: string, count: number): Promise<Buffer[] | 'refused'> {
  const levels = keys.levels;
  const reply = (
    levels
      ? await runScript(
          redis,
          'dequeue-levels',
          [keys.workers, keys.worker(workerId), keys.dispatches, ...levels.lists],
          [workerId, count, levels.pattern],
          'bytes',
        )
      : await runScript(redis, 'dequeue', [keys.waiting, keys.workers, keys.worker(workerId)], [workerId, count], 'bytes')
  ) as [number, ...Buffer[]];
  return reply[0] === 0 ? 'refused' : (reply.slice(1) as Buffer[]);
}

/**
 * Enqueues one entry at the front of the default level (`atFront`: RPUSH, taken next), or in level `level`
 * (push.lua: its level's list, or `waiting` when every level is empty, so that a blocked worker wakes).
 */
export async function pushEntry(redis: Client, keys: QueueKeys, entry: string, level: string, front: boolean): Promise<void> {
  const levels = keys.levels;
  if (level === '' || !levels) {
    await redis.rpush(keys.waiting, entry);
    return;
  }
  const target = keys.levelWaiting(level);
  const others = levels.lists.filter((k) => k !== keys.waiting && k !== target);
  await runScript(redis, 'push', [keys.waiting, target, ...others], [entry, front ? 'front' : '']);
}

/**
 * Why a run is put back: `null` for a run that never started or an orderly stop (not counted), else the
 * cut-off reason recorded in the entry (counted towards maxAttempts).
 */
export type CutoffRecord = 'crashed' | 'stopped' | 'lost' | null;

/**
 * requeue.lua: puts the run back at the front of its level's list, if `list` still holds `entry`: 'requeued';
 * 'stale' (someone else did); 'cancelled' (removed, not put back: a cancel request for the task was pending).
 */
export async function requeue(
  redis: Client,
  list: string,
  keys: QueueKeys,
  entry: Entry,
  cutoff: CutoffRecord,
): Promise<'requeued' | 'stale' | 'cancelled'> {
  const [k, a] = withCancelWrites(keys, entry, [list, keys.waiting, keys.cancel], [entry, cutoff === null ? 0 : 1, cutoff ?? '']);
  const done = await runScript(redis, 'requeue', k, a);
  return done === 1 ? 'requeued' : done === 2 ? 'cancelled' : 'stale';
}

/** The outcome a task that keeps its result gets when a cancel stops it (what its waiters read). */
const CANCELLED_OUTCOME = failureOutcome(CANCELLED.reason, CANCELLED.message);

/**
 * The optional KEYS and ARGV of requeue.lua and retry.lua: for an entry whose drop by a cancel writes
 * something (payload.ts `cancelWrites`), the result and unique keys, the outcome, its TTL, the release flag;
 * then, on a queue with priority levels, the levels' lists and names (the write slots are filled then, with
 * keys nothing touches when there is nothing to write).
 */
export function withCancelWrites(keys: QueueKeys, entry: Entry, k: string[], a: ScriptArg[]): [string[], ScriptArg[]] {
  const w = cancelWrites(entry);
  const levels = keys.levels;
  if (!w && !levels) return [k, a];
  const outcome = w?.keepResultMs === undefined ? '' : CANCELLED_OUTCOME;
  k.push(keys.result(w?.id ?? ''), keys.unique(w?.uniqueKey ?? ''), keys.results);
  a.push(outcome, w?.keepResultMs ?? 1, w?.uniqueKey === undefined ? '' : '1');
  if (levels) {
    k.push(...levels.homeKeys);
    a.push(levels.homeNames);
  }
  return [k, a];
}

/**
 * finish.lua without an outcome or a key: finishes a run a cancel stopped (never put back), drops its cancel
 * request, and keeps `record` as a dead letter when it is not ''. False: the list no longer held the run.
 */
export async function finishCancelled(
  redis: Client,
  list: string,
  keys: QueueKeys,
  entry: Entry,
  taskId: string,
  record: string,
  keep: number,
): Promise<boolean> {
  return (await runScript(redis, 'finish', [list, keys.dead, keys.cancel], [entry, taskId, '', 1, record, Math.max(1, keep), ''])) === 1;
}

/** The steps of cancel.lua (see its header). */
export async function cancelRequest(redis: Client, keys: QueueKeys, taskId: string, ttlMs: number): Promise<void> {
  await runScript(redis, 'cancel', [keys.cancel, keys.scheduled, keys.waiting], ['request', taskId, ttlMs]);
}

/** `where`: 'scheduled', or the waiting list the entry was found in (`waiting`, or a priority level's list). */
export async function cancelRemove(
  redis: Client,
  keys: QueueKeys,
  taskId: string,
  entry: Entry,
  where: 'scheduled' | { readonly list: string },
  also: { readonly outcome?: string; readonly ttlMs?: number; readonly uniqueKey?: string } = {},
): Promise<boolean> {
  const list = where === 'scheduled' ? keys.waiting : where.list;
  const k = [keys.cancel, keys.scheduled, list, keys.result(taskId), keys.unique(also.uniqueKey ?? ''), keys.results];
  const a: ScriptArg[] = [
    'remove',
    taskId,
    entry,
    where === 'scheduled' ? 'scheduled' : 'waiting',
    also.outcome ?? '',
    also.ttlMs ?? 1,
    also.uniqueKey === undefined ? '' : '1',
  ];
  return (await runScript(redis, 'cancel', k, a)) === 1;
}

/** What `finish.lua` writes besides the release. */
export interface FinishWrites {
  /** The outcome to keep for `ttlMs` ('' keeps none). */
  readonly outcome: string;
  readonly ttlMs: number;
  /** A dead letter to keep ('' none), in a list of at most `keep`. */
  readonly record: string;
  readonly keep: number;
  /** A unique key to release if it still names this task. */
  readonly uniqueKey?: string;
}

/** finish.lua: finishes a run of a task that keeps its result or a unique key until it finishes. */
export async function finishWithResult(
  redis: Client,
  list: string,
  keys: QueueKeys,
  entry: Entry,
  taskId: string,
  w: FinishWrites,
): Promise<boolean> {
  const k = [list, keys.dead, keys.cancel, keys.result(taskId), keys.unique(w.uniqueKey ?? ''), keys.results];
  const a = [entry, taskId, w.outcome, Math.max(1, w.ttlMs), w.record, Math.max(1, w.keep), w.uniqueKey === undefined ? '' : '1'];
  return (await runScript(redis, 'finish', k, a)) === 1;
}

/**
 * unique.lua: takes the unique key and enqueues, or finds the key held: `{ id, duplicate }`. `place`: the task's
 * priority level when not the default ('' for the default), and whether it goes to the front (`atFront`).
 */
export async function enqueueUniqueEntry(
  redis: Client,
  keys: QueueKeys,
  u: { readonly key: string; readonly forMs: number },
  entry: string,
  id: string,
  due: { readonly delayMs: number | undefined; readonly atMs: number | undefined },
  place: { readonly level: string; readonly front: boolean },
): Promise<{ id: string; duplicate: boolean }> {
  const levels = keys.levels;
  const list = place.level !== '' && levels ? keys.levelWaiting(place.level) : keys.waiting;
  // A task of another level also names `waiting` and the other lists: into a queue whose lists are all empty it
  // goes to `waiting`, where an idle worker blocks.
  const others = list !== keys.waiting && levels ? [keys.waiting, ...levels.lists.filter((l) => l !== keys.waiting && l !== list)] : [];
  const [done, holder] = (await runScript(
    redis,
    'unique',
    [keys.unique(u.key), list, keys.scheduled, ...others],
    [entry, id, u.forMs, due.delayMs ?? '', due.atMs ?? '', place.front ? 'front' : ''],
  )) as [number, string | null];
  return { id: String(holder ?? id), duplicate: done === 0 };
}

/** unique-release.lua: frees the unique key of a task that started (mode 'until-start'), if it still names it. */
export async function uniqueRelease(redis: Client, keys: QueueKeys, key: string, taskId: string): Promise<boolean> {
  return (await runScript(redis, 'unique-release', [keys.unique(key)], [taskId])) === 1;
}

/** True if the request was still pending (dropped now); false if a worker, a put-back or a sweep took it. */
export async function cancelForget(redis: Client, keys: QueueKeys, taskId: string): Promise<boolean> {
  return (await runScript(redis, 'cancel', [keys.cancel, keys.scheduled, keys.waiting], ['forget', taskId])) === 1;
}

/** fail.lua: finishes the run and keeps `record` (a dead letter, see records.ts) in a list of at most `keep`. */
export async function fail(redis: Client, list: string, keys: QueueKeys, entry: Entry, record: string, keep: number): Promise<boolean> {
  return (await runScript(redis, 'fail', [list, keys.dead], [entry, record, keep])) === 1;
}

export interface SweepPage {
  /** False when another sweeper holds this interval's lock (nothing else is read then). */
  readonly locked: boolean;
  /** Removed registrations due for a look into their lists (a late move may have landed there). */
  readonly retired: string[];
  /** Registrations whose lease ran out. */
  readonly expired: string[];
}

/**
 * sweep.lua: takes the partition's sweep lock for `lockMs` (0: already held by this sweep, `token`), and
 * lists a page of expired registrations; `retiredEveryMs` > 0 also lists retired ones when their check is due.
 */
export async function sweep(
  redis: Client,
  keys: QueueKeys,
  page: { lockMs: number; offset: number; count: number; token: string; retiredEveryMs: number },
): Promise<SweepPage> {
  const reply = (await runScript(
    redis,
    'sweep',
    [keys.workers, keys.sweepLock, keys.retired, keys.retiredLock],
    [page.lockMs, page.offset, page.count, page.token, page.retiredEveryMs],
  )) as [number, number, number, ...string[]];
  if (reply[1] === 0) return { locked: false, retired: [], expired: [] };
  const retired = reply.slice(3, 3 + reply[2]) as string[];
  return { locked: true, retired, expired: reply.slice(3 + reply[2]) as string[] };
}

/** How recover.lua treats a registration's list; see the script's header. */
export type RecoverMode = 'lost' | 'stop' | 'retired';

export interface Recovered {
  /** Entries put back by this call. */
  readonly moved: number;
  /** Entries still in the list (more calls needed). */
  readonly left: number;
  /** The registration (or its retired mark) was removed. */
  readonly removed: boolean;
  /** Entries dropped instead of put back: their tasks had a cancel request pending. */
  readonly cancelled: number;
}

/**
 * recover.lua: puts back up to 1000 entries of registration `id`; `timing` is [ARGV 4, ARGV 5] of the script.
 * Cancelled entries that keep a result or hold a unique key come back from the first call; a second, keyed
 * call names their keys and finishes them as cancelled (the outcome and the key's release with the drop).
 */
export async function recover(
  redis: Client,
  keys: QueueKeys,
  id: string,
  mode: RecoverMode,
  timing: readonly [number, number],
): Promise<Recovered> {
  const levels = keys.levels;
  const k = [keys.workers, keys.worker(id), keys.waiting, keys.info, keys.epoch, keys.retired, keys.cancel, keys.results];
  k.push(keys.config, keys.dispatches, ...(levels?.homeKeys ?? []));
  const a: ScriptArg[] = [id, 1000, mode, ...timing, levels?.homeNames ?? ''];
  const [moved, left, removed, cancelled, ...pending] = (await runScript(redis, 'recover', k, a)) as [
    number,
    number,
    number,
    number,
    ...string[],
  ];
  if (pending.length === 0) return { moved, left, removed: removed === 1, cancelled: Number(cancelled ?? 0) };
  a.push(CANCELLED_OUTCOME);
  for (const entry of pending) {
    const w = cancelWrites(entry);
    if (!w) continue;
    k.push(keys.result(w.id), keys.unique(w.uniqueKey ?? ''));
    a.push(w.id, w.keepResultMs ?? '', w.uniqueKey === undefined ? '' : '1');
  }
  const again = (await runScript(redis, 'recover', k, a)) as [number, number, number, number];
  return { moved: moved + again[0], left: again[1], removed: again[2] === 1, cancelled: cancelled + again[3] };
}

/** '-1' searches the dead-letter list from its old end, '1' from its new end (wherever the record is nearer). */
export type ListSide = '1' | '-1';

/**
 * dead-requeue.lua: removes the dead letter `record` and enqueues `entry` at the back of list `into` (`waiting`,
 * or its priority level's list: src/level-status.ts `levelHome`). False: the record was gone.
 */
export async function deadRequeue(
  redis: Client,
  keys: QueueKeys,
  record: string,
  entry: string,
  side: ListSide,
  into = keys.waiting,
): Promise<boolean> {
  return Number(await runScript(redis, 'dead-requeue', [keys.dead, into], [record, entry, side])) === 1;
}

/** dead-delete.lua: removes the dead letter `record`. False: it was gone already. */
export async function deadDelete(redis: Client, keys: QueueKeys, record: string, side: ListSide): Promise<boolean> {
  return Number(await runScript(redis, 'dead-delete', [keys.dead], [record, side])) === 1;
}

/** retry.lua: 'scheduled' (due at `due`, Redis clock); 'stale' (the list no longer held the run); 'unreadable'. */
export async function retry(
  redis: Client,
  list: string,
  keys: QueueKeys,
  entry: Entry,
  delayMs: number,
): Promise<{ status: 'scheduled' | 'stale' | 'unreadable' | 'cancelled'; due: number; now: number }> {
  const [k, a] = withCancelWrites(keys, entry, [list, keys.scheduled, keys.waiting, keys.cancel], [entry, delayMs]);
  const [status, due, now] = (await runScript(redis, 'retry', k, a)) as [number, number, number];
  const named = status === 1 ? 'scheduled' : status === 0 ? 'stale' : status === 2 ? 'cancelled' : 'unreadable';
  return { status: named, due, now };
}
