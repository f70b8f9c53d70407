/**
 * A worker's fetch loop: while it has free slots and a lease it trusts, move the oldest waiting entries into
 * its in-flight list (`dequeue.lua`, which checks the lease in Redis), or block on `BLMOVE` for the next one.
 * On a queue with several partitions each round asks every partition, starting from the next one each time
 * (so none is favoured), and blocks on one partition at a time, a different one each time, for 1/N s (at
 * least 0.1 s): one blocking connection per worker, and an idle worker notices a task in any partition within
 * one such block and a round (measured: ~0.35 s with 3 partitions). The price is (N+1) commands per block
 * while idle.
 *
 * A fetch whose reply was lost (a dropped connection) may have moved entries anyway: after any failure, and
 * every 10 s while idle, the loop reads its list and puts back the entries the worker does not know about.
 * It runs those checks itself, between fetches, so no fetch of its own can race them.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { guard, isCluster, whenReady, type Client } from './connection.ts';
import { failpoint } from './failpoints.ts';
import type { QueueKeys } from './keys.ts';
import type { Lease } from './lease.ts';
import type { Logger } from './logger.ts';
import { entryFromBytes, entryKey, type Entry } from './payload.ts';
import { chargeRate, dequeueLimited } from './rate.ts';
import { dequeue, requeue } from './store.ts';
import { within } from './time.ts';

/** How long one BLMOVE blocks. The sweeper's grace before removing a registration must be longer. */
export const BLOCK_SECONDS = 1;
const RECONCILE_EVERY_MS = 10_000;

export interface FetcherHost {
  readonly partitions: readonly QueueKeys[];
  readonly logger: Logger;
  readonly cmd: Client;
  readonly block: Client;
  readonly lease: Lease;
  readonly stop: AbortSignal;
  /** Entries larger than this are handed over as bytes, unread (they fail as bad payloads). */
  readonly maxPayloadBytes: number;
  /** Entries the worker holds (taken, not yet finished), by `entryKey`. */
  readonly known: ReadonlySet<string>;
  /** Runs the worker can start now (free slots with a ready child). */
  freeSlots(): number;
  /** Resolves when a slot frees up or the lease changes. */
  changed(): Promise<void>;
  take(entry: Entry, workerId: string, keys: QueueKeys): void;
  /** An entry moved into the list of registration `workerId` after it stopped being current: put it back. */
  stale(entry: Entry, workerId: string, keys: QueueKeys): void;
}

export class Fetcher {
  readonly #host: FetcherHost;
  #blockClientId = 0;
  #blocking: Promise<unknown> | undefined;
  #lastReconcile = 0;
  /** Where the next round starts, and which partition the next block waits on. */
  #next: number;
  #home: number;
  readonly #blockSeconds: number;

  constructor(host: FetcherHost) {
    this.#host = host;
    this.#next = Math.floor(Math.random() * host.partitions.length);
    this.#home = this.#next;
    this.#blockSeconds = host.partitions.length === 1 ? BLOCK_SECONDS : Math.max(0.1, BLOCK_SECONDS / host.partitions.length);
    // With priority levels an idle worker blocks on `waiting` too, as long as on a plain queue: whatever lands
    // in a queue whose lists are all empty goes to `waiting` (push.lua, promote.lua), so it wakes the worker;
    // a task that lands in a level list while another waits is taken by the next fetch of the worker that
    // took that other one. (Put-backs by requeue, retry and recover go to their level's list and are seen
    // within one block: README "Priorities".)
    const block = host.block;
    // CLIENT UNBLOCK needs the id of the connection that blocks; a cluster client has one per node, so on a
    // cluster a stop waits for the block to time out instead (at most BLOCK_SECONDS).
    if (isCluster(block)) return;
    const learnId = () => {
      this.#blockClientId = 0;
      guard(block, block.client('ID')).then(
        (id) => (this.#blockClientId = Number(id)),
        () => undefined,
      );
    };
    block.on('ready', learnId);
    // The connection may be ready already: its 'ready' came before this listener.
    if (block.status === 'ready') learnId();
  }

  #pause(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.#host.stop }).catch(() => undefined);
  }

  /** Waits until something changed (a slot, the lease), the worker stops, or `ms` passed; leaves no timer behind. */
  #waitForChange(ms: number): Promise<void> {
    return within(this.#host.changed(), ms, this.#host.stop);
  }

  async loop(): Promise<void> {
    const { partitions, cmd, block, lease, stop, maxPayloadBytes: maxBytes } = this.#host;
    const n = partitions.length;
    let failures = 0;
    while (!stop.aborted) {
      const free = this.#host.freeSlots();
      if (free <= 0 || !lease.valid()) {
        await this.#waitForChange(BLOCK_SECONDS * 1000);
        continue;
      }
      // The lease has a connection of its own: this one may still be connecting (at start, after a reset).
      if (cmd.status !== 'ready') await whenReady(cmd, 1000);
      const workerId = lease.id;
      const taken: [Entry, QueueKeys][] = [];
      try {
        const first = this.#next;
        this.#next = (first + 1) % n;
        let refused = false;
        // With a rate limit: the soonest a partition that let nothing start now lets one start (ms).
        let limitedMs = Number.POSITIVE_INFINITY;
        for (let i = 0; i < n && taken.length < free; i++) {
          const keys = partitions[(first + i) % n] as QueueKeys;
          const rate = keys.rateLimit;
          const moved = rate
            ? await dequeueLimited(cmd, keys, workerId, free - taken.length, rate)
            : await dequeue(cmd, keys, workerId, free - taken.length);
          failpoint('stall-after-dequeue-reply');
          if (moved === 'refused') {
            refused = true;
            break;
          }
          if (!Array.isArray(moved)) {
            limitedMs = Math.min(limitedMs, moved.waitMs);
            continue;
          }
          for (const bytes of moved) taken.push([entryFromBytes(bytes, maxBytes), keys]);
        }
        if (refused) {
          // Entries already moved by this round stay in the lists; the sweeper puts them back.
          lease.invalidate('refused');
          continue;
        }
        if (taken.length === 0 && limitedMs < Number.POSITIVE_INFINITY) {
          // The rate lets nothing start before then: sleep exactly that long (no polling, no blocking move,
          // which would take a task past the limit).
          await this.#pause(limitedMs);
          continue;
        }
        if (taken.length === 0 && !stop.aborted) {
          const keys = partitions[this.#home] as QueueKeys;
          this.#home = (this.#home + 1) % n;
          await whenReady(block, 1000);
          // The lease may have run out while the dequeue's reply was on its way (or this process was stopped):
          // a move into the list of a registration the sweeper may already have removed would strand the task.
          if (lease.id !== workerId || !lease.valid()) continue;
          const move = guard(block, block.blmoveBuffer(keys.waiting, keys.worker(workerId), 'RIGHT', 'LEFT', this.#blockSeconds));
          this.#blocking = move;
          const entry = await move.finally(() => (this.#blocking = undefined));
          if (entry !== null) {
            // A blocking move checks no rate: charge it now, and start the task at its slot.
            if (keys.rateLimit) await this.#pause(await chargeRate(cmd, keys, keys.rateLimit));
            taken.push([entryFromBytes(entry, maxBytes), keys]);
          }
        }
        failures = 0;
      } catch (err) {
        if (stop.aborted) break;
        failures++;
        if (failures === 1 || failures % 20 === 0) this.#host.logger.warn({ err }, 'fetching failed; retrying');
        await this.#pause(Math.min(2000, 25 * 2 ** failures));
        // Entries this round moved before the failure are not handed over: reconcile puts them back.
        await this.#reconcile(workerId);
        continue;
      }
      // A move whose reply was lost may land late (its server side can stay blocked for up to a second).
      if (taken.length === 0 && performance.now() - this.#lastReconcile > RECONCILE_EVERY_MS) await this.#reconcile(workerId);
      if (taken.length > 0) failpoint('after-dequeue');
      for (const [entry, keys] of taken) this.#host.take(entry, workerId, keys);
    }
  }

  /** Puts back every entry of the in-flight lists that the worker does not know about (not counted as cut off). */
  async #reconcile(workerId: string): Promise<void> {
    const { cmd, lease, known, partitions } = this.#host;
    this.#lastReconcile = performance.now();
    try {
      for (const keys of partitions) {
        if (lease.id !== workerId) return;
        const list = keys.worker(workerId);
        const held = await guard(cmd, cmd.lrangeBuffer(list, 0, -1));
        for (const bytes of held) {
          const entry = entryFromBytes(bytes, this.#host.maxPayloadBytes);
          if (known.has(entryKey(entry)) || lease.id !== workerId) continue;
          await requeue(cmd, list, keys, entry, null);
        }
      }
    } catch {
      // Redis still away: the next failure reconciles again, or the lease runs out and the sweeper does it.
    }
  }

  /**
   * Ends a pending BLMOVE and waits for its reply, so that no move can land in the in-flight list after the
   * worker left (its list would then have no registration, and no sweeper would look at it).
   */
  async unblock(): Promise<void> {
    const pending = this.#blocking;
    const { cmd } = this.#host;
    if (!pending) return;
    // On a cluster there is no client id to unblock: wait for the block to time out (at most one block).
    if (this.#blockClientId !== 0) {
      try {
        await guard(cmd, cmd.client('UNBLOCK', this.#blockClientId));
      } catch {
        // Redis away: the move cannot complete either, and the sweeper covers what did.
      }
    }
    await within(pending, this.#blockSeconds * 1000 + 500);
  }
}
