/**
 * Priority levels of a queue (`priorities: { high: 6, normal: 3, low: 1 }`): their order, weights and keys, the
 * dispatch pattern the levels' dequeue follows, and the wait bound `delayed status` prints.
 *
 * The default level (`normal` when declared, else the last one) waits in the plain `waiting` list, so a task
 * enqueued without `priority` is the entry and the command of a queue without levels; the other levels wait in
 * `waiting:<level>`. A task of another level carries `p=<level>` in its option segment, so that every script
 * that puts an entry back (requeue, recover, promote, retry) puts it back in its own level.
 *
 * Weighted order: dispatch d (a per-partition counter, `dispatches`, from 0 while tasks wait) prefers level
 * `pattern[d mod Σw]`; an empty preferred level gives its turn to the first non-empty level in declared order.
 * The pattern is stride scheduling: level i's k-th turn has the virtual time k·Σw/w_i and turns go in that
 * order (ties to the earlier level). Before the turn with virtual time v there are at most Σ_j ⌊v·w_j/Σw⌋ ≤ v
 * turns, so the task at position p of a level starts within ⌈p·Σw/w⌉ dispatches of a start with every level
 * busy; counted from any other moment, at most (levels - 1) more (checked over every offset in the tests).
 * Strict order: always the first non-empty level (lower levels wait as long as higher ones have work).
 */
import { InvalidOptionError } from './errors.ts';
import type { LevelLayout, QueueKeys } from './keys.ts';

export type PriorityOrder = 'weighted' | 'strict';

/** A queue's levels, in declared order (first = most urgent). */
export interface Levels {
  readonly names: readonly string[];
  readonly weights: readonly number[];
  /** Index of the default level (the one in the plain `waiting` list). */
  readonly defaultIndex: number;
  readonly order: PriorityOrder;
  /** Σw. */
  readonly total: number;
  /** The weighted pattern, one character per dispatch ('0' + level index); '' in strict order. */
  readonly pattern: string;
  /** The levels other than the default, comma-separated (what scripts read from an entry's `p=`). */
  readonly others: string;
  /** The configuration record's part: `;priorities=high:6,normal:3,low:1;order=weighted`. */
  readonly record: string;
}

const LEVEL_NAME = /^[a-z][a-z0-9_-]{0,29}$/;

/** Checks the `priorities` and `priorityOrder` options; undefined when no levels are configured. */
export function levelsOption(priorities: unknown, order: unknown): Levels | undefined {
  if (order !== undefined && order !== 'weighted' && order !== 'strict')
    throw new InvalidOptionError(`Expected \`priorityOrder\` to be 'weighted' or 'strict', got \`${JSON.stringify(order)}\``);
  if (priorities === undefined) {
    if (order !== undefined) throw new InvalidOptionError('Expected `priorities` with `priorityOrder`, got no `priorities`');
    return undefined;
  }
  if (priorities === null || typeof priorities !== 'object' || Array.isArray(priorities))
    throw new InvalidOptionError(`Expected \`priorities\` to be an object of level -> weight, got \`${JSON.stringify(priorities)}\``);
  const entries = Object.entries(priorities as Record<string, unknown>);
  if (entries.length < 2 || entries.length > 10)
    throw new InvalidOptionError(`Expected \`priorities\` to have 2 to 10 levels, got ${entries.length}`);
  for (const [name, weight] of entries) {
    if (!LEVEL_NAME.test(name))
      throw new InvalidOptionError(
        `Expected a priority level name of 1-30 of a-z 0-9 _ - (a letter first), got \`${JSON.stringify(name)}\``,
      );
    if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > 100)
      throw new InvalidOptionError(
        `Expected the weight of level ${name} to be an integer from 1 to 100, got \`${JSON.stringify(weight)}\``,
      );
  }
  const names = entries.map(([name]) => name);
  const weights = entries.map(([, weight]) => weight as number);
  const total = weights.reduce((a, b) => a + b, 0);
  const normal = names.indexOf('normal');
  const defaultIndex = normal === -1 ? names.length - 1 : normal;
  const resolved = order === 'strict' ? 'strict' : 'weighted';
  return {
    names,
    weights,
    defaultIndex,
    order: resolved,
    total,
    pattern: resolved === 'strict' ? '' : dispatchPattern(weights),
    others: names.filter((_, i) => i !== defaultIndex).join(','),
    record: `;priorities=${entries.map(([n, w]) => `${n}:${w}`).join(',')};order=${resolved}`,
  };
}

/** Stride scheduling over one period of Σw dispatches: level indexes as characters '0', '1', ... */
export function dispatchPattern(weights: readonly number[]): string {
  const total = weights.reduce((a, b) => a + b, 0);
  // Virtual times as exact fractions k·Σw/w_i, compared by cross-multiplying (no float ties going wrong).
  const turns = weights.map(() => 1);
  let out = '';
  for (let d = 0; d < total; d++) {
    let best = 0;
    for (let i = 1; i < weights.length; i++) {
      // turns[i]/w[i] < turns[best]/w[best]
      if ((turns[i] as number) * (weights[best] as number) < (turns[best] as number) * (weights[i] as number)) best = i;
    }
    out += String.fromCharCode(48 + best);
    turns[best] = (turns[best] as number) + 1;
  }
  return out;
}

/** The bound on dispatches before the task at position p (1 = head) of level i starts, all levels busy. */
export function waitBound(levels: Levels, index: number, position = 1): number {
  if (levels.order === 'strict') return index === 0 ? position : Number.POSITIVE_INFINITY;
  return Math.ceil((position * levels.total) / (levels.weights[index] as number));
}

/** The waiting list of each level in one partition, in declared order (the default level's is `waiting`). */
export function levelKeys(levels: Levels, keys: QueueKeys): string[] {
  return levels.names.map((name, i) => (i === levels.defaultIndex ? keys.waiting : keys.levelWaiting(name)));
}

/** One partition's keys with the level layout the scripts read (unchanged when there are no levels). */
export function withLevels(levels: Levels | undefined, keys: QueueKeys): QueueKeys {
  if (!levels) return keys;
  const layout: LevelLayout = {
    lists: levelKeys(levels, keys),
    homeKeys: levels.names.filter((_, i) => i !== levels.defaultIndex).map((n) => keys.levelWaiting(n)),
    homeNames: levels.others,
    pattern: levels.pattern,
  };
  return { ...keys, levels: layout };
}

/**
 * Where a task goes: its level's name when not the default (written into the entry), and how it is pushed
 * (push.lua or RPUSH) when it goes to another level or to the front; a task that runs later waits in
 * `scheduled` (promote.lua puts it into its level's list when due). Throws on bad `priority` / `atFront`.
 */
export function placement(
  levels: Levels | undefined,
  options: { readonly priority?: string; readonly atFront?: boolean } | undefined,
  later: boolean,
): { priority: string | undefined; push: { readonly level: string; readonly front: boolean } | undefined } {
  const level = levelOf(levels, options?.priority);
  const front = options?.atFront ?? false;
  if (typeof front !== 'boolean') throw new InvalidOptionError(`Expected \`atFront\` to be a boolean, got \`${typeof front}\``);
  if (front && later) throw new InvalidOptionError('Expected `atFront` without `delayMs` or `runAt`, got both');
  const priority = levels && level !== undefined && level !== levels.defaultIndex ? levels.names[level] : undefined;
  return { priority, push: !later && (priority !== undefined || front) ? { level: priority ?? '', front } : undefined };
}

/** The level a task goes to: its checked `priority` option, or the default. */
export function levelOf(levels: Levels | undefined, priority: unknown): number | undefined {
  if (priority === undefined) return levels?.defaultIndex;
  if (!levels)
    throw new InvalidOptionError(`Expected no \`priority\` on a queue without \`priorities\`, got \`${JSON.stringify(priority)}\``);
  const i = typeof priority === 'string' ? levels.names.indexOf(priority) : -1;
  if (i === -1)
    throw new InvalidOptionError(`Expected \`priority\` to be one of ${levels.names.join(', ')}, got \`${JSON.stringify(priority)}\``);
  return i;
}
