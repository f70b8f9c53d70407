/**
 * Repeating schedules (`queue.schedule`): a cron expression in a time zone, or a fixed period. Registered in
 * one hash per queue (id -> spec JSON) with a sorted set of next due times, both under partition 0's tag;
 * occurrences go to partition 0's waiting list. Registration is an upsert (`lua/schedule-set.lua`): every
 * process may call it at start. Firing (`lua/fire.lua`) enqueues a due occurrence and arms the next in one
 * step, compare-and-set on the due time the caller read, so any number of processes may fire at once and each
 * occurrence is enqueued once, with the id `cron:<schedule id>:<due ms>`. Due-ness is decided by `TIME` inside
 * the script; the next due time is computed here from the previous one (never from this machine's clock).
 */
import { send, type Client } from './connection.ts';
import { checkTimeZone, nextOccurrence, parseCron, type Recurrence } from './cron.ts';
import { InvalidOptionError } from './errors.ts';
import type { QueueKeys } from './keys.ts';
import { intOption } from './options.ts';
import { assertJsonFaithful, encodeEntry, isValidTaskName } from './payload.ts';
import { isTask, type Task } from './task.ts';
import { fire, scheduleDone, scheduleSet, unschedule } from './store-time.ts';

/**
 * What to do with ticks that came due while no process fired them (nothing ran for a while):
 * `'latest'` runs the most recent one once; `'none'` runs it only if it is at most 60 s overdue; `{ backfill: n }`
 * runs the last n of them (n ≤ 100), oldest first.
 */
export type Missed = 'latest' | 'none' | { readonly backfill: number };

/** Whether an occurrence may start while the previous one of the same schedule has not finished. */
export type Overlap = 'allow' | 'skip';

export interface ScheduleOptions<A extends unknown[] = unknown[]> {
  /** A 5-field cron expression (`'0 3 * * *'`) or a macro (`'@daily'`). Give `cron` or `everyMs`. */
  readonly cron?: string;
  /** A fixed period, ms (≥ 10): ticks at every multiple of it since the epoch, so they never drift. */
  readonly everyMs?: number;
  /** The IANA time zone the cron expression is read in (ignored with `everyMs`). @default 'UTC' */
  readonly tz?: string;
  /** The task to enqueue: a handle (its argument types are checked) or a task name. */
  readonly task: Task<A, unknown> | string;
  /** The arguments of every occurrence (JSON). @default [] */
  readonly args?: A;
  /** @default 'latest' */
  readonly missed?: Missed;
  /**
   * `'skip'`: no new occurrence while the previous one has not finished (at most timeoutMs × maxAttempts + 60 s
   * after it was enqueued, in case its end is never reported). @default 'allow'
   */
  readonly overlap?: Overlap;
  /** Hard limit for one run of an occurrence, ms. @default the firing queue's `defaultTimeoutMs` */
  readonly timeoutMs?: number;
  /** Cut-off runs an occurrence may have. @default the firing queue's `maxAttempts` */
  readonly maxAttempts?: number;
}

/** The spec as stored: its JSON is compared as bytes, so its keys always come in this order. */
interface Spec {
  readonly cron?: string;
  readonly everyMs?: number;
  readonly tz: string;
  readonly task: string;
  readonly args: readonly unknown[];
  readonly missed: Missed;
  readonly overlap: Overlap;
  readonly timeoutMs?: number;
  readonly maxAttempts?: number;
}

/** A registered schedule, as `queue.schedules()` lists it: its stored spec, its id and its next due time. */
export interface ScheduleInfo extends Spec {
  readonly id: string;
  /** The next due time, on Redis' clock. */
  readonly nextDueAt: Date | undefined;
}

const SCHEDULE_ID = /^[A-Za-z0-9_.:-]{1,100}$/;
/** How late a tick may be and still run under `missed: 'none'`, ms. */
export const MISSED_GRACE_MS = 60_000;
/** How many due schedules one `fireDue` call handles. */
const FIRE_BATCH = 100;

export function checkScheduleId(id: unknown): string {
  if (typeof id !== 'string' || !SCHEDULE_ID.test(id)) {
    throw new InvalidOptionError(`Expected a schedule id of 1-100 of A-Z a-z 0-9 _ . : -, got \`${JSON.stringify(id)}\``);
  }
  return id;
}

function checkMissed(value: unknown): Missed {
  if (value === undefined) return 'latest';
  if (value === 'latest' || value === 'none') return value;
  if (value !== null && typeof value === 'object' && Object.keys(value).join() === 'backfill') {
    return { backfill: intOption('missed.backfill', (value as { backfill: unknown }).backfill, 1, 1, 100) };
  }
  throw new InvalidOptionError(`Expected \`missed\` to be 'latest', 'none' or { backfill: n }, got \`${JSON.stringify(value)}\``);
}

/** Checks a schedule's options and makes its spec (throws an `InvalidOptionError`, having written nothing). */
export function makeSpec(options: ScheduleOptions<unknown[]>): Spec {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('Expected schedule options to be an object');
  const { cron, everyMs } = options;
  if ((cron === undefined) === (everyMs === undefined)) {
    throw new InvalidOptionError(`Expected exactly one of \`cron\` and \`everyMs\`, got ${cron === undefined ? 'neither' : 'both'}`);
  }
  const task = isTask(options.task) ? options.task.taskName : options.task;
  if (!isValidTaskName(task))
    throw new InvalidOptionError(`Expected \`task\` to be a task handle or a task name, got \`${JSON.stringify(task)}\``);
  const args = options.args ?? [];
  if (!Array.isArray(args)) throw new InvalidOptionError(`Expected \`args\` to be an array, got \`${typeof args}\``);
  assertJsonFaithful(args, 'args');
  const tz = options.tz === undefined ? 'UTC' : checkTimeZone(options.tz);
  if (cron !== undefined) parseCron(cron);
  const overlap = options.overlap ?? 'allow';
  if (overlap !== 'allow' && overlap !== 'skip')
    throw new InvalidOptionError(`Expected \`overlap\` to be 'allow' or 'skip', got \`${JSON.stringify(overlap)}\``);
  const spec: Spec = {
    ...(cron !== undefined ? { cron } : { everyMs: intOption('everyMs', everyMs, 0, 10, 366 * 86_400_000) }),
    tz,
    task,
    args,
    missed: checkMissed(options.missed),
    overlap,
    ...(options.timeoutMs !== undefined ? { timeoutMs: intOption('timeoutMs', options.timeoutMs, 0, 1, 2 ** 31 - 1) } : {}),
    ...(options.maxAttempts !== undefined ? { maxAttempts: intOption('maxAttempts', options.maxAttempts, 0, 1, 1000) } : {}),
  };
  return spec;
}

function recurrence(spec: Spec): Recurrence {
  return spec.cron !== undefined ? { cron: parseCron(spec.cron), tz: spec.tz } : { everyMs: spec.everyMs as number };
}

/** Redis' time, ms. */
export async function redisTime(redis: Client): Promise<number> {
  const [s, us] = await send(redis, () => redis.time());
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

/** Registers (or leaves as it is) a schedule; resolves with its next due time and whether it changed. */
export async function registerSchedule(
  redis: Client,
  keys: QueueKeys,
  id: string,
  options: ScheduleOptions<unknown[]>,
): Promise<{ changed: boolean; nextDueAt: Date }> {
  checkScheduleId(id);
  const spec = makeSpec(options);
  const now = await redisTime(redis);
  const first = nextOccurrence(recurrence(spec), now);
  if (first === undefined)
    throw new InvalidOptionError(`Expected \`cron\` to fire within 30 years, got \`${spec.cron}\`, which never does`);
  const { changed, due } = await send(redis, () => scheduleSet(redis, keys, id, JSON.stringify(spec), first));
  return { changed, nextDueAt: new Date(due) };
}

/** Removes a schedule; true if it was registered. */
export async function removeSchedule(redis: Client, keys: QueueKeys, id: string): Promise<boolean> {
  checkScheduleId(id);
  return await send(redis, () => unschedule(redis, keys, id));
}

/** Every registered schedule, by id. */
export async function listSchedules(redis: Client, keys: QueueKeys): Promise<ScheduleInfo[]> {
  const [specs, times] = await Promise.all([
    send(redis, () => redis.hgetall(keys.schedules)),
    send(redis, () => redis.zrange(keys.scheduleTimes, 0, -1, 'WITHSCORES')),
  ]);
  const due = new Map<string, number>();
  for (let i = 0; i + 1 < times.length; i += 2) due.set(times[i] as string, Number(times[i + 1]));
  return Object.keys(specs)
    .sort()
    .flatMap((id) => {
      const spec = readSpec(specs[id] as string);
      if (!spec) return [];
      const at = due.get(id);
      return [{ id, ...spec, nextDueAt: at === undefined ? undefined : new Date(at) }];
    });
}

function readSpec(json: string): Spec | undefined {
  try {
    const spec = JSON.parse(json) as Spec;
    return spec !== null && typeof spec === 'object' && isValidTaskName(spec.task) && Array.isArray(spec.args) ? spec : undefined;
  } catch {
    return undefined;
  }
}

/** Which due ticks to enqueue, and the next due time to arm, given the armed due time and Redis' now. */
export function plan(rule: Recurrence, due: number, now: number, missed: Missed): { ticks: number[]; next: number } {
  const keep = typeof missed === 'object' ? missed.backfill : 1;
  let ticks: number[] = [];
  let next: number | undefined;
  if ('everyMs' in rule) {
    const last = due + Math.floor(Math.max(0, now - due) / rule.everyMs) * rule.everyMs;
    for (let t = Math.max(due, last - (keep - 1) * rule.everyMs); t <= last; t += rule.everyMs) ticks.push(t);
    next = last + rule.everyMs;
  } else {
    let t: number | undefined = due;
    for (let i = 0; t !== undefined && t <= now && i < 100_000; i++) {
      ticks.push(t);
      if (ticks.length > keep) ticks.shift();
      t = nextOccurrence(rule, t);
    }
    next = t !== undefined && t <= now ? nextOccurrence(rule, now) : t;
  }
  const last = ticks.at(-1);
  if (missed === 'none') ticks = last !== undefined && now - last <= MISSED_GRACE_MS ? [last] : [];
  return { ticks, next: next ?? now + 30 * 366 * 86_400_000 };
}

/** What one `fireDue` call did. */
export interface Firing {
  /** Occurrences enqueued. */
  readonly enqueued: number;
  /** The earliest due time of any schedule after this call (ms, Redis clock), or undefined when none is registered. */
  readonly nextDue: number | undefined;
  readonly now: number;
}

/** Defaults for occurrences whose schedule does not set them. */
export interface FireDefaults {
  readonly defaultTimeoutMs: number;
  readonly maxAttempts: number;
  readonly maxPayloadBytes: number;
}

/**
 * Fires every schedule that is due on Redis' clock: enqueues its occurrence(s) and arms its next due time, one
 * script per schedule. Safe to call from any number of processes at once.
 */
export async function fireDue(redis: Client, keys: QueueKeys, defaults: FireDefaults): Promise<Firing> {
  const [[, time], [, head]] = ((await send(redis, () =>
    redis
      .pipeline()
      .time()
      .zrange(keys.scheduleTimes, 0, FIRE_BATCH - 1, 'WITHSCORES')
      .exec(),
  )) ?? []) as [[unknown, [string, string]], [unknown, string[]]];
  let now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
  const due: [string, number][] = [];
  let nextDue: number | undefined;
  for (let i = 0; i + 1 < head.length; i += 2) {
    const at = Number(head[i + 1]);
    if (at <= now) due.push([head[i] as string, at]);
    else nextDue = Math.min(nextDue ?? at, at);
  }
  if (due.length === 0) return { enqueued: 0, nextDue, now };
  const specs = await send(redis, () => redis.hmget(keys.schedules, ...due.map(([id]) => id)));
  let enqueued = 0;
  for (const [i, [id, at]] of due.entries()) {
    const json = specs[i];
    const spec = json ? readSpec(json) : undefined;
    if (!json || !spec) continue;
    const { ticks, next } = plan(recurrence(spec), at, now, spec.missed);
    const timeoutMs = spec.timeoutMs ?? defaults.defaultTimeoutMs;
    const maxAttempts = spec.maxAttempts ?? defaults.maxAttempts;
    const entries = ticks.map((t) =>
      encodeEntry({ id: `cron:${id}:${t}`, name: spec.task, args: spec.args, timeoutMs, maxAttempts }, defaults.maxPayloadBytes),
    );
    const holdMs = spec.overlap === 'skip' ? timeoutMs * maxAttempts + 60_000 : undefined;
    const lastId = ticks.length > 0 ? `cron:${id}:${ticks.at(-1)}` : '';
    const fired = await fire(redis, keys, { id, spec: json, due: at, next, holdMs, entries, lastId });
    now = Math.max(now, fired.now);
    if (fired.status === 'fired') enqueued += entries.length;
    if (fired.status === 'fired' || fired.status === 'held') nextDue = Math.min(nextDue ?? next, next);
    else if (fired.status === 'early') nextDue = Math.min(nextDue ?? at, at);
  }
  // Due schedules beyond this batch, or fired by another process meanwhile: ask again next time.
  if (due.length === FIRE_BATCH) nextDue = now;
  return { enqueued, nextDue, now };
}

/** Lets the next occurrence of an overlap 'skip' schedule run: called when an occurrence (`cron:<id>:<ms>`) finishes. */
export async function occurrenceDone(redis: Client, keys: QueueKeys, taskId: string): Promise<boolean> {
  const m = /^cron:([A-Za-z0-9_.:-]{1,100}):\d+$/.exec(taskId);
  if (!m) return false;
  return await scheduleDone(redis, keys, m[1] as string, taskId);
}
