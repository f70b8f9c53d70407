/**
 * The queue configuration record: what every producer and worker of a queue must agree on (`partitions`, and
 * the priority levels once configured), as one short string in partition 0's `config` key. The first worker
 * to register writes it (SET NX inside register.lua); a producer writes it only when its configuration is not
 * the default one (a default producer puts tasks where every configuration reads them). Each process
 * compares at start and refuses a mismatch with `ConfigMismatchError`, before it writes anything.
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
 * A producer's check, once before its first write: reads the record (GET) and compares; writes the record
 * (SET NX, then reads the winner) only for a non-default configuration. One or two commands per Queue object.
 */
export async function checkProducerConfig(redis: Client, queue: string, keys: QueueKeys, mine: string): Promise<void> {
  let recorded = await send(redis, () => redis.get(keys.config));
  if (recorded === null && mine !== DEFAULT_RECORD) {
    const set = await send(redis, () => redis.set(keys.config, mine, 'NX'));
    if (set === null) recorded = await send(redis, () => redis.get(keys.config));
  }
  checkRecord(queue, keys, recorded, mine);
}
