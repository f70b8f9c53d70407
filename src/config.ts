/**
 * The queue configuration record: what every producer and worker of a queue must agree on (`partitions`, the
 * priority levels, the rate limit), as one short string kept in every partition's `config` key. A worker
 * writes it (SET NX inside register.lua) and compares it in each of its partitions, partition 0 first;
 * a producer writes it only when its configuration is not the default one (a default producer puts tasks
 * where every configuration reads them). Each process compares at start and refuses a mismatch in any of its
 * partitions with `ConfigMismatchError`, before it writes anything.
 *
 * Why every partition, and why partition 0 still matters most: a partition's copy leaves with the last
 * worker of that partition once the partition is drained (recover.lua), so a partition that still holds
 * tasks keeps its copy while another drains; a process with as many partitions or more sees it. A process
 * with fewer partitions sees only partitions 0..M−1, so partition 0's copy is the one every configuration
 * reads: a worker that stops with the other partitions not drained writes partition 0's copy back
 * (`keepFirstRecord`), so partition 0 keeps it while any partition holds work.
 */
import type { Client } from './connection.ts';
import { send } from './connection.ts';
import { ConfigMismatchError } from './errors.ts';
import type { QueueKeys } from './keys.ts';

/** The record for a configuration: `partitions=N`, then `;priorities=…` when levels are configured. */
export function configRecord(partitions: number, extra = ''): string {
  return `partitions=${partitions}${extra}`;
}

/** The record of a queue made with every default (one partition, no levels). */
export const DEFAULT_RECORD = configRecord(1);

/** Throws `ConfigMismatchError` unless `recorded` (null: no record yet) equals `mine`. */
export function checkRecord(queue: string, keys: QueueKeys, recorded: string | null, mine: string): void {
  if (recorded !== null && recorded !== mine) throw new ConfigMismatchError(queue, keys.config, recorded, mine);
}

/** A check made once and remembered; a failure other than a mismatch (Redis away) is asked again next time. */
export class OnceChecked {
  #checked: Promise<void> | undefined;
  check(run: () => Promise<void>): Promise<void> {
    const checking = (this.#checked ??= run());
    checking.catch((err: unknown) => {
      if (!(err instanceof ConfigMismatchError) && this.#checked === checking) this.#checked = undefined;
    });
    return checking;
  }
}

/**
 * A producer's check, once before its first write: reads the record in every partition (GET each) and
 * compares; then, only for a non-default configuration, writes it (SET NX, reading the winner of a lost race)
 * in every partition that had none. A mismatch anywhere is refused before anything is written. One GET per
 * partition per Queue object (one for a default queue), and as many SETs once.
 */
export async function checkProducerConfig(redis: Client, queue: string, partitions: readonly QueueKeys[], mine: string): Promise<void> {
  const recorded = await Promise.all(partitions.map((keys) => send(redis, () => redis.get(keys.config))));
  partitions.forEach((keys, i) => {
    checkRecord(queue, keys, recorded[i] ?? null, mine);
  });
  if (mine === DEFAULT_RECORD) return;
  await Promise.all(
    partitions.map(async (keys, i) => {
      if (recorded[i] !== null) return;
      if ((await send(redis, () => redis.set(keys.config, mine, 'NX'))) === null)
        checkRecord(queue, keys, await send(redis, () => redis.get(keys.config)), mine);
    }),
  );
}

/**
 * After a worker left every partition: when partition 0's copy of the record went with its drain but another
 * partition still keeps one (it holds tasks or workers), writes that one into partition 0 (SET NX), so that a process
 * with fewer partitions is still refused. Only for a queue of several partitions (a GET per partition).
 * Best effort: a failure leaves it as it was.
 */
export async function keepFirstRecord(redis: Client, partitions: readonly QueueKeys[]): Promise<void> {
  if (partitions.length < 2) return;
  try {
    const [first, ...rest] = await Promise.all(partitions.map((keys) => send(redis, () => redis.get(keys.config))));
    const kept = rest.find((r) => r !== null && r !== undefined);
    if (first === null && kept) await send(redis, () => redis.set((partitions[0] as QueueKeys).config, kept, 'NX'));
  } catch {
    // Redis away: nothing to mend now.
  }
}
