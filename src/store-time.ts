/**
 * The typed functions of the scripts for time (schedule, promote, run-now, and the repeating schedules'
 * schedule-set, unschedule, fire, schedule-done), as src/store.ts has them for the others: the keys in the
 * order the script's header gives them, the arguments, and the reply read into named fields.
 */
import type { Client } from './connection.ts';
import type { QueueKeys } from './keys.ts';
import { runScript } from './scripts.ts';

/** schedule.lua: enqueues `entry` to run `delayMs` after Redis' TIME, or at `atMs` on Redis' clock. */
export async function scheduleLater(
  redis: Client,
  keys: QueueKeys,
  entry: string,
  delayMs: number,
  atMs: number | undefined,
): Promise<{ due: number; now: number }> {
  const call = scheduleCall(keys, entry, delayMs, atMs);
  const [due, now] = (await runScript(redis, 'schedule', call.keys, call.args)) as [number, number];
  return { due, now };
}

/** The KEYS and ARGV of one schedule.lua call (a pipeline sends them itself). */
export function scheduleCall(keys: QueueKeys, entry: string, delayMs: number, atMs: number | undefined) {
  const levels = keys.levels;
  return {
    keys: levels ? [keys.scheduled, keys.waiting, ...levels.homeKeys] : [keys.scheduled, keys.waiting],
    args: levels ? [entry, delayMs, atMs ?? '', levels.homeNames] : [entry, delayMs, atMs ?? ''],
  };
}

/** What promote.lua did in one partition. */
export interface Promotion {
  readonly moved: number;
  /** The earliest due time still scheduled (ms, Redis clock), or undefined when nothing is. */
  readonly nextDue: number | undefined;
  /** Redis' time when the script ran (ms). */
  readonly now: number;
  /** With `scheduleTimes` given: the earliest due time of the repeating schedules, or undefined when none. */
  readonly scheduleDue: number | undefined;
}

/**
 * promote.lua: moves up to `max` due entries of one partition onto its waiting list (one atomic script), each
 * into its own priority level's list when the queue has levels. With `scheduleTimes` (partition 0's) it also
 * reads when the first schedule is due, so an idle round is one command.
 */
export async function promote(redis: Client, keys: QueueKeys, max = 1000, scheduleTimes?: string): Promise<Promotion> {
  const levels = keys.levels;
  const times = scheduleTimes === undefined ? [] : [scheduleTimes];
  const [moved, nextDue, now, scheduleDue] = (await runScript(
    redis,
    'promote',
    levels ? [keys.scheduled, keys.waiting, ...levels.homeKeys, ...times] : [keys.scheduled, keys.waiting, ...times],
    levels ? [max, levels.homeNames] : [max],
  )) as [number, number, number, number];
  return { moved, nextDue: nextDue < 0 ? undefined : nextDue, now, scheduleDue: scheduleDue < 0 ? undefined : scheduleDue };
}

/**
 * run-now.lua: moves the scheduled `entry` (its exact bytes) of one partition to the back of list `into`
 * (`waiting`, or its priority level's list: src/level-status.ts `levelHome`). False: it was no longer
 * scheduled (nothing written).
 */
export async function runNow(redis: Client, keys: QueueKeys, entry: Buffer | string, into = keys.waiting): Promise<boolean> {
  return Number(await runScript(redis, 'run-now', [keys.scheduled, into], [entry])) === 1;
}

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
