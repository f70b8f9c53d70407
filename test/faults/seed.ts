// Seeds Redis straight with the state dead workers leave: registrations whose lease deadline passed (or is
// about to) and their in-flight lists. Entries are built in the wire format (src/payload.ts).
import type { Redis } from 'ioredis';
import type { BaseScenario } from './scenario.ts';

import { redisNow } from '../helpers.ts';

export function entry(
  id: string,
  name: string,
  args: readonly unknown[],
  options: { attempt?: number; cutoffs?: number; reason?: string; timeoutMs?: number; maxAttempts?: number } = {},
): string {
  return `1|${options.attempt ?? 0}|${options.cutoffs ?? 0}|${options.reason ?? ''}|${id}|${name}|${options.timeoutMs ?? 30_000}|${options.maxAttempts ?? 3}|${JSON.stringify(args)}`;
}

export interface Orphans {
  readonly workerIds: string[];
  readonly taskIds: string[];
}

/**
 * `workers` fake registrations × `perWorker` entries each, in every partition of the scenario's queue (one id
 * registered in each, as a partitioned worker leaves them). Deadline of registration i: now + deadline(i) ms on
 * the Redis clock (negative: already passed).
 */
export async function seedOrphans(
  s: BaseScenario,
  redis: Redis,
  workers: number,
  perWorker: number,
  deadline: (i: number) => number,
  taskArgs: (id: string) => unknown[],
): Promise<Orphans> {
  const now = await redisNow(redis);
  const workerIds = Array.from({ length: workers }, (_, w) => `dead.${w}.${Math.random().toString(36).slice(2, 8)}`);
  const taskIds: string[] = [];
  for (const keys of s.keys) {
    const pipeline = redis.pipeline(); // a partition is one cluster slot: one pipeline each
    pipeline.set(keys.epoch, 'seeded', 'NX');
    workerIds.forEach((workerId, w) => {
      const entries: string[] = [];
      for (let n = keys.partition * perWorker; n < (keys.partition + 1) * perWorker; n++) {
        const id = `orphan.${w}.${n}`;
        taskIds.push(id);
        entries.push(entry(id, 'work', taskArgs(id)));
      }
      pipeline.lpush(keys.worker(workerId), ...entries);
      pipeline.zadd(keys.workers, now + deadline(w), workerId);
      pipeline.hset(keys.info, workerId, `${now} {"kind":"seeded"}`);
    });
    const results = await pipeline.exec();
    const failed = results?.find(([err]) => err);
    if (failed) throw failed[0];
  }
  return { workerIds, taskIds };
}

/** The entries of a list, by task id (field 5), with their header fields. */
export function parseEntries(entries: readonly string[]): { id: string; attempt: number; cutoffs: number; reason: string }[] {
  return entries.map((e) => {
    const [, attempt, cutoffs, reason, id] = e.split('|');
    return { id: id!, attempt: Number(attempt), cutoffs: Number(cutoffs), reason: reason! };
  });
}
