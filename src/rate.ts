/**
 * The queue rate limit (`rate: { limit, perMs, burst }`): GCRA, the generic cell rate algorithm, on Redis'
 * clock. Each partition keeps one string, `rate`: the theoretical arrival time (TAT) of its next dispatch, ms.
 * A dispatch at `now` conforms when `max(TAT, now) − now ≤ τ`, then TAT moves on by one interval; so after a
 * quiet spell `burst` tasks may start at once, and from then on one per interval, evenly spaced (no window
 * edges to burst at). Over any stretch of time T a partition dispatches at most T/interval + burst tasks.
 *
 * With N partitions each partition gets limit/N (its interval is N·perMs/limit) and the full `burst`: exact for
 * `partitions: 1`, the sum over partitions when they are evenly loaded (README "Rate limit").
 *
 * Enforced in `dequeue.lua` (KEYS[4]: it takes only as many entries as conform now, or none and says how long
 * until the next one does: the worker sleeps exactly that long); a task an idle worker's blocking move took is
 * charged afterwards by `rate.lua`, and the worker waits for its slot before it starts it.
 */
import type { Client } from './connection.ts';
import { InvalidOptionError } from './errors.ts';
import { defaultBurst } from './options.ts';
import type { QueueKeys } from './keys.ts';
import { runScript } from './scripts.ts';

export interface RateOptions {
  /** Tasks started per `perMs`, over all workers and machines. */
  readonly limit: number;
  /** The period of `limit`, ms. */
  readonly perMs: number;
  /** How many may start at once after a quiet spell. @default what 10 ms of the limit allows, at least 1 (`defaultBurst`) */
  readonly burst?: number;
}

/** A partition's share of the rate, as the scripts read it. */
export interface RateLayout {
  /** ms between two dispatches of the partition (may be fractional). */
  readonly intervalMs: number;
  /** τ = (burst − 1) × interval, ms. */
  readonly toleranceMs: number;
}

/** The checked option with each partition's layout. */
export interface Rate extends Required<RateOptions>, RateLayout {}

const isCount = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= max;

/** Checks `rate` for a queue of `partitions` partitions; undefined when not set. */
export function rateOption(value: unknown, partitions: number): Rate | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new InvalidOptionError(`Expected \`rate\` to be { limit, perMs, burst? }, got \`${JSON.stringify(value)}\``);
  const { limit, perMs } = value as Record<string, unknown>;
  if (!isCount(limit, 1_000_000))
    throw new InvalidOptionError(`Expected \`rate.limit\` to be an integer from 1 to 1,000,000, got \`${JSON.stringify(limit)}\``);
  if (!isCount(perMs, 86_400_000))
    throw new InvalidOptionError(`Expected \`rate.perMs\` to be an integer from 1 to 86,400,000 (a day), got \`${JSON.stringify(perMs)}\``);
  const burst = (value as Record<string, unknown>).burst ?? defaultBurst(limit, perMs);
  if (!isCount(burst, 1_000_000))
    throw new InvalidOptionError(`Expected \`rate.burst\` to be an integer from 1 to 1,000,000, got \`${JSON.stringify(burst)}\``);
  const intervalMs = (perMs * partitions) / limit;
  return { limit, perMs, burst, intervalMs, toleranceMs: (burst - 1) * intervalMs };
}

/** The configuration record's part (src/config.ts): `;rate=<limit>/<perMs>/<burst>`, '' without a rate. */
export function rateRecord(rate: Rate | undefined): string {
  return rate ? `;rate=${rate.limit}/${rate.perMs}/${rate.burst}` : '';
}

/** One partition's keys with the rate layout the fetch reads (unchanged without a rate). */
export function withRate(rate: Rate | undefined, keys: QueueKeys): QueueKeys {
  return rate ? { ...keys, rateLimit: { intervalMs: rate.intervalMs, toleranceMs: rate.toleranceMs } } : keys;
}

/**
 * dequeue.lua (dequeue-levels.lua on a queue with levels) with the queue's rate limit (`keys.rateLimit`):
 * entries as `dequeue` gives them, 'refused', or
 * `{ waitMs }` when the rate lets nothing start now (nothing moved; the next dispatch conforms that much later).
 */
export async function dequeueLimited(
  redis: Client,
  keys: QueueKeys,
  workerId: string,
  count: number,
  rate: { readonly intervalMs: number; readonly toleranceMs: number },
): Promise<Buffer[] | 'refused' | { waitMs: number }> {
  const levels = keys.levels;
  const reply = (
    levels
      ? await runScript(
          redis,
          'dequeue-levels',
          [keys.workers, keys.worker(workerId), keys.dispatches, ...levels.lists, keys.rate],
          [workerId, count, levels.pattern, rate.intervalMs, rate.toleranceMs],
          'bytes',
        )
      : await runScript(
          redis,
          'dequeue',
          [keys.waiting, keys.workers, keys.worker(workerId), keys.rate],
          [workerId, count, rate.intervalMs, rate.toleranceMs],
          'bytes',
        )
  ) as [number, ...(Buffer | number)[]];
  if (reply[0] === 2) return { waitMs: Number(reply[1]) };
  return reply[0] === 0 ? 'refused' : (reply.slice(1) as Buffer[]);
}

/** rate.lua: charges the rate limit for an entry a blocking move took; resolves with the wait before it starts, ms. */
export async function chargeRate(
  redis: Client,
  keys: QueueKeys,
  rate: { readonly intervalMs: number; readonly toleranceMs: number },
): Promise<number> {
  return Number(await runScript(redis, 'rate', [keys.rate], [rate.intervalMs, rate.toleranceMs]));
}
