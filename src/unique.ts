/**
 * Unique tasks (`unique: { key, mode, forMs }`): the key is `unique:<key>` in the task's partition (chosen
 * by the key, so lock and task share a slot), holding the id of the task that took it. It is taken by
 * `unique.lua` in the same script that enqueues, and released by the script that finishes the task
 * (`finish.lua`: success, final failure, cancel) for 'until-finish', by `unique-release.lua` when the task
 * starts for 'until-start', never for 'for-ttl' (it expires). `forMs` bounds every key (a Redis data loss,
 * a cancelled task whose worker died).
 */
import { InvalidOptionError } from './errors.ts';
import type { UniqueOptions } from './task.ts';

/** The longest a unique key may be held: 30 days. */
export const MAX_UNIQUE_MS = 30 * 24 * 3_600_000;

export interface ResolvedUnique {
  readonly key: string;
  /** 's' until-start, 'f' until-finish, 't' for-ttl (as written in the entry). */
  readonly mode: 's' | 'f' | 't';
  readonly forMs: number;
}

const MODES = { 'until-start': 's', 'until-finish': 'f', 'for-ttl': 't' } as const;

/** Checks `unique`; undefined when not set. */
export function uniqueOption(value: UniqueOptions | undefined): ResolvedUnique | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object')
    throw new InvalidOptionError(`Expected \`unique\` to be { key, mode?, forMs? }, got \`${JSON.stringify(value)}\``);
  const { key, mode = 'until-finish', forMs = 86_400_000 } = value;
  if (typeof key !== 'string' || key.length === 0 || key.length > 200)
    throw new InvalidOptionError(`Expected \`unique.key\` to be a string of 1-200 characters, got \`${JSON.stringify(key)}\``);
  const code = (MODES as Record<string, 's' | 'f' | 't'>)[mode as string];
  if (!code)
    throw new InvalidOptionError(
      `Expected \`unique.mode\` to be 'until-start', 'until-finish' or 'for-ttl', got \`${JSON.stringify(mode)}\``,
    );
  if (typeof forMs !== 'number' || !Number.isInteger(forMs) || forMs < 1 || forMs > MAX_UNIQUE_MS)
    throw new InvalidOptionError(
      `Expected \`unique.forMs\` to be an integer from 1 to ${MAX_UNIQUE_MS} (30 days), got \`${String(forMs)}\``,
    );
  return { key, mode: code, forMs };
}
