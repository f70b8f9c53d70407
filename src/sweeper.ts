/**
 * The sweeper puts back the tasks of workers whose lease ran out (killed, frozen, cut off from Redis).
 * Every worker sweeps by default; a standalone `Sweeper` does the same for setups that want it separate.
 * A lock in Redis lets one sweep run per interval per queue, whoever runs it; two at once would still be
 * safe, as recover.lua moves each entry once and checks the lease before it moves anything.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventEmitter } from 'node:events';
import { connect, disconnect, whenReady, type Client } from './connection.ts';
import { failpoint } from './failpoints.ts';
import { StateError } from './errors.ts';
import type { QueueKeys } from './keys.ts';
import { consoleLogger, type Logger } from './logger.ts';
import { msOption } from './options.ts';
import type { Queue } from './queue.ts';
import { runScript } from './scripts.ts';

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
export const RETIRED_CHECK_EVERY_MS = 10_000;
const PAGE = 100;

export type RecoverMode = 'lost' | 'stop' | 'retired';

/**
 * One call of recover.lua: puts back up to 1000 entries of registration `id` (see the script for the modes).
 * Returns [moved, left in the list, 1 if the registration was removed].
 */
export async function recover(redis: Client, keys: QueueKeys, id: string, mode: RecoverMode): Promise<[number, number, number]> {
  const timing = mode === 'lost' ? [REAP_GRACE_MS, RETIRED_WATCH_MS] : mode === 'retired' ? [RETIRED_WATCH_MS, 0] : [0, 0];
  return (await runScript(
    redis,
    'recover',
    [keys.workers, keys.worker(id), keys.waiting, keys.info, keys.epoch, keys.retired],
    [id, 1000, mode, ...timing],
  )) as [number, number, number];
}

export interface SweepReport {
  /** False when another sweeper held this interval's lock. */
  readonly swept: boolean;
  /** Tasks put back in the queue. */
  readonly recovered: number;
  /** Workers whose lease had run out. */
  readonly expiredWorkers: number;
}

/** One sweep of every partition; each partition has its own lock. */
export async function sweepOnce(redis: Client, partitions: readonly QueueKeys[], lockMs: number, token: string): Promise<SweepReport> {
  const reports = await Promise.all(partitions.map((keys) => sweepPartition(redis, keys, lockMs, token)));
  return {
    swept: reports.some((r) => r.swept),
    recovered: reports.reduce((sum, r) => sum + r.recovered, 0),
    expiredWorkers: reports.reduce((sum, r) => sum + r.expiredWorkers, 0),
  };
}

/** Calls recover.lua for one registration until its list is empty (1000 entries per call at most). */
async function recoverAll(redis: Client, keys: QueueKeys, id: string, mode: RecoverMode): Promise<number> {
  let moved = 0;
  for (let call = 0; call < 1000; call++) {
    const [n, left] = await recover(redis, keys, id, mode);
    moved += n;
    if (left === 0) break;
  }
  return moved;
}

/**
 * One sweep of a partition: find the workers whose lease ran out and put their tasks back, and now and then
 * look into the lists of registrations removed earlier (a late move may have landed there).
 */
async function sweepPartition(redis: Client, keys: QueueKeys, lockMs: number, token: string): Promise<SweepReport> {
  let recovered = 0;
  let expiredWorkers = 0;
  for (let page = 0; page < 100; page++) {
    const reply = (await runScript(
      redis,
      'sweep',
      [keys.workers, keys.sweepLock, keys.retired, keys.retiredLock],
      [page === 0 ? lockMs : 0, page * PAGE, PAGE, token, page === 0 ? RETIRED_CHECK_EVERY_MS : 0],
    )) as [number, number, number, ...string[]];
    if (reply[1] === 0) return { swept: false, recovered, expiredWorkers };
    const retired = reply.slice(3, 3 + reply[2]) as string[];
    const ids = reply.slice(3 + reply[2]) as string[];
    for (const id of retired) {
      const late = await recoverAll(redis, keys, id, 'retired');
      recovered += late;
    }
    expiredWorkers += ids.length;
    for (const id of ids) {
      recovered += await recoverAll(redis, keys, id, 'lost');
      failpoint('mid-sweep');
    }
    if (ids.length < PAGE) break;
  }
  return { swept: true, recovered, expiredWorkers };
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
    this.#queue = options.queue;
    this.#intervalMs = msOption('intervalMs', options.intervalMs, 1000, 1);
    this.#logger = options.logger ?? consoleLogger();
    this.#handleSignals = options.handleSignals ?? true;
  }

  #connection(): Client {
    this.#redis ??= connect(this.#queue.redisSource, 'worker', this.#queue.name);
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
    const onSignal = () => void this.close();
    if (this.#handleSignals) {
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    }
    this.#running = (async () => {
      while (!this.#stop.signal.aborted) {
        try {
          const report = await this.sweep();
          if (report.recovered > 0) {
            this.#logger.info({ queue: this.#queue.name, ...report }, 'recovered tasks of workers whose lease ran out');
            this.emit('recovered', report);
          }
        } catch (err) {
          this.#logger.warn({ queue: this.#queue.name, err }, 'sweep failed; retrying next interval');
        }
        await sleep(this.#intervalMs, undefined, { signal: this.#stop.signal }).catch(() => undefined);
      }
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      if (this.#redis) await disconnect(this.#redis);
    })();
    return this.#running;
  }

  /** Stops after the current sweep. Always resolves. */
  async close(): Promise<void> {
    this.#stop.abort();
    if (this.#running) await this.#running;
    else if (this.#redis) await disconnect(this.#redis);
  }
}
