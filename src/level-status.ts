/**
 * The priority levels as `delayed status` shows them: read from the queue's configuration record (so the CLI
 * needs no flag for them), with each level's waiting count over all partitions and the printed wait bound.
 * Two round trips at most: the record, then one LLEN per level and partition. Nothing here writes.
 */
import { send, type Client } from './connection.ts';
import type { QueueKeys } from './keys.ts';
import { decodeEntry } from './payload.ts';
import { type Levels, levelsOption, waitBound } from './priorities.ts';

export interface LevelStatus {
  readonly name: string;
  readonly weight: number;
  /** Tasks waiting in this level, over all partitions. */
  readonly waiting: number;
  /**
   * Dispatches (of one partition) within which the task at the head of this level starts while every level
   * has work: ⌈Σw/w⌉, plus at most levels - 1 when counted from an arbitrary moment; null in strict order
   * below the first level (no bound).
   */
  readonly headBound: number | null;
}

export interface LevelsStatus {
  readonly order: 'weighted' | 'strict';
  /** In declared order, most urgent first. */
  readonly levels: readonly LevelStatus[];
  /** The level a task without `priority` goes to (it waits in the plain `waiting` list). */
  readonly defaultLevel: string;
}

/** Reads `priorities=a:6,b:3;order=weighted` out of a configuration record; undefined when it has no levels. */
export function recordLevels(record: string | null) {
  const match = record?.match(/;priorities=([a-z0-9_:,-]+);order=(weighted|strict)/);
  if (!match) return undefined;
  const weights: Record<string, number> = {};
  for (const pair of (match[1] as string).split(',')) {
    const [name, weight] = pair.split(':');
    weights[name as string] = Number(weight);
  }
  try {
    return levelsOption(weights, match[2]);
  } catch {
    return undefined;
  }
}

/** The levels of the queue whose keys are `partitions`, as recorded in Redis; null when it has none. */
export async function levelsStatus(redis: Client, partitions: readonly QueueKeys[]): Promise<LevelsStatus | null> {
  const first = partitions[0] as QueueKeys;
  const levels = recordLevels(await send(redis, () => redis.get(first.config)));
  if (!levels) return null;
  const pipeline = redis.pipeline();
  for (const keys of partitions) {
    levels.names.forEach((name, i) => {
      pipeline.llen(i === levels.defaultIndex ? keys.waiting : keys.levelWaiting(name));
    });
  }
  const replies = (await send(redis, () => pipeline.exec())) ?? [];
  const counts = levels.names.map(() => 0);
  replies.forEach(([err, n], j) => {
    if (err) throw err;
    const i = j % levels.names.length;
    counts[i] = (counts[i] ?? 0) + Number(n);
  });
  return {
    order: levels.order,
    defaultLevel: levels.names[levels.defaultIndex] as string,
    levels: levels.names.map((name, i) => {
      const bound = waitBound(levels, i);
      return { name, weight: levels.weights[i] as number, waiting: counts[i] ?? 0, headBound: Number.isFinite(bound) ? bound : null };
    }),
  };
}

/** A status with the levels' counts added: `waiting` then counts every level (the default one was counted). */
export function withLevels<S extends { readonly waiting: number }>(status: S, levels: LevelsStatus | null): S & { levels?: LevelsStatus } {
  if (!levels) return status;
  const others = levels.levels.filter((l) => l.name !== levels.defaultLevel).reduce((n, l) => n + l.waiting, 0);
  return { ...status, waiting: status.waiting + others, levels };
}

/**
 * Where an operator's put-back (a dead letter requeued, a scheduled task sent by "Run now") goes: the list of
 * the entry's own level (`p=<level>`) when the queue has that level, else `waiting` (a plain entry, a queue
 * without levels, or a level the configuration no longer has). The levels are `declared` (the queue object's
 * `priorities`), else those the partition's configuration record names (partition 0's when the partition has
 * no copy), read once per returned function and only for an entry of a level: no read for plain entries.
 */
export function levelHome(
  redis: Client,
  declared: Levels | undefined,
  first: QueueKeys,
): (keys: QueueKeys, entry: string) => Promise<string> {
  let recorded: Promise<Levels | undefined> | undefined;
  const levelsFor = async (keys: QueueKeys): Promise<Levels | undefined> => {
    if (declared) return declared;
    recorded ??= (async () => {
      const own = await send(redis, () => redis.get(keys.config));
      return recordLevels(own ?? (keys.partition === 0 ? null : await send(redis, () => redis.get(first.config))));
    })();
    return recorded;
  };
  return async (keys, entry) => {
    const decoded = decodeEntry(entry, Number.MAX_SAFE_INTEGER);
    const level = decoded.ok ? decoded.task.priority : undefined;
    if (level === undefined) return keys.waiting;
    const levels = await levelsFor(keys);
    const i = levels ? levels.names.indexOf(level) : -1;
    return levels && i !== -1 && i !== levels.defaultIndex ? keys.levelWaiting(level) : keys.waiting;
  };
}
