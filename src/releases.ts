/**
 * Finishing successful (and plainly failed) runs: `LREM` of the run's entry, its lease token, from its
 * in-flight list, searched from the oldest end (runs mostly finish in the order they were taken, so Redis
 * compares a few entries, not all `concurrency` of them).
 *
 * Releases made in the same turn of the event loop go out together, one pipeline per partition (a pipeline
 * on a cluster must stay on one node): the same commands in far fewer writes and reads. Each run still gets
 * its own result; one that fails is retried alone by the worker (a repeated `LREM` finds nothing).
 */
import { guard, type Client } from './connection.ts';
import type { QueueKeys } from './keys.ts';
import type { Entry } from './payload.ts';

interface Pending {
  readonly list: string;
  readonly entry: Entry;
  settle(err?: unknown): void;
}

export class Releases {
  readonly #cmd: () => Client;
  readonly #pending = new Map<QueueKeys, Pending[]>();

  /** `cmd` gives the connection the releases go out on. */
  constructor(cmd: () => Client) {
    this.#cmd = cmd;
  }

  /** Resolves once the entry is gone from `list` (of partition `keys`), or it was not there any more. */
  release(keys: QueueKeys, list: string, entry: Entry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let group = this.#pending.get(keys);
      if (!group) this.#pending.set(keys, (group = []));
      group.push({ list, entry, settle: (err) => (err === undefined ? resolve() : reject(err)) });
      if (this.#pending.size === 1 && group.length === 1) setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    const cmd = this.#cmd();
    const groups = [...this.#pending.values()];
    this.#pending.clear();
    for (const group of groups) {
      if (group.length === 1) {
        const [only] = group as [Pending];
        guard(cmd, cmd.lrem(only.list, -1, only.entry)).then(
          () => only.settle(),
          (err: unknown) => only.settle(err ?? new Error('release failed')),
        );
        continue;
      }
      const pipeline = cmd.pipeline();
      for (const r of group) pipeline.lrem(r.list, -1, r.entry);
      guard(cmd, pipeline.exec()).then(
        (replies) =>
          group.forEach((r, i) => {
            const reply = replies?.[i];
            r.settle(!reply ? new Error('no reply for a release') : (reply[0] ?? undefined));
          }),
        (err: unknown) => {
          for (const r of group) r.settle(err ?? new Error('release failed'));
        },
      );
    }
  }
}
