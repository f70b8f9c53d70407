/**
 * The dashboard's Scheduled page: tasks waiting for their due time (`delayMs`, `runAt`, retries after their
 * backoff) and the repeating schedules, each read a page at a time at O(page) cost:
 *
 * - scheduled tasks are paged with a cursor of per-partition offsets: each partition's sorted set is read from
 *   its own offset by rank (ZRANGE start stop: O(log N + page)), the partitions' pages are merged by due time
 *   and the next cursor says how far each partition got. Cost: TIME, then ZCARD + ZRANGE per partition.
 * - schedules are paged by next due time from the `schedule-times` zset (ZCARD + ZRANGE by rank), then their
 *   specs and overlap holds are read for that page's ids only (two HMGETs).
 *
 * What is stored about a schedule's last tick: nothing in general (the firing script arms the next due time and
 * keeps no history); for an overlap 'skip' schedule, `schedule-runs` names the occurrence that holds it while it
 * runs (`cron:<id>:<tick ms>`), which is shown as its running tick.
 */
import { createHash } from 'node:crypto';
import { claimedHeader, decodeEntry, entryFromBytes } from '../payload.ts';
import { levelHome } from '../level-status.ts';
import type { Queue } from '../queue.ts';
import { redisTime } from '../schedules.ts';
import { runNow } from '../store-time.ts';

/** Entries are decoded only to be shown; allow a large one (the queue's own limit is checked on enqueue). */
const DECODE_LIMIT = 512 * 1_048_576;

/** A scheduled task as the page shows it. */
export interface ScheduledRow {
  readonly partition: number;
  readonly id: string;
  readonly name: string;
  /** Due time, ms on Redis' clock. */
  readonly dueAt: number;
  readonly attempt: number;
  readonly failures: number;
  /** The arguments as JSON text, at most `argsChars` characters. */
  readonly args: string;
  readonly argsTruncated: boolean;
  /** Names the entry's exact bytes (sha-256, 22 base64url characters). */
  readonly digest: string;
}

export interface ScheduledPage {
  /** Redis time of the read, ms. */
  readonly at: number;
  /** Tasks scheduled in all partitions. */
  readonly total: number;
  /** The cursor this page was read from (one offset per partition). */
  readonly cursor: readonly number[];
  /** The cursor of the next page, or null when this page reaches the end. */
  readonly next: readonly number[] | null;
  readonly tasks: readonly ScheduledRow[];
}

export const entryDigest = (raw: Buffer): string => createHash('sha256').update(raw).digest('base64url').slice(0, 22);

function row(raw: Buffer, dueAt: number, partition: number, argsChars: number): ScheduledRow {
  const entry = entryFromBytes(raw, DECODE_LIMIT);
  const decoded = typeof entry === 'string' ? decodeEntry(entry, DECODE_LIMIT) : undefined;
  const digest = entryDigest(raw);
  if (decoded?.ok) {
    const t = decoded.task;
    const text = t.argsJson;
    const args = text.slice(0, argsChars);
    return {
      partition,
      id: t.id,
      name: t.name,
      dueAt,
      attempt: t.attempt,
      failures: t.failures,
      args,
      argsTruncated: text.length > argsChars,
      digest,
    };
  }
  const claimed = claimedHeader(raw);
  return {
    partition,
    id: claimed.id || '?',
    name: claimed.name || '?',
    dueAt,
    attempt: 0,
    failures: 0,
    args: '(unreadable entry)',
    argsTruncated: false,
    digest,
  };
}

/** One page of scheduled tasks from `cursor` (per-partition offsets), earliest due first. */
export async function scheduledPage(queue: Queue, cursor: readonly number[], limit: number, argsChars = 2000): Promise<ScheduledPage> {
  const redis = queue.redis;
  const [at, parts] = await Promise.all([
    redisTime(redis),
    Promise.all(
      queue.partitions.map(async (keys, p) => {
        const from = cursor[p] ?? 0;
        const replies = (await redis
          .pipeline()
          .zcard(keys.scheduled)
          .zrangeBuffer(keys.scheduled, from, from + limit - 1, 'WITHSCORES')
          .exec()) as [Error | null, unknown][];
        for (const [err] of replies) if (err) throw err;
        const items = replies[1]?.[1] as Buffer[];
        const rows: { raw: Buffer; due: number; partition: number }[] = [];
        for (let i = 0; i + 1 < items.length; i += 2)
          rows.push({ raw: items[i] as Buffer, due: Number((items[i + 1] as Buffer).toString()), partition: keys.partition });
        return { total: replies[0]?.[1] as number, from, rows };
      }),
    ),
  ]);
  // Each partition's page is in due order (ties by bytes, as the zset keeps them): a stable sort by due keeps that.
  const merged = parts
    .flatMap((p) => p.rows)
    .sort((a, b) => a.due - b.due)
    .slice(0, limit);
  const taken = parts.map(() => 0);
  for (const r of merged) taken[r.partition] = (taken[r.partition] ?? 0) + 1;
  const next = parts.map((p, i) => p.from + (taken[i] ?? 0));
  const more = parts.some((p, i) => (next[i] ?? 0) < p.total);
  return {
    at,
    total: parts.reduce((n, p) => n + p.total, 0),
    cursor: parts.map((p) => p.from),
    next: more ? next : null,
    tasks: merged.map((r) => row(r.raw, r.due, r.partition, argsChars)),
  };
}

/** Names one scheduled task as a page showed it: its partition, due time and the digest of its exact bytes. */
export interface ScheduledRef {
  readonly partition: number;
  readonly dueAt: number;
  readonly digest: string;
}

/**
 * Runs a scheduled (or retrying) task now: its exact entry moves to the back of its partition's waiting list (its
 * priority level's list for a task of a level) in
 * one script (`lua/run-now.lua`), as a promotion at its due time would. Finds the entry among those due at
 * `ref.dueAt` by its digest (ZRANGEBYSCORE over one score: O(log N) plus ties). Resolves 'moved', or 'gone' when
 * it is no longer scheduled (promoted, run now by someone else, or cancelled); nothing is written then.
 */
export async function runScheduledNow(queue: Queue, ref: ScheduledRef): Promise<'moved' | 'gone'> {
  const keys = queue.partitions[ref.partition];
  if (!keys) return 'gone';
  const same = await queue.redis.zrangebyscoreBuffer(keys.scheduled, ref.dueAt, ref.dueAt);
  const raw = same.find((b) => entryDigest(b) === ref.digest);
  if (!raw) return 'gone';
  const into = await levelHome(queue.redis, queue.levels, queue.keys)(keys, raw.toString());
  return (await runNow(queue.redis, keys, raw, into)) ? 'moved' : 'gone';
}

/** A repeating schedule as the page shows it. */
export interface ScheduleRow {
  readonly id: string;
  readonly cron: string | null;
  readonly everyMs: number | null;
  readonly tz: string | null;
  readonly task: string | null;
  readonly missed: unknown;
  readonly overlap: string | null;
  /** Next due time, ms on Redis' clock. */
  readonly nextDueAt: number;
  /** Overlap 'skip' only: the tick (ms) of the occurrence that holds the schedule now, and until when at most. */
  readonly running: { readonly tick: number | null; readonly occurrence: string; readonly holdUntil: number | null } | null;
}

export interface SchedulePage {
  readonly at: number;
  readonly total: number;
  readonly offset: number;
  readonly schedules: readonly ScheduleRow[];
}

function spec(json: string | null): Record<string, unknown> {
  if (json === null) return {};
  try {
    const v = JSON.parse(json) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const strOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** One page of the queue's repeating schedules, by next due time. */
export async function schedulePage(queue: Queue, offset: number, limit: number): Promise<SchedulePage> {
  const redis = queue.redis;
  const keys = queue.partitions[0];
  if (!keys) throw new Error('A queue has at least one partition');
  const [at, first] = await Promise.all([
    redisTime(redis),
    redis
      .pipeline()
      .zcard(keys.scheduleTimes)
      .zrange(keys.scheduleTimes, offset, offset + limit - 1, 'WITHSCORES')
      .exec(),
  ]);
  for (const [err] of first ?? []) if (err) throw err;
  const total = first?.[0]?.[1] as number;
  const times = first?.[1]?.[1] as string[];
  const ids: string[] = [];
  const due: number[] = [];
  for (let i = 0; i + 1 < times.length; i += 2) {
    ids.push(times[i] as string);
    due.push(Number(times[i + 1]));
  }
  if (ids.length === 0) return { at, total, offset, schedules: [] };
  const second = await redis
    .pipeline()
    .hmget(keys.schedules, ...ids)
    .hmget(keys.scheduleRuns, ...ids)
    .exec();
  for (const [err] of second ?? []) if (err) throw err;
  const specs = second?.[0]?.[1] as (string | null)[];
  const holds = second?.[1]?.[1] as (string | null)[];
  const schedules = ids.map((id, i): ScheduleRow => {
    const s = spec(specs[i] ?? null);
    const hold = holds[i] ?? null;
    const m = hold === null ? null : /^(\S+) (\d+)$/.exec(hold);
    const tick = m ? /:(\d+)$/.exec(m[1] as string) : null;
    return {
      id,
      cron: strOrNull(s.cron),
      everyMs: typeof s.everyMs === 'number' ? s.everyMs : null,
      tz: strOrNull(s.tz),
      task: strOrNull(s.task),
      missed: s.missed ?? null,
      overlap: strOrNull(s.overlap),
      nextDueAt: due[i] as number,
      running:
        hold === null
          ? null
          : { tick: tick ? Number(tick[1]) : null, occurrence: m ? (m[1] as string) : hold, holdUntil: m ? Number(m[2]) : null },
    };
  });
  return { at, total, offset, schedules };
}
