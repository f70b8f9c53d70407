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
import { intOption } from './options.ts';
import type { Queue } from './queue.ts';
import { runScript } from './scripts.ts';

/**
 * How long after its lease ends a registration is kept (while its list is empty) before it is removed: longer
 * than a worker's blocking fetch (1 s), so a fetch issued just before the lease ended cannot land in a list
 * that nobody sweeps any more.
 */
export const REAP_GRACE_MS = 5000;
const PAGE = 100;

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

/** One sweep of a partition: find the workers whose lease ran out and put their tasks back, 1000 per script call at most. */
async function sweepPartition(redis: Client, keys: QueueKeys, lockMs: number, token: string): Promise<SweepReport> {
  let recovered = 0;
  let expiredWorkers = 0;
  for (let page = 0; page < 100; page++) {
    const reply = (await runScript(redis, 'sweep', [keys.workers, keys.sweepLock], [page === 0 ? lockMs : 0, page * PAGE, PAGE, token])) as [number, number, ...string[]];
    if (reply[1] === 0) return { swept: false, recovered, expiredWorkers };
    const ids = reply.slice(2) as string[];
    expiredWorkers += ids.length;
    for (const id of ids) {
      for (let call = 0; call < 1000; call++) {
        const [moved, left] = (await runScript(redis, 'recover', [keys.workers, keys.worker(id), keys.waiting, keys.info, keys.epoch], [id, 1000, 'lost', REAP_GRACE_MS])) as [number, number, number];
        recovered += moved;
        if (left === 0) break;
      }
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
    this.#intervalMs = intOption('intervalMs', options.intervalMs, 1000, 1);
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
