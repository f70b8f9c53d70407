/**
 * The loop that makes time-based work happen: it promotes due scheduled entries (`lua/promote.lua`, every
 * partition) and fires due schedules (`lua/fire.lua`). It runs every `intervalMs` (the floor: whatever else
 * fails, nothing due waits longer than about one interval once a loop runs), and between those at the next due
 * time it learned from the last round (the precision: a timer armed from Redis' answer, on this process'
 * monotonic clock, so this machine's wall clock never matters). Every worker runs one, from its sweep; any
 * number may run at once, as every step is an atomic script that finds nothing to do the second time.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Client } from './connection.ts';
import { CLOCK_MOVED } from './redis-source.ts';
import type { QueueKeys } from './keys.ts';
import { consoleLogger, type Logger } from './logger.ts';
import { fireDue, type FireDefaults } from './schedules.ts';
import { promote } from './store-time.ts';

/** What the timekeeper needs of a queue (a `Queue` has it all). */
export interface TimedQueue extends FireDefaults {
  readonly name: string;
  readonly partitions: readonly QueueKeys[];
  readonly keys: QueueKeys;
}

export interface TimekeeperOptions {
  readonly queue: TimedQueue;
  /** The connection to run the scripts on. */
  readonly redis: Client;
  /** The floor: a round at least this often, ms. @default 1000 */
  readonly intervalMs?: number;
  readonly logger?: Logger;
  /** How a failed round is logged: a worker reports its connection errors already ('debug'). @default 'warn' */
  readonly failureLevel?: 'debug' | 'warn';
}

export interface TimekeeperRound {
  /** Entries moved from the scheduled sets to the waiting lists. */
  readonly promoted: number;
  /** Schedule occurrences enqueued. */
  readonly fired: number;
  /** The earliest due time still ahead (ms, Redis clock), if any. */
  readonly nextDue: number | undefined;
  /** Redis' time at the end of the round (ms). */
  readonly now: number;
}

export interface TimekeeperEvents {
  round: [TimekeeperRound];
}

const BATCH = 1000;

export class Timekeeper extends EventEmitter<TimekeeperEvents> {
  readonly #queue: TimedQueue;
  readonly #redis: Client;
  readonly #intervalMs: number;
  readonly #logger: Logger;
  readonly #failureLevel: 'debug' | 'warn';
  #floor: NodeJS.Timeout | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** When the armed timer ends, on the monotonic clock (performance.now()). */
  #timerAt = 0;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = true;
  /** A memory store's fake clock moved: what became due runs now, not at the next floor round. */
  readonly #onClock = () => this.kick();

  constructor(options: TimekeeperOptions) {
    super();
    this.#queue = options.queue;
    this.#redis = options.redis;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#logger = options.logger ?? consoleLogger();
    this.#failureLevel = options.failureLevel ?? 'warn';
  }

  /** Starts the loop: a round now, then at least every interval. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#floor = setInterval(() => this.kick(), this.#intervalMs);
    this.#floor.unref?.();
    this.#redis.on(CLOCK_MOVED, this.#onClock);
    this.kick();
  }

  /** Asks for a round as soon as possible (one at a time: a request during a round runs one more after it). */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
    });
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      try {
        const round = await this.round();
        this.#arm(round);
        this.emit('round', round);
      } catch (err) {
        // Redis away, a script refused: the floor tries again next interval.
        this.#logger[this.#failureLevel]({ err, queue: this.#queue.name }, 'timekeeper round failed; retrying at the next interval');
      }
    } while (this.#again && !this.#stopped);
  }

  /**
   * One round: promote what is due in every partition, fire what is due of the schedules. Partition 0's promotion
   * also reads the schedules' first due time, so fire.lua's steps run only when a schedule is due: an idle round
   * is one command per partition.
   */
  async round(): Promise<TimekeeperRound> {
    let promoted = 0;
    let nextDue: number | undefined;
    let now = 0;
    let scheduleDue: number | undefined;
    const first = this.#queue.keys;
    for (const [i, keys] of this.#queue.partitions.entries()) {
      for (;;) {
        // Partition 0's keys share their hash tag with the schedules' keys (one slot on a cluster).
        const p = await promote(this.#redis, keys, BATCH, i === 0 ? first.scheduleTimes : undefined);
        promoted += p.moved;
        now = Math.max(now, p.now);
        if (i === 0) scheduleDue = p.scheduleDue;
        if (p.moved < BATCH) {
          if (p.nextDue !== undefined) nextDue = Math.min(nextDue ?? p.nextDue, p.nextDue);
          break;
        }
      }
    }
    let fired = 0;
    if (scheduleDue !== undefined && scheduleDue <= now) {
      const f = await fireDue(this.#redis, first, this.#queue);
      fired = f.enqueued;
      now = Math.max(now, f.now);
      if (f.nextDue !== undefined) nextDue = Math.min(nextDue ?? f.nextDue, f.nextDue);
    } else if (scheduleDue !== undefined) nextDue = Math.min(nextDue ?? scheduleDue, scheduleDue);
    return { promoted, fired, nextDue, now };
  }

  /** Arms the timer for the next due time when it comes before the next floor round. */
  #arm(round: TimekeeperRound): void {
    if (round.nextDue !== undefined) this.expect(round.nextDue, round.now);
  }

  /**
   * Something is due at `due` (ms, Redis clock), as Redis said at `now`: a round then, unless one is armed
   * earlier. For what this process scheduled itself (a retry), so it is not left to the floor.
   */
  expect(due: number, now: number): void {
    if (this.#stopped) return;
    const wait = Math.max(0, due - now);
    if (wait >= this.#intervalMs) return;
    const at = performance.now() + wait;
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    // +1 ms: Redis' TIME is read to the ms, so a timer that ends at the due ms may find it a hair early.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.kick();
    }, wait + 1);
    this.#timer.unref?.();
  }

  /** Stops the loop; resolves once a round under way has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#redis.off(CLOCK_MOVED, this.#onClock);
    clearInterval(this.#floor);
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
