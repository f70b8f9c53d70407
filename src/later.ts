/**
 * Tasks that run later: the checks of `delayMs` / `runAt` / per-call retry options, promotion of due entries
 * (`lua/promote.lua`), and the listing of what is scheduled. Every due time is an instant on Redis' clock,
 * computed inside a script; clients only pass durations (and `runAt`, which is read on Redis' clock).
 */
import { backoffOption, type ResolvedBackoff } from './backoff.ts';
import { send, type Client } from './connection.ts';
import { InvalidOptionError } from './errors.ts';
import type { QueueKeys } from './keys.ts';
import { intOption } from './options.ts';
import { claimedHeader, decodeEntry, entryFromBytes } from './payload.ts';
import { MAX_RETRIES, type EnqueueOptions } from './task.ts';

/** When a task that runs later is due: `delayMs` from Redis' TIME, or `atMs` on Redis' clock. */
export interface Due {
  readonly delayMs: number;
  readonly atMs?: number;
}

/** The longest `delayMs`, and the latest `runAt`: 10 years, ms. */
export const MAX_DELAY_MS = 10 * 365 * 86_400_000;

/** The due part of enqueue options, checked; undefined when the task runs at once (a plain LPUSH). */
export function dueOptions(options: EnqueueOptions | undefined): Due | undefined {
  const delayMs = intOption('delayMs', options?.delayMs, 0, 0, MAX_DELAY_MS);
  const runAt = options?.runAt;
  if (runAt === undefined) return delayMs > 0 ? { delayMs } : undefined;
  if (options?.delayMs !== undefined) throw new InvalidOptionError('Expected either `delayMs` or `runAt`, got both');
  const atMs = runAt instanceof Date ? runAt.getTime() : runAt;
  if (typeof atMs !== 'number' || !Number.isInteger(atMs) || atMs < 0 || atMs > Date.UTC(9999, 0)) {
    const shown = runAt instanceof Date ? 'an invalid Date' : `\`${JSON.stringify(runAt) ?? String(runAt)}\``;
    throw new InvalidOptionError(`Expected \`runAt\` to be a Date or whole ms since the epoch, got ${shown}`);
  }
  return { delayMs: 0, atMs };
}

/** The per-call retry options that travel in the entry (only those set). */
export function retryOptions(options: EnqueueOptions | undefined): { retries?: number; backoff?: ResolvedBackoff } {
  const out: { retries?: number; backoff?: ResolvedBackoff } = {};
  if (options?.retries !== undefined) out.retries = intOption('retries', options.retries, 0, 0, MAX_RETRIES);
  if (options?.backoff !== undefined) {
    if (typeof options.backoff === 'function') {
      throw new InvalidOptionError(
        'Expected `backoff` for one call to be { type, delayMs, maxDelayMs, jitter }, got a function (functions only in defineTask: they cannot travel)',
      );
    }
    out.backoff = backoffOption(options.backoff) as ResolvedBackoff;
  }
  return out;
}

export interface ScheduledQuery {
  /** How many of the earliest to skip. @default 0 */
  readonly offset?: number;
  /** How many to return, at most 1000. @default 100 */
  readonly count?: number;
}

/** A task waiting for its due time. */
export interface ScheduledTask {
  readonly id: string;
  readonly name: string;
  /** When it is due, on Redis' clock. */
  readonly dueAt: Date;
  /** The arguments; undefined when the entry cannot be read. */
  readonly args: readonly unknown[] | undefined;
  /** 0 unless it is a retry (or was put back before). */
  readonly attempt: number;
  /** How many runs of it threw so far (a retry waiting for its backoff has 1 or more). */
  readonly failures: number;
  readonly partition: number;
}

/** The scheduled tasks of all partitions, earliest first, paged. */
export async function listScheduled(
  redis: Client,
  partitions: readonly QueueKeys[],
  query: ScheduledQuery,
  maxBytes: number,
): Promise<ScheduledTask[]> {
  const offset = intOption('offset', query?.offset, 0, 0);
  const count = intOption('count', query?.count, 100, 1, 1000);
  // Each partition's first offset + count hold every one of the merged page.
  const pages = await Promise.all(
    partitions.map(async (keys) => {
      const reply = await send(redis, () => redis.zrangeBuffer(keys.scheduled, 0, offset + count - 1, 'WITHSCORES'));
      const out: { raw: Buffer; due: number; partition: number }[] = [];
      for (let i = 0; i + 1 < reply.length; i += 2) {
        out.push({ raw: reply[i] as Buffer, due: Number((reply[i + 1] as Buffer).toString()), partition: keys.partition });
      }
      return out;
    }),
  );
  return pages
    .flat()
    .sort((a, b) => a.due - b.due)
    .slice(offset, offset + count)
    .map(({ raw, due, partition }) => {
      const entry = entryFromBytes(raw, maxBytes);
      const decoded = typeof entry === 'string' ? decodeEntry(entry, maxBytes) : undefined;
      if (decoded?.ok) {
        const t = decoded.task;
        return { id: t.id, name: t.name, dueAt: new Date(due), args: t.args, attempt: t.attempt, failures: t.failures, partition };
      }
      const { id, name } = claimedHeader(raw);
      return { id, name, dueAt: new Date(due), args: undefined, attempt: 0, failures: 0, partition };
    });
}
