/**
 * The sweeper puts back the tasks of workers whose lease ran out (killed, frozen, cut off from Redis).
 * Every worker sweeps by default (a `SweepLoop` on its command connection); a standalone `Sweeper` runs the
 * same loop for setups that want it separate. A lock in Redis lets one sweep run per interval per queue,
 * whoever runs it; two at once would still be safe, as recover.lua moves each entry once and checks the lease
 * before it moves anything.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { type Client, connect, disconnect, whenReady } from './connection.ts';
import { InvalidOptionError, StateError } from './errors.ts';
import { freeHolds } from './flow-store.ts';
import { failpoint } from './failpoints.ts';
import type { QueueKeys } from './keys.ts';
import { consoleLogger, type Logger } from './logger.ts';
import { BLOCK_SECONDS } from './fetcher.ts';
import { boolOption, msOption } from './options.ts';
import type { Queue } from './queue.ts';
import { onStopSignals } from './signals.ts';
import { Timekeeper } from './timekeeper.ts';
import { type RecoverMode, recover, sweep } from './store.ts';

/**
 * How long after its lease ends a registration is kept (while its list is empty) before it is removed: longer
 * than a worker's blocking fetch (1 s), so a fetch issued just before the lease ended lands in a list that is
 * still swept.
 */
export const REAP_GRACE_MS = 5000;
/**
 * How long a removed registration's list is still watched, and how often: a blocking move held up in the
 * network (or sent by a process that was stopped) can land there after the registration was removed. Twenty
 * minutes is past the point where Linux gives up retransmitting on a connection (about 15 minutes by default).
 */
export const RETIRED_WATCH_MS = 20 * 60_000;
// The grace must outlast a blocking fetch, or a move issued just before the lease ended could land in a list
// no sweep reads any more: a rule, not a hope.
if (REAP_GRACE_MS <= BLOCK_SECONDS * 1000) throw new Error('REAP_GRACE_MS must be longer than a blocking fetch (BLOCK_SECONDS)');
export const RETIRED_CHECK_EVERY_MS = 10_000;
const PAGE = 100;

export interface SweepReport {
  /** False when another sweeper held this interval's lock. */
  readonly swept: boolean;
  /** Tasks put back in the queue. */
  readonly recovered: number;
  /** Workers whose lease had run out. */
  readonly expiredWorkers: number;
  /** Tasks of those workers dropped instead of put back: they had been cancelled (`queue.cancel`). */
  readonly cancelled: number;
}

/** One sweep of every partition; each partition has its own lock. */
export async function sweepOnce(redis: Client, partitions: readonly QueueKeys[], lockMs: number, token: string): Promise<SweepReport> {
  const reports = await Promise.all(partitions.map((keys) => sweepPartition(redis, keys, lockMs, token)));
  return {
    swept: reports.some((r) => r.swept),
    recovered: reports.reduce((sum, r) => sum + r.recovered, 0),
    expiredWorkers: reports.reduce((sum, r) => sum + r.expiredWorkers, 0),
    cancelled: reports.reduce((sum, r) => sum + r.cancelled, 0),
  };
}

/** Calls recover.lua for one registration until its list is empty (1000 entries per call at most). */
async function recoverAll(redis: Client, keys: QueueKeys, id: string, mode: 'lost' | 'retired'): Promise<[number, number]> {
  const timing: Record<typeof mode, [number, number]> = { lost: [REAP_GRACE_MS, RETIRED_WATCH_MS], retired: [RETIRED_WATCH_MS, 0] };
  let moved = 0;
  let cancelled = 0;
  for (let call = 0; call < 1000; call++) {
    const done = await recover(redis, keys, id, mode satisfies RecoverMode, timing[mode]);
    moved += done.moved;
    cancelled += done.cancelled;
    if (done.left === 0) break;
  }
  return [moved, cancelled];
}

/**
 * One sweep of a partition: find the workers whose lease ran out and put their tasks back, and now and then
 * look into the lists of registrations removed earlier (a late move may have landed there).
 */
async function sweepPartition(redis: Client, keys: QueueKeys, lockMs: number, token: string): Promise<SweepReport> {
  let recovered = 0;
  let expiredWorkers = 0;
  let cancelled = 0;
  const add = ([moved, dropped]: [number, number]) => {
    recovered += moved;
    cancelled += dropped;
  };
  for (let page = 0; page < 100; page++) {
    const first = page === 0;
    const found = await sweep(redis, keys, {
      lockMs: first ? lockMs : 0,
      offset: page * PAGE,
      count: PAGE,
      token,
      retiredEveryMs: first ? RETIRED_CHECK_EVERY_MS : 0,
    });
    if (!found.locked) return { swept: false, recovered, expiredWorkers, cancelled };
    for (const id of found.retired) add(await recoverAll(redis, keys, id, 'retired'));
    expiredWorkers += found.expired.length;
    for (const id of found.expired) {
      add(await recoverAll(redis, keys, id, 'lost'));
      // Semaphore slots (src/flow.ts) live on partition 0's tag: the dead registration's go back now.
      if (keys.partition === 0) await freeHolds(redis, keys, id);
      failpoint('mid-sweep');
    }
    if (found.expired.length < PAGE) break;
  }
  return { swept: true, recovered, expiredWorkers, cancelled };
}

/** What a `SweepLoop` needs from its owner. */
export interface SweepLoopOptions {
  readonly queue: Queue;
  /** The connection to sweep on (the worker's command connection, or the sweeper's own). */
  readonly redis: Client;
  readonly intervalMs: number;
  readonly logger: Logger;
  /** How a failed sweep is logged: a worker reports its connection errors already ('debug'). */
  readonly failureLevel: 'debug' | 'warn';
  readonly recovered: (report: SweepReport) => void;
  /** Whose sweep lock this is (a standalone sweeper's first sweep and its loop share one). @default random */
  readonly token?: string;
}

/**
 * Sweeps every interval. A sweep that has not settled after the command timeout plus one interval is given up
 * on (its commands time out on their own; this bound keeps one hung sweep from stopping every later one): a
 * second sweep at once is safe.
 */
export class SweepLoop {
  readonly #options: SweepLoopOptions;
  readonly #token: string;
  readonly #timer: NodeJS.Timeout;
  /** Promotes due scheduled tasks and fires due schedules: at least once per interval, and at each next due time. */
  readonly #timekeeper: Timekeeper;
  #generation = 0;
  /** The generation of the sweep under way, 0 for none. */
  #sweeping = 0;
  #sweepStarted = 0;
  #current: Promise<void> = Promise.resolve();

  constructor(options: SweepLoopOptions) {
    this.#options = options;
    this.#token = options.token ?? randomBytes(6).toString('base64url');
    this.#timer = setInterval(() => this.#tick(), options.intervalMs);
    this.#timer.unref();
    this.#timekeeper = new Timekeeper({
      queue: options.queue,
      redis: options.redis,
      intervalMs: options.intervalMs,
      logger: options.logger,
      failureLevel: options.failureLevel,
    });
    this.#timekeeper.start();
  }

  #tick(): void {
    const { queue, redis, intervalMs, logger } = this.#options;
    const boundMs = queue.commandTimeoutMs + intervalMs;
    if (this.#sweeping !== 0 && performance.now() - this.#sweepStarted < boundMs) return;
    if (this.#sweeping !== 0) logger.warn({ queue: queue.name, boundMs }, 'a sweep did not finish in time; starting another');
    const mine = ++this.#generation;
    this.#sweeping = mine;
    this.#sweepStarted = performance.now();
    this.#current = sweepOnce(redis, queue.partitions, intervalMs, this.#token)
      .then((report) => {
        if (report.recovered === 0 && report.cancelled === 0) return;
        logger.info({ queue: queue.name, ...report }, 'recovered tasks of workers whose lease ran out');
        this.#options.recovered(report);
      })
      .catch((err: unknown) => logger[this.#options.failureLevel]({ queue: queue.name, err }, 'sweep failed; retrying next interval'))
      .finally(() => {
        if (this.#sweeping === mine) this.#sweeping = 0;
      });
  }

  /** The loop that promotes due tasks and fires schedules, run beside the sweeps. */
  get timekeeper(): Timekeeper {
    return this.#timekeeper;
  }

  /** Stops sweeping; resolves when the sweep under way (if any) settled. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all([this.#current, this.#timekeeper.stop()]);
  }
}

export interface SweeperOptions {
  readonly queue: Queue;
  /** How often to sweep, ms. @default 1000 */
  readonly intervalMs?: number;
  /** @default consoleLogger('warn') */
  readonly logger?: Logger;
  /** Stop on SIGTERM / SIGINT. @default true */
  readonly handleSignals?: boolean;
}

export interface SweeperEvents {
  /** A sweep put tasks of dead workers back in the queue. */
  recovered: [report: SweepReport];
}

/**
 * Puts the tasks of dead workers (whose lease ran out) back in the queue, every `intervalMs`. Optional: every
 * worker sweeps too, and one sweep per interval per queue happens whoever does it. `run()` sweeps until
 * `close()` or SIGTERM / SIGINT; the `recovered` event reports what a sweep put back.
 */
export class Sweeper extends EventEmitter<SweeperEvents> {
  readonly #queue: Queue;
  readonly #intervalMs: number;
  readonly #logger: Logger;
  readonly #handleSignals: boolean;
  readonly #token = randomBytes(6).toString('base64url');
  readonly #stop = new AbortController();
  #redis: Client | undefined;
  #running: Promise<void> | undefined;

  constructor(options: SweeperOptions) {
    super();
    if (options === null || typeof options !== 'object') throw new InvalidOptionError('Expected sweeper options to be an object');
    if (!options.queue || typeof options.queue.enqueue !== 'function') throw new InvalidOptionError('Expected `queue` to be a Queue');
    this.#queue = options.queue;
    this.#intervalMs = msOption('intervalMs', options.intervalMs, 1000, 1);
    this.#logger = options.logger ?? consoleLogger();
    this.#handleSignals = boolOption('handleSignals', options.handleSignals, true);
  }

  #connection(): Client {
    this.#redis ??= connect(this.#queue.redisSource, 'worker', this.#queue.name, this.#queue.commandTimeoutMs);
    return this.#redis;
  }

  /** One sweep now (ignoring the lock's interval only if no one else holds it). */
  async sweep(): Promise<SweepReport> {
    const redis = this.#connection();
    await whenReady(redis, 1000);
    return await sweepOnce(redis, this.#queue.partitions, this.#intervalMs, this.#token);
  }

  /** Sweeps every interval until `close()`; resolves then. */
  run(): Promise<void> {
    if (this.#running) throw new StateError('This sweeper is already running');
    const off = this.#handleSignals ? onStopSignals(() => void this.close()) : () => undefined;
    const stopped = new Promise<void>((resolve) => this.#stop.signal.addEventListener('abort', () => resolve(), { once: true }));
    this.#running = (async () => {
      // The first sweep at once (a sweeper is often started to clean up now), then every interval.
      await this.sweep().then(
        (report) => this.#recovered(report),
        (err: unknown) => this.#logger.warn({ queue: this.#queue.name, err }, 'sweep failed; retrying next interval'),
      );
      const loop = new SweepLoop({
        queue: this.#queue,
        redis: this.#connection(),
        intervalMs: this.#intervalMs,
        logger: this.#logger,
        failureLevel: 'warn',
        token: this.#token,
        recovered: (report) => this.emit('recovered', report),
      });
      if (!this.#stop.signal.aborted) await stopped;
      await loop.stop();
      off();
      if (this.#redis) await disconnect(this.#redis);
    })();
    return this.#running;
  }

  #recovered(report: SweepReport): void {
    if (report.recovered === 0 && report.cancelled === 0) return;
    this.#logger.info({ queue: this.#queue.name, ...report }, 'recovered tasks of workers whose lease ran out');
    this.emit('recovered', report);
  }

  /** Stops after the current sweep. Always resolves. */
  async close(): Promise<void> {
    this.#stop.abort();
    if (this.#running) await this.#running;
    else if (this.#redis) await disconnect(this.#redis);
  }
}
