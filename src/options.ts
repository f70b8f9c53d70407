/** Checks of option values, done once in constructors, with messages that say what was expected and what came. */
import { InvalidOptionError } from './errors.ts';
import type { KeepResult } from './task.ts';

function show(value: unknown): string {
  if (typeof value === 'string') return `\`${JSON.stringify(value)}\``;
  if (typeof value === 'bigint') return `\`${value}n\``;
  if (typeof value === 'function') return 'a function';
  try {
    return `\`${JSON.stringify(value) ?? String(value)}\``;
  } catch {
    return `\`${String(value)}\``;
  }
}

/**
 * The longest duration a millisecond option may have: Node's timers fire at once past 2^31 - 1 ms (about
 * 24.8 days), so a longer timeout would be no timeout at all.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A duration in ms: an integer from `min` to MAX_TIMER_MS; `undefined` gives the default. */
export function msOption(name: string, value: unknown, fallback: number, min: number): number {
  return intOption(name, value, fallback, min, MAX_TIMER_MS);
}

/** An integer in [min, max]; `undefined` gives the default. */
export function intOption(name: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range =
      max === Number.MAX_SAFE_INTEGER
        ? `from ${min} and up`
        : max === MAX_TIMER_MS
          ? `from ${min} to ${max} (ms; Node's timers go no further, about 24.8 days)`
          : `from ${min} to ${max}`;
    throw new InvalidOptionError(`Expected \`${name}\` to be an integer ${range}, got ${show(value)}`);
  }
  return value;
}

/** An integer in [min, max] or Infinity; `undefined` gives the default. */
export function limitOption(name: string, value: unknown, fallback: number, min: number): number {
  if (value === Infinity) return value;
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new InvalidOptionError(`Expected \`${name}\` to be an integer from ${min} and up, or Infinity, got ${show(value)}`);
  }
  return value;
}

export function boolOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidOptionError(`Expected \`${name}\` to be a boolean, got ${show(value)}`);
  return value;
}

export function functionOption<F>(name: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new InvalidOptionError(`Expected \`${name}\` to be a function, got ${show(value)}`);
  return value as F;
}

export function stringOption(name: string, value: unknown, fallback: string, pattern: RegExp, describe: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new InvalidOptionError(`Expected \`${name}\` to be ${describe}, got ${show(value)}`);
  }
  return value;
}

/** The longest a result may be kept: 30 days. */
export const MAX_RESULT_TTL_MS = 30 * 24 * 3_600_000;

/** Checks `keepResult` ({ ttlMs }); undefined when not set. */
export function keepResultOption(value: KeepResult | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ttl = (value as { ttlMs?: unknown } | null)?.ttlMs;
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > MAX_RESULT_TTL_MS)
    throw new InvalidOptionError(
      `Expected \`keepResult\` to be { ttlMs } with ttlMs an integer from 1 to ${MAX_RESULT_TTL_MS} (30 days), got \`${JSON.stringify(value)}\``,
    );
  return ttl;
}

/**
 * The default `burst` of a rate (the queue's `rate`, `limit()` in a task): what 10 ms of the limit allows, at
 * least 1 (1 up to 100/s, 10 at 1,000/s, 100 at 10,000/s). With 1, a worker takes one task per fetch round trip,
 * which holds high rates far below the limit (README "Rate limit").
 */
export function defaultBurst(limit: number, perMs: number): number {
  return Math.min(1_000_000, Math.max(1, Math.ceil((limit * 10) / perMs)));
}
