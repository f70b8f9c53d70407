// One case of the store conformance table: seeds keys, runs a script (or a typed store call), reads the state
// back and compares. Every case runs against Redis and against the memory store (test/store-conformance.test.ts):
// a case that passes on Redis and fails in memory is a bug in the memory store.
import type { Redis } from 'ioredis';
import type { Queue, QueueOptions } from '../../src/index.ts';

export interface StoreCase {
  readonly name: string;
  /** Queue options the case needs (beyond a fresh name). */
  readonly options?: Partial<QueueOptions>;
  /**
   * 'unsupported': the memory store has no implementation of what the case runs yet (a script another branch
   * added): on the memory store the case must then reject with NotSupportedByMemoryStoreError, never pass or
   * fail otherwise. Remove the mark once src/memory/scripts.ts implements it.
   */
  readonly memory?: 'unsupported';
  /** `redis`: a plain connection to the store under test (an ioredis client, or a memory store's connection). */
  run(ctx: { readonly redis: Redis; readonly q: Queue }): Promise<void>;
}
