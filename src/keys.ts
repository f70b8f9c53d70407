/**
 * Every Redis key of a queue, in one place. All of them carry the hash tag `{name}`, so a queue's keys live
 * in one Redis Cluster slot and every script may touch all of them. The README's "Under the hood" lists them.
 */
export interface QueueKeys {
  /** list: waiting task entries; producers LPUSH, workers take from the right. */
  readonly waiting: string;
  /** sorted set: worker id → lease deadline (ms, Redis clock). */
  readonly workers: string;
  /** hash: worker id → JSON facts about the worker (host, pid, kind, concurrency, started). */
  readonly info: string;
  /** string: a random value set once per queue; its loss means Redis lost the queue's data. */
  readonly epoch: string;
  /** string with a TTL: held by whoever sweeps this interval. */
  readonly sweepLock: string;
  /** list: failed task records, only when the queue keeps dead letters (bounded). */
  readonly dead: string;
  /** list: the entries one worker registration holds (its in-flight tasks). */
  worker(workerId: string): string;
}

const NAME = /^[A-Za-z0-9_.:-]{1,100}$/;

/** True when `name` may name a queue: 1-100 of `A-Z a-z 0-9 _ . : -` (no braces, so the hash tag stays whole). */
export function isValidQueueName(name: string): boolean {
  return NAME.test(name);
}

export function queueKeys(prefix: string, name: string): QueueKeys {
  const base = `${prefix}:{${name}}:`;
  return {
    waiting: `${base}waiting`,
    workers: `${base}workers`,
    info: `${base}info`,
    epoch: `${base}epoch`,
    sweepLock: `${base}sweep`,
    dead: `${base}dead`,
    worker: (workerId: string) => `${base}worker:${workerId}`,
  };
}
