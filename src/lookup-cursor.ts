/**
 * The cursor of a bounded lookup (`queue.task(id, { maxScan, cursor })`): where it stopped in each partition,
 * as `<scheduled ZSCAN cursor>.<waiting place>.<dead offset>` per partition, comma-separated (`-`: read to the
 * end). A waiting place is an offset, or `<list>:<offset>` past the first of a priority queue's level lists.
 */
import { InvalidOptionError } from './errors.ts';

/** No budget: read to the end. */
export const ALL = Number.POSITIVE_INFINITY;

/** A place in a partition's waiting lists: the list's index (0 without levels) and the offset in it. */
export interface ListAt {
  readonly list: number;
  readonly offset: number;
}

/** Where a bounded lookup stopped in one partition: the scheduled set's ZSCAN cursor, places in waiting and dead (null: read to the end). */
export interface Scan {
  readonly scheduled: string | null;
  readonly waiting: ListAt | null;
  readonly dead: number | null;
}
export const START: Scan = { scheduled: '0', waiting: { list: 0, offset: 0 }, dead: 0 };

export function readCursor(cursor: unknown, partitions: number): Scan[] {
  if (cursor === undefined) return new Array<Scan>(partitions).fill(START);
  const parts =
    typeof cursor === 'string' ? cursor.split(',').map((part) => /^(\d{1,20}|-)\.((?:\d{1,2}:)?\d{1,15}|-)\.(\d{1,15}|-)$/.exec(part)) : [];
  if (parts.length !== partitions || parts.some((m) => m === null))
    throw new InvalidOptionError(
      `Expected \`cursor\` to be the \`more.cursor\` of an earlier lookup on this queue (${partitions} partition(s)), got \`${JSON.stringify(cursor)}\``,
    );
  const offset = (text: string | undefined) => (text === '-' || text === undefined ? null : Number(text));
  const listAt = (text: string | undefined): ListAt | null => {
    if (text === '-' || text === undefined) return null;
    const [list, at] = text.includes(':') ? text.split(':') : ['0', text];
    return { list: Number(list), offset: Number(at) };
  };
  return parts.map((m) => ({ scheduled: m?.[1] === '-' ? null : (m?.[1] ?? null), waiting: listAt(m?.[2]), dead: offset(m?.[3]) }));
}

const writeAt = (w: ListAt | null) => (w === null ? '-' : w.list === 0 ? `${w.offset}` : `${w.list}:${w.offset}`);
export const writeScan = (s: Scan | null) => (s === null ? '-.-.-' : `${s.scheduled ?? '-'}.${writeAt(s.waiting)}.${s.dead ?? '-'}`);

export function budgetOf(maxScan: unknown): number {
  if (maxScan === undefined) return ALL;
  if (!Number.isSafeInteger(maxScan) || (maxScan as number) < 1)
    throw new InvalidOptionError(`Expected \`maxScan\` to be a whole number from 1, got \`${String(maxScan)}\``);
  return maxScan as number;
}
