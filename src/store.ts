/**
 * One typed function per Lua script: the keys in the order the script's header gives them, the arguments, and
 * the reply read into named fields. Callers never order KEYS by hand. What each script does, and why it is
 * safe to run twice, is in the header of `lua/<name>.lua`.
 */
import type { Client } from './connection.ts';
import type { QueueKeys } from './keys.ts';
import type { Entry } from './payload.ts';
import { runScript } from './scripts.ts';

/** register.lua: adds a registration with a lease; the partition's epoch (set from `candidate` if none). */
export async function register(
  redis: Client,
  keys: QueueKeys,
  id: string,
  leaseMs: number,
  candidate: string,
  facts: string,
): Promise<string> {
  const [epoch] = (await runScript(redis, 'register', [keys.workers, keys.epoch, keys.info], [id, leaseMs, candidate, facts])) as [
    string,
    number,
  ];
  return String(epoch);
}

/** renew.lua: 'renewed'; 'gone' (expired or swept); 'epoch' (the partition's epoch is not `epoch`: data lost). */
export type RenewStatus = 'renewed' | 'gone' | 'epoch';

export async function renew(
  redis: Client,
  keys: QueueKeys,
  id: string,
  leaseMs: number,
  epoch: string,
  facts: string,
): Promise<RenewStatus> {
  const [status] = (await runScript(redis, 'renew', [keys.workers, keys.epoch, keys.info], [id, leaseMs, epoch, facts])) as [
    number,
    number,
  ];
  return status === 1 ? 'renewed' : status === -1 ? 'epoch' : 'gone';
}

/**
 * dequeue.lua: moves up to `count` waiting entries into the worker's in-flight list, as raw bytes (entries
 * need not be UTF-8). 'refused' when the registration's lease has ended (nothing moved).
 */
export async function dequeue(redis: Client, keys: QueueKeys, workerId: string, count: number): Promise<Buffer[] | 'refused'> {
  const reply = (await runScript(redis, 'dequeue', [keys.waiting, keys.workers, keys.worker(workerId)], [workerId, count], 'bytes')) as [
    number,
    ...Buffer[],
  ];
  return reply[0] === 0 ? 'refused' : (reply.slice(1) as Buffer[]);
}

/**
 * Why a run is put back: `null` for a run that never started or an orderly stop (not counted), else the
 * cut-off reason recorded in the entry (counted towards maxAttempts).
 */
export type CutoffRecord = 'crashed' | 'stopped' | 'lost' | null;

/** requeue.lua: puts the run back at the front, if `list` still holds `entry`. False: someone else did. */
export async function requeue(redis: Client, list: string, keys: QueueKeys, entry: Entry, cutoff: CutoffRecord): Promise<boolean> {
  return (await runScript(redis, 'requeue', [list, keys.waiting], [entry, cutoff === null ? 0 : 1, cutoff ?? ''])) === 1;
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
}

/** recover.lua: puts back up to 1000 entries of registration `id`; `timing` is [ARGV 4, ARGV 5] of the script. */
export async function recover(
  redis: Client,
  keys: QueueKeys,
  id: string,
  mode: RecoverMode,
  timing: readonly [number, number],
): Promise<Recovered> {
  const [moved, left, removed] = (await runScript(
    redis,
    'recover',
    [keys.workers, keys.worker(id), keys.waiting, keys.info, keys.epoch, keys.retired],
    [id, 1000, mode, ...timing],
  )) as [number, number, number];
  return { moved, left, removed: removed === 1 };
}

/** '-1' searches the dead-letter list from its old end, '1' from its new end (wherever the record is nearer). */
export type ListSide = '1' | '-1';

/** dead-requeue.lua: removes the dead letter `record` and enqueues `entry`. False: the record was gone. */
export async function deadRequeue(redis: Client, keys: QueueKeys, record: string, entry: string, side: ListSide): Promise<boolean> {
  return Number(await runScript(redis, 'dead-requeue', [keys.dead, keys.waiting], [record, entry, side])) === 1;
}

/** dead-delete.lua: removes the dead letter `record`. False: it was gone already. */
export async function deadDelete(redis: Client, keys: QueueKeys, record: string, side: ListSide): Promise<boolean> {
  return Number(await runScript(redis, 'dead-delete', [keys.dead], [record, side])) === 1;
}
