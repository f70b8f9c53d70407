/**
 * The launcher every worker kind shares: start order (children boot while the worker connects and registers a
 * lease), the fetch loop's slots, the sweep loop, lease loss, signals, and stop order. One run of one task is
 * `src/processor.ts`; taking tasks is `src/fetcher.ts`; the lease is `src/lease.ts`.
 *
 * Order per task: fetch (atomic move into the in-flight list) → run → handler → release. A worker killed after
 * the handler and before the release gets the task run again: at least once, never lost.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { type Client, connectLogged, disconnect, drop, reset, warnIfEvicting } from './connection.ts';
import { StateError } from './errors.ts';
import type { Executor } from './executor.ts';
import { Fetcher } from './fetcher.ts';
import type { ErrorHandler, SuccessHandler } from './handlers.ts';
import type { QueueKeys } from './keys.ts';
import { Lease, type LeaseLoss } from './lease.ts';
import type { Logger } from './logger.ts';
import { type Entry, entryKey } from './payload.ts';
import { newRun, Processor, type Run, type WorkerCounts } from './processor.ts';
import type { Queue } from './queue.ts';
import type { WorkerFacts } from './records.ts';
import { Releases } from './releases.ts';
import { onWorkerStopSignals } from './signals.ts';
import { requeue } from './store.ts';
import { SweepLoop } from './sweeper.ts';
import { within } from './time.ts';
import { resolveWorkerOptions, type WorkerEvents, type WorkerKind, type WorkerOptions } from './worker-options.ts';
import { controlEvents } from './worker-control.ts';

export type { WorkerEvents, WorkerKind, WorkerOptions } from './worker-options.ts';
export type { WorkerCounts } from './processor.ts';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * What the three worker kinds share (`InlineWorker`, `ForkedWorker`, `PreforkedWorker`): `run()` works until
 * `close()` or SIGTERM / SIGINT, then lets running tasks finish (up to `shutdownTimeoutMs`). Outcomes reach
 * `successHandler` / `errorHandler` and the events `start`, `success`, `failure`, `requeue`, `leaseLost`,
 * `dataLoss`, `recovered`. A worker runs once: make a new one to start again.
 */
export abstract class Worker extends EventEmitter<WorkerEvents> {
  readonly kind: WorkerKind;
  readonly queue: Queue;
  readonly concurrency: number;
  protected readonly options: WorkerOptions;
  protected readonly logger: Logger;
  readonly #successHandler: SuccessHandler | undefined;
  readonly #errorHandler: ErrorHandler | undefined;
  readonly #leaseMs: number;
  readonly #sweep: boolean;
  readonly #sweepIntervalMs: number;
  readonly #shutdownTimeoutMs: number;
  protected readonly killGraceMs: number;
  readonly #handleSignals: boolean;
  readonly #stop = new AbortController();
  readonly #hurry = new AbortController();
  readonly #runs = new Set<Run>();
  #paused = false; // the queue is paused (`queue.pause()`, learnt with each renewal): fetch nothing
  readonly #known = new Set<string>();
  #state: 'new' | 'running' | 'closing' | 'closed' = 'new';
  #executor: Executor | undefined;
  #cmd: Client | undefined;
  /**
   * The lease's own connection: renewals never wait behind a large transfer on the command connection (a
   * 64 MB entry takes longer to move than a lease lasts), so big payloads cannot make a live worker look dead.
   */
  #leaseClient: Client | undefined;
  /** The registration under way, if any: a stop lets it settle before it leaves, so none is left behind. */
  #registering: Promise<void> | undefined;
  #block: Client | undefined;
  #lease: Lease | undefined;
  #wake: (() => void) | undefined;
  #closing: Promise<void> | undefined;
  #fatal: Error | undefined;
  #sweepLoop: SweepLoop | undefined;
  #offSignals: (() => void) | undefined;
  #processor: Processor | undefined;
  #loop: Promise<void> | undefined;
  #fetcher: Fetcher | undefined;
  /** Finishes runs (`LREM`), those of one turn of the event loop together. */
  readonly #releases = new Releases(() => this.#cmd!);
  readonly #closed = deferred();
  #idleWaiters: (() => void)[] = [];
  readonly #startedAt = new Date().toISOString();
  /** Outcomes since start (read-only for callers). */
  readonly counts: WorkerCounts = { started: 0, succeeded: 0, failed: 0, requeued: 0 };

  constructor(kind: WorkerKind, options: WorkerOptions) {
    super();
    const o = resolveWorkerOptions(options);
    this.kind = kind;
    this.options = options;
    this.queue = o.queue;
    this.concurrency = o.concurrency;
    this.#successHandler = o.successHandler;
    this.#errorHandler = o.errorHandler;
    this.#leaseMs = o.leaseMs;
    this.#sweep = o.sweep;
    this.#sweepIntervalMs = o.sweepIntervalMs;
    this.#shutdownTimeoutMs = o.shutdownTimeoutMs;
    this.killGraceMs = o.killGraceMs;
    this.#handleSignals = o.handleSignals;
    this.logger = o.logger;
  }

  /** Builds what runs the tasks; called once by `run()`. */
  protected abstract createExecutor(): Executor;

  /** The current registration's worker id ('' while not registered). */
  get workerId(): string {
    return this.#lease?.id ?? '';
  }

  /** Tasks taken and not yet finished. */
  get active(): number {
    return this.#runs.size;
  }

  /**
   * Starts and works until `close()` (or SIGTERM / SIGINT); resolves once stopped. Rejects if the task
   * modules do not load. While Redis is unreachable it keeps retrying.
   */
  async run(): Promise<void> {
    if (this.#state !== 'new') throw new StateError('A worker runs once; make a new one');
    this.#state = 'running';
    const executor = this.createExecutor();
    this.#executor = executor;
    executor.onFatal = (err) => {
      this.logger.error({ err }, 'the worker cannot run tasks any more; stopping');
      this.#fatal ??= err;
      void this.close({ now: true });
    };
    executor.onAvailable = () => this.#wake?.();
    executor.onProgress = (id, value) =>
      [...this.#runs].filter((run) => run.id === id).forEach((run) => void Object.assign(run, { progress: value }));
    if (this.#handleSignals)
      this.#offSignals = onWorkerStopSignals(
        this.logger,
        this.queue.name,
        () => this.#closing !== undefined,
        (now) => void this.close({ now }),
      );
    // Children boot while the worker connects and registers; no task is taken before one is ready to run it.
    const started = executor.start();
    started.catch(() => undefined);
    this.#cmd = this.#connection('worker');
    this.#block = this.#connection('blocking');
    this.#leaseClient = this.#connection('worker');
    const cmd = this.#cmd;
    const processor = new Processor({
      runs: this.#runs,
      queue: this.queue,
      logger: this.logger,
      executor,
      cmd,
      releases: this.#releases,
      counts: this.counts,
      successHandler: this.#successHandler,
      errorHandler: this.#errorHandler,
      emit: (event, ...args) => (this.#emit as (e: typeof event, ...a: typeof args) => void)(event, ...args),
      slotFreed: () => this.#wake?.(),
      leaseVerdict: () => this.#lease?.verdictPending(),
      scheduled: (due, now) => this.#sweepLoop?.timekeeper.expect(due, now),
    });
    this.#processor = processor;
    this.#lease = new Lease(this.#leaseClient, this.queue, this.#leaseMs, () => this.#facts(), {
      lost: (why, id) => this.#leaseLost(why, id),
      epochChanged: (previous, current) => {
        this.logger.error(
          { queue: this.queue.name, previous, current },
          "the queue epoch changed: Redis lost this queue's data (restarted without persistence, flushed, failed over to a stale replica), unless this worker was cut off while the queue drained and every other worker left; tasks enqueued before may be gone",
        );
        this.#emit('dataLoss', previous, current);
      },
      ...controlEvents({
        queueName: this.queue.name,
        logger: this.logger,
        runs: this.#runs,
        executor: () => this.#executor,
        pausedChanged: (paused) => void ((this.#paused = paused) ? this.#fetcher?.unblock() : this.#wake?.()),
      }),
    });
    const registered = this.#register();
    try {
      await started;
    } catch (err) {
      // Stopped while starting (close() ended the children it was waiting for): not a failure.
      if (this.#closing) return await this.#closed.promise;
      this.#fatal = err as Error;
      await this.close({ now: true });
      throw err;
    }
    await registered;
    if (this.#state === 'running') {
      void warnIfEvicting(cmd, this.logger, this.queue.name);
      if (this.#sweep) this.#startSweeping(cmd);
      this.#fetcher = new Fetcher({
        partitions: this.queue.partitions,
        logger: this.logger,
        cmd,
        block: this.#block,
        lease: this.#lease,
        stop: this.#stop.signal,
        known: this.#known,
        maxPayloadBytes: this.queue.maxPayloadBytes,
        // Free slots: open runs below `concurrency` (those finishing count as free), capped by ready idle children.
        freeSlots: () => (this.#paused ? 0 : Math.min(this.concurrency - this.#runs.size + processor.releasing, executor.available())),
        changed: () => this.#changed(),
        take: (entry, workerId, keys) => this.#take(entry, workerId, keys),
        stale: (entry, workerId, keys) => this.#putBackStale(entry, workerId, keys),
      });
      this.#loop = this.#fetcher.loop();
      this.#emit('ready', this.workerId);
    }
    await this.#closed.promise;
    if (this.#fatal) throw this.#fatal;
  }

  /** What `delayed status` shows about this worker; sent with every lease renewal (no per-task cost). */
  #facts(): WorkerFacts {
    const now = performance.now();
    const running = [...this.#runs]
      .slice(0, 50)
      .map((run) => ({ id: run.id, name: run.name, attempt: run.attempt, forMs: Math.round(now - run.startedAt), progress: run.progress }));
    return { kind: this.kind, concurrency: this.concurrency, startedAt: this.#startedAt, counts: this.counts, running };
  }

  #connection(role: 'worker' | 'blocking'): Client {
    return connectLogged(this.queue.redisSource, role, this.queue.name, this.queue.commandTimeoutMs, this.logger);
  }

  /** Registers (again), retrying until it works or the worker stops; a stop waits for it before leaving. */
  #register(): Promise<void> {
    const lease = this.#lease!;
    const registering = lease
      .registerUntilDone(this.#stop.signal, (err, attempt) => {
        if (attempt % 10 === 3) this.logger.warn({ queue: this.queue.name, err }, 'cannot register with Redis; retrying');
      })
      .then(
        () => {
          this.logger.debug({ queue: this.queue.name, workerId: lease.id }, 'registered');
          this.#wake?.();
        },
        (err: Error) => {
          // Another configuration is recorded for the queue (ConfigMismatchError): refuse to work. (Not awaited:
          // the stop waits for this registration to settle.)
          this.logger.error({ queue: this.queue.name, err }, 'the queue is configured otherwise in Redis; stopping');
          this.#fatal ??= err;
          void this.close({ now: true });
        },
      );
    this.#registering = registering;
    return registering;
  }

  /** Resolves when something changed that the fetch loop waits for (a free slot, a lease, a stop). */
  #changed(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = () => {
        this.#wake = undefined;
        resolve();
      };
    });
  }

  #take(entry: Entry, workerId: string, keys: QueueKeys): void {
    // Moved after the lease was lost, maybe into a list no sweep reads any more: put it back from here (it never ran).
    if (this.#lease?.id !== workerId || !this.#lease.valid()) {
      this.#putBackStale(entry, workerId, keys);
      return;
    }
    // A move that completed after the worker began to stop: the entry stays in the list, and `leave` puts it back.
    if (this.#stop.signal.aborted) return;
    const known = entryKey(entry);
    const run = newRun(entry, known, keys, keys.worker(workerId));
    this.#runs.add(run);
    this.#known.add(known);
    void this.#processor!.process(run).finally(() => {
      this.#runs.delete(run);
      this.#known.delete(known);
      this.#wake?.();
      if (this.#runs.size === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
    });
  }

  /**
   * Puts back, uncounted, an entry that a fetch moved into the list of a registration that is no longer this
   * worker's current one. Best effort: what this misses, the sweeper's pass over retired registrations finds.
   */
  #putBackStale(entry: Entry, workerId: string, keys: QueueKeys): void {
    this.logger.warn({ queue: this.queue.name, workerId }, 'a fetch completed after its registration ended; putting the task back');
    requeue(this.#cmd!, keys.worker(workerId), keys, entry, null).catch(() => undefined);
  }

  /** Tells listeners; one that throws is logged, and the run goes on to its release all the same. */
  #emit<E extends keyof WorkerEvents>(event: E, ...args: WorkerEvents[E]): void {
    try {
      (this.emit as (event: E, ...args: WorkerEvents[E]) => boolean)(event, ...args);
    } catch (err) {
      this.logger.error({ queue: this.queue.name, event, err }, `a '${event}' listener threw; the task is handled all the same`);
    }
  }

  #leaseLost(why: LeaseLoss, workerId: string): void {
    this.logger.warn(
      { queue: this.queue.name, workerId, why },
      'the worker lost its lease: stopping its runs (the sweeper puts their tasks back) and registering anew',
    );
    this.#emit('leaseLost', workerId, why);
    for (const run of this.#runs) run.abandoned = true;
    this.#known.clear();
    // The tasks may soon run elsewhere: end the runs now, without the grace a stop gives them.
    this.#executor?.killAll('lost');
    // A fetch blocked on a connection that may be dead: start it over.
    if (this.#block) reset(this.#block);
    // No renewal answered in time: the connections may be half-open (kept for minutes): register on new ones.
    if (why === 'expired') {
      if (this.#leaseClient) reset(this.#leaseClient);
      if (this.#cmd) reset(this.#cmd);
    }
    if (!this.#stop.signal.aborted) void this.#register();
  }

  #startSweeping(cmd: Client): void {
    this.#sweepLoop = new SweepLoop({
      queue: this.queue,
      redis: cmd,
      intervalMs: this.#sweepIntervalMs,
      logger: this.logger,
      failureLevel: 'debug',
      recovered: (report) => this.#emit('recovered', report),
    });
  }

  /**
   * Stops: no more fetching; running tasks get `shutdownTimeoutMs` to finish (none with `now`), then are
   * killed and put back at once. Always resolves, also when Redis is unreachable (the sweeper then puts the
   * tasks back once the lease runs out). Calling it again with `now` hurries a stop under way.
   */
  close(options?: { now?: boolean }): Promise<void> {
    if (options?.now) this.#hurry.abort();
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#state = 'closing';
    this.#stop.abort();
    const sweepStopped = this.#sweepLoop?.stop();
    this.#wake?.();
    await this.#fetcher?.unblock();
    if (this.#block) drop(this.#block);
    // The loop may wait on a command while Redis is away; closing the connection at the end rejects it.
    if (this.#loop) await within(this.#loop, 2000);
    if (this.#runs.size > 0 && !this.#hurry.signal.aborted) await within(this.#idle(), this.#shutdownTimeoutMs, this.#hurry.signal);
    if (this.#runs.size > 0) {
      this.#executor?.killAll();
      await within(this.#idle(), this.killGraceMs + 3000);
      for (const run of this.#runs) run.abandoned = true;
    }
    if (this.#lease) {
      if (this.#registering) await within(this.#registering, 3000);
      await within(this.#lease.leave(), 3000);
      this.#lease.stop();
    }
    await this.#executor?.close();
    this.#offSignals?.();
    if (sweepStopped) await within(sweepStopped, 3000);
    if (this.#cmd) await disconnect(this.#cmd);
    if (this.#leaseClient) await disconnect(this.#leaseClient);
    this.#state = 'closed';
    this.#closed.resolve();
  }

  /** Resolves when no run is left. */
  #idle(): Promise<void> {
    if (this.#runs.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }
}
