/**
 * The Redis side of `limit()` and `semaphore()` (src/flow.ts): one function per script call. Limit and
 * semaphore keys carry partition 0's tag (they are queue-wide, not split over partitions), and the semaphore
 * scripts read partition 0's `workers`, where every registration is.
 */
import { type Client, guard } from './connection.ts';
import type { QueueKeys } from './keys.ts';
import type { Entry } from './payload.ts';
import { runScript } from './scripts.ts';
import { withCancelWrites } from './store.ts';

/** limit.lua: 0 when the call goes through (charged), else how long until the call's turn, ms. */
export async function limitCall(redis: Client, keys: QueueKeys, key: string, intervalMs: number, toleranceMs: number): Promise<number> {
  const [wait] = (await runScript(redis, 'limit', [keys.limit(key), keys.limitLine(key)], [intervalMs, toleranceMs])) as [number, number];
  return Number(wait);
}

/** sem-acquire.lua: 'held' (slot `k` of the task is taken), 'full' (nothing written), 'lost' (the lease ran out). */
export async function acquireSlot(
  redis: Client,
  keys: QueueKeys,
  workerId: string,
  taskId: string,
  k: number,
  n: number,
  name: string,
): Promise<'held' | 'full' | 'lost'> {
  const [status] = (await runScript(
    redis,
    'sem-acquire',
    [keys.semaphore(name), keys.workers, keys.holds(workerId)],
    [workerId, taskId, k, n, name],
  )) as [number, number, number];
  return status === 1 ? 'held' : status === 0 ? 'full' : 'lost';
}

/** The slot `k` of task `taskId` on semaphore `name`, as holds:<worker id> lists it. */
export const slotMember = (taskId: string, k: number, name: string) => `${taskId}|${k}|${name}`;

/** The semaphore name in a holds member ('<task id>|<k>|<name>'). */
const nameOf = (member: string) => member.split('|').slice(2).join('|');

/**
 * sem-release.lua: gives back `slots` (holds members) of registration `workerId`. 'lost' (the sweeper) only
 * when its lease ran out: -1 otherwise. Returns the holders removed.
 */
export async function releaseSlots(
  redis: Client,
  keys: QueueKeys,
  workerId: string,
  mode: 'release' | 'lost',
  slots: readonly string[],
): Promise<number> {
  const k = [keys.holds(workerId), keys.workers, ...slots.map((slot) => keys.semaphore(nameOf(slot)))];
  return Number(await runScript(redis, 'sem-release', k, [workerId, mode, ...slots]));
}

/**
 * The sweep's part (partition 0): frees every slot a registration whose lease ran out still holds, 1000 at a
 * time. One ZRANGE when it holds none (the usual case).
 */
export async function freeHolds(redis: Client, keys: QueueKeys, workerId: string): Promise<number> {
  let freed = 0;
  for (let round = 0; round < 100; round++) {
    const slots = await guard(redis, redis.zrange(keys.holds(workerId), 0, 999));
    if (slots.length === 0) break;
    const removed = await releaseSlots(redis, keys, workerId, 'lost', slots);
    if (removed < 0) break;
    freed += removed;
    if (slots.length < 1000) break;
  }
  return freed;
}

/** put-back.lua: the run gives way (a refused limit or semaphore) and runs again `delayMs` later, uncounted. */
export async function putBack(
  redis: Client,
  list: string,
  keys: QueueKeys,
  entry: Entry,
  delayMs: number,
): Promise<{ status: 'scheduled' | 'stale' | 'unreadable' | 'cancelled'; due: number; now: number }> {
  const [k, a] = withCancelWrites(keys, entry, [list, keys.scheduled, keys.waiting, keys.cancel], [entry, delayMs]);
  const [status, due, now] = (await runScript(redis, 'put-back', k, a)) as [number, number, number];
  const named = status === 1 ? 'scheduled' : status === 0 ? 'stale' : status === 2 ? 'cancelled' : 'unreadable';
  return { status: named, due: Number(due), now: Number(now) };
}
