/**
 * How long to wait before a task that threw runs again. A policy is either a description (fixed or exponential,
 * with a cap and jitter), which can travel inside an entry, or a function `(attempt, error) => ms`, which lives
 * only in the worker's task definition (functions never travel). The delay is a duration: the instant it ends
 * is computed by Redis (`TIME` inside `lua/retry.lua`), never from a machine's clock.
 */
import { InvalidOptionError } from './errors.ts';

/**
 * How the computed delay `d` is spread:
 * - `'full'`: uniform in `[0, d]` (spreads a burst of failures out the most; the default for exponential);
 * - `'equal'`: uniform in `[d/2, d]` (never much shorter than `d`);
 * - `'none'`: exactly `d` (the default for fixed).
 */
export type Jitter = 'full' | 'none' | 'equal';

/** A backoff policy that can be written into an entry. */
export interface BackoffSpec {
  /** `'fixed'`: `delayMs` every time; `'exponential'`: `delayMs · 2^(failures - 1)`. */
  readonly type: 'fixed' | 'exponential';
  /** The base delay, ms. @default 1000 */
  readonly delayMs?: number;
  /** The longest delay, ms, before jitter. @default 3_600_000 (1 hour) */
  readonly maxDelayMs?: number;
  /** @default 'full' for exponential, 'none' for fixed */
  readonly jitter?: Jitter;
}

/**
 * A backoff computed by the worker: `failures` is how many times the task has thrown so far (1 on the first
 * failure), `error` what it threw this time. Returns the delay in ms (0: at once).
 */
export type BackoffFunction = (failures: number, error: unknown) => number;

export type Backoff = BackoffSpec | BackoffFunction;

/** A policy with every field filled in. */
export interface ResolvedBackoff {
  readonly type: 'fixed' | 'exponential';
  readonly delayMs: number;
  readonly maxDelayMs: number;
  readonly jitter: Jitter;
}

/** The longest delay a retry may have, ms (30 days): a longer one is almost certainly a unit mistake. */
export const MAX_RETRY_DELAY_MS = 30 * 24 * 3_600_000;

/** Exponential from 1 s, capped at 1 h, full jitter: what `retries` uses when no backoff is given. */
export const DEFAULT_BACKOFF: ResolvedBackoff = { type: 'exponential', delayMs: 1000, maxDelayMs: 3_600_000, jitter: 'full' };

const JITTERS: readonly Jitter[] = ['full', 'none', 'equal'];

function show(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  try {
    return `\`${JSON.stringify(value) ?? String(value)}\``;
  } catch {
    return `\`${String(value)}\``;
  }
}

function delayField(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_RETRY_DELAY_MS) {
    throw new InvalidOptionError(`Expected \`${name}\` to be an integer from 0 to ${MAX_RETRY_DELAY_MS} (ms, 30 days), got ${show(value)}`);
  }
  return value;
}

/** Checks a backoff option; `undefined` stays undefined (the default applies where it is used). */
export function backoffOption(value: unknown): ResolvedBackoff | BackoffFunction | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'function') return value as BackoffFunction;
  if (value === null || typeof value !== 'object') {
    throw new InvalidOptionError(`Expected \`backoff\` to be { type: 'fixed' | 'exponential', ... } or a function, got ${show(value)}`);
  }
  const spec = value as Record<string, unknown>;
  if (spec.type !== 'fixed' && spec.type !== 'exponential') {
    throw new InvalidOptionError(`Expected \`backoff.type\` to be 'fixed' or 'exponential', got ${show(spec.type)}`);
  }
  for (const key of Object.keys(spec)) {
    if (!['type', 'delayMs', 'maxDelayMs', 'jitter'].includes(key)) {
      throw new InvalidOptionError(`Expected \`backoff\` to have only type, delayMs, maxDelayMs and jitter, got \`${key}\``);
    }
  }
  const delayMs = delayField('backoff.delayMs', spec.delayMs, DEFAULT_BACKOFF.delayMs);
  const maxDelayMs = delayField('backoff.maxDelayMs', spec.maxDelayMs, DEFAULT_BACKOFF.maxDelayMs);
  const jitter = spec.jitter ?? (spec.type === 'fixed' ? 'none' : 'full');
  if (!JITTERS.includes(jitter as Jitter)) {
    throw new InvalidOptionError(`Expected \`backoff.jitter\` to be 'full', 'none' or 'equal', got ${show(jitter)}`);
  }
  return { type: spec.type, delayMs, maxDelayMs, jitter: jitter as Jitter };
}

/** The delay before the base and the cap are spread by jitter: the upper bound of what `retryDelay` returns. */
export function baseDelay(policy: ResolvedBackoff, failures: number): number {
  if (policy.type === 'fixed') return Math.min(policy.delayMs, policy.maxDelayMs);
  // 2^(failures-1) overflows to Infinity past ~1024 failures; min() caps it.
  return Math.min(policy.maxDelayMs, policy.delayMs * 2 ** Math.max(0, failures - 1));
}

/**
 * The delay before the next run of a task that has now thrown `failures` times (1 on the first failure), ms.
 * A function's answer is checked: it must be a finite number from 0 to 30 days (rounded to whole ms), else
 * this throws an `InvalidOptionError` naming what it returned (the worker then fails the task for good).
 */
export function retryDelay(policy: ResolvedBackoff | BackoffFunction, failures: number, error: unknown, random = Math.random): number {
  if (typeof policy === 'function') {
    const ms = policy(failures, error);
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > MAX_RETRY_DELAY_MS) {
      throw new InvalidOptionError(
        `Expected the backoff function to return a number of ms from 0 to ${MAX_RETRY_DELAY_MS}, got ${show(ms)}`,
      );
    }
    return Math.round(ms);
  }
  const d = baseDelay(policy, failures);
  switch (policy.jitter) {
    case 'none':
      return d;
    case 'full':
      return Math.floor(random() * (d + 1));
    case 'equal':
      return Math.floor(d / 2) + Math.floor(random() * (d - Math.floor(d / 2) + 1));
  }
}

/**
 * A policy as it is written into an entry's option segment: `<e|x>.<delayMs>.<maxDelayMs>.<f|n|q>`
 * (e exponential, x fixed; f full, n none, q equal). Only characters that need no escaping.
 */
export function encodeBackoff(policy: ResolvedBackoff): string {
  const jitter = policy.jitter === 'full' ? 'f' : policy.jitter === 'none' ? 'n' : 'q';
  return `${policy.type === 'exponential' ? 'e' : 'x'}.${policy.delayMs}.${policy.maxDelayMs}.${jitter}`;
}

/** Reads what `encodeBackoff` wrote; undefined when it is malformed (never throws: entries are untrusted). */
export function decodeBackoff(text: string): ResolvedBackoff | undefined {
  const m = /^([ex])\.(\d{1,12})\.(\d{1,12})\.([fnq])$/.exec(text);
  if (!m) return undefined;
  const delayMs = Number(m[2]);
  const maxDelayMs = Number(m[3]);
  if (delayMs > MAX_RETRY_DELAY_MS || maxDelayMs > MAX_RETRY_DELAY_MS) return undefined;
  const jitter: Jitter = m[4] === 'f' ? 'full' : m[4] === 'n' ? 'none' : 'equal';
  return { type: m[1] === 'e' ? 'exponential' : 'fixed', delayMs, maxDelayMs, jitter };
}
