/**
 * The typed functions of the repeating schedules' scripts (schedule-set, unschedule, fire, schedule-done), as
 * src/store.ts has them for the other scripts: the keys in the order the script's header gives them, the
 * arguments, and the reply read into named fields.
 */
import type { Client } from './connection.ts';
import type { QueueKeys } from './keys.ts';
import { runScript } from './scripts.ts';

/** schedule-set.lua: registers schedule `id` (or keeps it as it is when `spec` is unchanged). */
export async function scheduleSet(
  redis: Client,
  keys: QueueKeys,
  id: string,
  spec: string,
  firstDue: number,
): Promise<{ changed: boolean; due: number; now: number }> {
  const [changed, due, now] = (await runScript(redis, 'schedule-set', [keys.schedules, keys.scheduleTimes], [id, spec, firstDue])) as [
    number,
    number,
    number,
  ];
  return { changed: changed === 1, due, now };
}

/** unschedule.lua: removes schedule `id`; false when it was not registered. */
export async function unschedule(redis: Client, keys: QueueKeys, id: string): Promise<boolean> {
  return (await runScript(redis, 'unschedule', [keys.schedules, keys.scheduleTimes, keys.scheduleRuns], [id])) === 1;
}

/** What fire.lua did: see its header. */
export type FireStatus = 'fired' | 'held' | 'early' | 'moved';

export interface FireRequest {
  readonly id: string;
  /** The spec as read (the token). */
  readonly spec: string;
  readonly due: number;
  readonly next: number;
  /** Overlap 'skip': how long an occurrence holds the schedule at most, ms; undefined for 'allow'. */
  readonly holdMs: number | undefined;
  /** The occurrences' entries, oldest first; their ids (the last one names the hold). */
  readonly entries: readonly string[];
  readonly lastId: string;
}

/** fire.lua: enqueues the due occurrences of a schedule and arms its next due time, in one step. */
export async function fire(redis: Client, keys: QueueKeys, r: FireRequest): Promise<{ status: FireStatus; now: number }> {
  const [status, now] = (await runScript(
    redis,
    'fire',
    [keys.schedules, keys.scheduleTimes, keys.waiting, keys.scheduleRuns],
    [r.id, r.spec, r.due, r.next, r.holdMs === undefined ? 0 : 1, r.holdMs ?? 0, r.lastId, ...r.entries],
  )) as [number, number];
  return { status: status === 1 ? 'fired' : status === 2 ? 'held' : status === 0 ? 'early' : 'moved', now };
}

/** schedule-done.lua: occurrence `taskId` of schedule `id` finished; frees the schedule if it held it. */
export async function scheduleDone(redis: Client, keys: QueueKeys, id: string, taskId: string): Promise<boolean> {
  return (await runScript(redis, 'schedule-done', [keys.scheduleRuns], [id, taskId])) === 1;
}
