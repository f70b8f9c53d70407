/**
 * Every Redis key of a queue, in one place. All keys of one partition carry the same hash tag, so they live
 * in one Redis Cluster slot and every script may touch all of them. A queue has one partition unless it is
 * made with `partitions: N`; the README's "Under the hood" lists the keys.
 *
 * Partition 0's tag is the queue's name, `{jobs}`. Partition i > 0 gets the tag `{jobs/k}` for the smallest
 * k whose cluster slot lies in the i-th free stretch of the slot space, so N partitions land in N evenly
 * spaced slot ranges (the ranges `redis-cli --cluster create` gives N masters). The tags depend only on the
 * name and N, so every process computes the same ones.
 */
export interface QueueKeys {
  /** Which partition these keys belong to (0 when the queue has one). */
  readonly partition: number;
  /** The hash tag, without braces. */
  readonly tag: string;
  /** list: waiting task entries; producers LPUSH, workers take from the right. */
  readonly waiting: string;
  /** sorted set: worker id → lease deadline (ms, Redis clock). */
  readonly workers: string;
  /** hash: worker id → JSON facts about the worker (host, pid, kind, concurrency, started). */
  readonly info: string;
  /** string: a random value set while workers use the partition; its loss while they do means Redis lost data. */
  readonly epoch: string;
  /**
   * string: the queue's configuration (`partitions`, priority levels, `rate`) as written by the first worker (or
   * the first producer of a non-default configuration); compared by every process at start. A copy in every
   * partition, deleted with the partition's epoch when the last worker leaves it drained (partition 0's is
   * written back while another partition keeps one: src/config.ts).
   */
  readonly config: string;
  /** string with a TTL: held by whoever sweeps this interval. */
  readonly sweepLock: string;
  /**
   * sorted set: worker id → when the sweeper removed its registration after its lease ran out (ms). Watched
   * for a while in case a move held up in the network lands in that worker's list late; exists only then.
   */
  readonly retired: string;
  /** string with a TTL: held by whoever checks the retired registrations this round. */
  readonly retiredLock: string;
  /** list: failed task records, only when the queue keeps dead letters (bounded). */
  readonly dead: string;
  /** sorted set: entry -> due time (ms, Redis clock) of tasks that run later and of retries; exists only while one is scheduled. */
  readonly scheduled: string;
  /**
   * hash: schedule id -> spec JSON of the queue's repeating schedules (`queue.schedule`). Used in partition 0
   * only (with the next two); with `scheduleTimes`, the one kind of key that outlives a drained queue.
   */
  readonly schedules: string;
  /** sorted set: schedule id -> its next due time (ms, Redis clock); exists while schedules are registered. */
  readonly scheduleTimes: string;
  /** hash: schedule id -> '<occurrence id> <hold until ms>' while an occurrence of an overlap 'skip' schedule runs. */
  readonly scheduleRuns: string;
  /**
   * hash: task id -> deadline (ms, Redis clock) of a cancel request (`queue.cancel`) for a task that was running
   * or in transit. Workers read it with their lease renewals; the key expires by itself, so it exists only
   * for a while after a cancel.
   */
  readonly cancel: string;
  /** string: set while the queue is paused (`queue.pause()`): workers take nothing; read with each lease renewal. */
  readonly paused: string;
  /**
   * string: dispatches since the levels last were all empty, for the weighted order of priority levels
   * (`src/priorities.ts`); exists only while tasks wait in a queue with levels.
   */
  readonly dispatches: string;
  /** stream (~1,000 items, gone a minute after the last): ids of tasks whose outcome was just kept; wakes result waits. */
  readonly results: string;
  /** list: the entries one worker registration holds (its in-flight tasks). */
  worker(workerId: string): string;
  /** string with a TTL, '<ms>|<outcome JSON>': the outcome of a task that keeps its result (`keepResult`). */
  result(taskId: string): string;
  /** string with a TTL: the id of the task that holds unique key `key` (`unique`). */
  unique(key: string): string;
  /** list: waiting entries of a priority level other than the default (which waits in `waiting`). */
  levelWaiting(level: string): string;
  /** Set on the keys of a queue with priority levels (`src/priorities.ts`); undefined otherwise. */
  readonly levels?: LevelLayout;
  /** string with a TTL: the rate limit's theoretical arrival time of the next dispatch, ms (`rate`, src/rate.ts). */
  readonly rate: string;
  /** Set on the keys of a queue with a rate limit (`src/rate.ts`); undefined otherwise. */
  readonly rateLimit?: { readonly intervalMs: number; readonly toleranceMs: number };
  /**
   * string with a TTL: the theoretical arrival time of the next call of `limit(key)` inside a task, ms (GCRA,
   * src/flow.ts); it expires once that time is past. Partition 0's tag only (limits are queue-wide).
   */
  limit(key: string): string;
  /**
   * string with a TTL: the end of the line of refused `limit(key)` calls (as a TAT, ms): each refused task is put
   * back for its own turn, one interval after the previous one's. Partition 0's tag only.
   */
  limitLine(key: string): string;
  /**
   * sorted set: '<worker id>|<task id>|<n>' -> when the holder took its slot (ms), the holders of
   * `semaphore(name)`; exists while a slot is held. Partition 0's tag only.
   */
  semaphore(name: string): string;
  /**
   * sorted set: '<task id>|<n>|<semaphore name>' -> ms, the slots one worker registration holds (so a sweep
   * frees them when its lease runs out); exists while it holds one. Partition 0's tag only.
   */
  holds(workerId: string): string;
}

/** What the scripts of a queue with priority levels need, for one partition. */
export interface LevelLayout {
  /** Every level's waiting list, in declared order (the default level's is `waiting`). */
  readonly lists: readonly string[];
  /** The lists of the levels other than the default, in the order of `homeNames`. */
  readonly homeKeys: readonly string[];
  /** The levels other than the default, comma-separated: entries carrying one go back to its list. */
  readonly homeNames: string;
  /** The weighted dispatch pattern; '' in strict order. */
  readonly pattern: string;
}

const NAME = /^[A-Za-z0-9_.:-]{1,100}$/;

/** The most partitions a queue may have. */
export const MAX_PARTITIONS = 256;

/** True when `name` may name a queue: 1-100 of `A-Z a-z 0-9 _ . : -` (no braces or slash: tags stay whole). */
export function isValidQueueName(name: string): boolean {
  return NAME.test(name);
}

const CRC_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

/** CRC16-XMODEM of a string's UTF-8 bytes (the checksum Redis Cluster uses). */
export function crc16(text: string): number {
  let crc = 0;
  for (const byte of Buffer.from(text, 'utf8')) crc = ((crc << 8) & 0xffff) ^ (CRC_TABLE[((crc >> 8) ^ byte) & 0xff] ?? 0);
  return crc;
}

/** The Redis Cluster slot of a key: of its `{tag}` when it has a non-empty one, else of the whole key. */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return crc16(key.slice(open + 1, close)) % 16384;
  }
  return crc16(key) % 16384;
}

/** The hash tags of a queue's partitions (see the file comment). */
export function partitionTags(name: string, partitions: number): string[] {
  const bucketOf = (tag: string) => Math.floor((keySlot(`{${tag}}`) * partitions) / 16384);
  const tags = new Array<string | undefined>(partitions).fill(undefined);
  tags[0] = name;
  // Bucket b is taken by the partition whose slot falls in it; partition 0 keeps its own bucket.
  const taken = new Set([bucketOf(name)]);
  let k = 1;
  for (let i = 1; i < partitions; i++) {
    for (; ; k++) {
      const tag = `${name}/${k}`;
      const bucket = bucketOf(tag);
      if (taken.has(bucket)) continue;
      taken.add(bucket);
      tags[i] = tag;
      k++;
      break;
    }
  }
  return tags as string[];
}

/** The keys of one partition, under hash tag `tag`. */
export function partitionKeys(prefix: string, tag: string, partition: number): QueueKeys {
  const base = `${prefix}:{${tag}}:`;
  return {
    partition,
    tag,
    waiting: `${base}waiting`,
    workers: `${base}workers`,
    info: `${base}info`,
    epoch: `${base}epoch`,
    config: `${base}config`,
    sweepLock: `${base}sweep`,
    retired: `${base}retired`,
    retiredLock: `${base}retired-check`,
    dead: `${base}dead`,
    scheduled: `${base}scheduled`,
    schedules: `${base}schedules`,
    scheduleTimes: `${base}schedule-times`,
    scheduleRuns: `${base}schedule-runs`,
    cancel: `${base}cancel`,
    paused: `${base}paused`,
    dispatches: `${base}dispatches`,
    results: `${base}results`,
    worker: (workerId: string) => `${base}worker:${workerId}`,
    result: (taskId: string) => `${base}result:${taskId}`,
    unique: (key: string) => `${base}unique:${key}`,
    levelWaiting: (level: string) => `${base}waiting:${level}`,
    rate: `${base}rate`,
    limit: (key: string) => `${base}limit:${key}`,
    limitLine: (key: string) => `${base}limit-line:${key}`,
    semaphore: (name: string) => `${base}sem:${name}`,
    holds: (workerId: string) => `${base}holds:${workerId}`,
  };
}

/** The keys of every partition of a queue; element 0 is the only one when the queue has one partition. */
export function queueKeys(prefix: string, name: string, partitions = 1): QueueKeys[] {
  return partitionTags(name, partitions).map((tag, i) => partitionKeys(prefix, tag, i));
}
