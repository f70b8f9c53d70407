/**
 * What every worker kind shares: register a lease, fetch tasks into its own in-flight list, hand them to an
 * executor (in process, or child processes), report outcomes to the handlers, then finish each run with a
 * write that names the run exactly (its entry bytes in this registration's list: the lease token).
 *
 * Order per task: fetch (atomic move into the in-flight list) → run → handler → release. A worker killed after
 * the handler and before the release gets the task run again: at least once, never lost.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { connect, disconnect, guard, reset, whenReady, type Client } from './connection.ts';
import { InvalidOptionError, StateError } from './errors.ts';
import type { Executor, RunOutcome } from './executor.ts';
import { taskInfo, type ErrorHandler, type Failure, type SuccessHandler, type TaskInfo } from './handlers.ts';
import { failpoint } from './failpoints.ts';
import { Fetcher } from './fetcher.ts';
import type { QueueKeys } from './keys.ts';
import { Lease, type LeaseLoss } from './lease.ts';
import { Releases } from './releases.ts';
import { REPEAT_WINDOW_MS, stopSignalListener } from './signals.ts';
import { consoleLogger, type Logger } from './logger.ts';
import { boolOption, functionOption, intOption, msOption } from './options.ts';
import { claimedHeader, decodeEntry, entryForRecord, entryKey, unreadable, type Entry, type TaskEntry } from './payload.ts';
import type { Queue } from './queue.ts';
import { runScript } from './scripts.ts';
import { sweepOnce, type SweepReport } from './sweeper.ts';
import { within } from './time.ts';
import type { AnyTask, TaskModule } from './task.ts';

export interface WorkerOptions {
  readonly queue: Queue;
  /** Task modules to load (file paths or URLs). In-process workers also take task handles. */
  readonly tasks: readonly (TaskModule | AnyTask)[];
  /** Tasks run at once. @default 1 */
  readonly concurrency?: number;
  /** Called in the worker process after a task succeeded, before the task is released. */
  readonly successHandler?: SuccessHandler;
  /** Called in the worker process after a task failed for good, before the task is released. */
  readonly errorHandler?: ErrorHandler;
  /** Lease length, ms: a worker that stops renewing has its tasks back in the queue this long (plus a sweep) later. @default 3000 */
  readonly leaseMs?: number;
  /** Also sweep the queue (one sweep per interval per queue, whoever does it). @default true */
  readonly sweep?: boolean;
  /** @default 1000 */
  readonly sweepIntervalMs?: number;
  /** On stop, how long running tasks may take to finish before they are killed and put back, ms. @default 10000 */
  readonly shutdownTimeoutMs?: number;
  /** Between SIGTERM and SIGKILL when a child's run is ended (timeout, stop), ms. @default 1000 */
  readonly killGraceMs?: number;
  /** Stop on SIGTERM / SIGINT (a second signal stops at once). @default true */
  readonly handleSignals?: boolean;
  /** @default consoleLogger('warn') */
  readonly logger?: Logger;
}

export type WorkerKind = 'inline' | 'forked' | 'preforked';

export interface WorkerEvents {
  /** Registered, and a child (or the process, inline) is ready: tasks are taken from now on. Once per run. */
  ready: [workerId: string];
  start: [task: TaskInfo];
  success: [task: TaskInfo, result: unknown];
  failure: [task: TaskInfo, failure: Failure];
  /** A run was cut off and the task put back: 'crashed' (its child died), 'stopped' (the worker stopped). */
  requeue: [task: TaskInfo, why: 'crashed' | 'stopped'];
  leaseLost: [workerId: string, why: LeaseLoss];
  /** The queue's epoch changed: Redis lost the queue's data (restart without persistence, FLUSHALL). */
  dataLoss: [previousEpoch: string, currentEpoch: string];
  /** This worker's sweep put tasks of dead workers back in the queue. */
  recovered: [report: SweepReport];
}

interface Run {
  /** The entry as Redis holds it: text, or the raw bytes when they are not valid UTF-8 (the token either way). */
  readonly entry: Entry;
  /** The key of `entry` in the set of entries the worker knows about. */
  readonly known: string;
  /** The keys of the partition the entry came from. */
  readonly keys: QueueKeys;
  /** The in-flight list that holds the entry. */
  readonly list: string;
  readonly startedAt: number;
  id: string;
  name: string;
  attempt: number;
  abandoned: boolean;
}

/** Outcomes this worker has seen since it started. */
export interface WorkerCounts {
  started: number;
  succeeded: number;
  failed: number;
  requeued: number;
}

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
  #sweepTimer: NodeJS.Timeout | undefined;
  #onSignal: ((signal: NodeJS.Signals) => void) | undefined;
  #loop: Promise<void> | undefined;
  #fetcher: Fetcher | undefined;
  /** Runs whose outcome is known and whose final write is under way: their slot is free again. */
  #releasing = 0;
  /** Finishes runs (`LREM`), those of one turn of the event loop together. */
  readonly #releases = new Releases(() => this.#cmd!);
  readonly #closed = deferred();
  #idleWaiters: (() => void)[] = [];
  readonly #startedAt = new Date().toISOString();
  /** Outcomes since start (read-only for callers). */
  readonly counts: WorkerCounts = { started: 0, succeeded: 0, failed: 0, requeued: 0 };

  constructor(kind: WorkerKind, options: WorkerOptions) {
    super();
    if (options === null || typeof options !== 'object') throw new InvalidOptionError('Expected worker options to be an object');
    if (!options.queue || typeof options.queue.enqueue !== 'function') throw new InvalidOptionError('Expected `queue` to be a Queue');
    if (!Array.isArray(options.tasks) || options.tasks.length === 0) {
      throw new InvalidOptionError('Expected `tasks` to be a non-empty array of task modules (paths or URLs)');
    }
    this.kind = kind;
    this.options = options;
    this.queue = options.queue;
    this.concurrency = intOption('concurrency', options.concurrency, 1, 1, 1000);
    this.#successHandler = functionOption('successHandler', options.successHandler);
    this.#errorHandler = functionOption('errorHandler', options.errorHandler);
    this.#leaseMs = msOption('leaseMs', options.leaseMs, 3000, 100);
    this.#sweep = boolOption('sweep', options.sweep, true);
    this.#sweepIntervalMs = msOption('sweepIntervalMs', options.sweepIntervalMs, 1000, 1);
    this.#shutdownTimeoutMs = msOption('shutdownTimeoutMs', options.shutdownTimeoutMs, 10_000, 0);
    this.killGraceMs = msOption('killGraceMs', options.killGraceMs, 1000, 0);
    this.#handleSignals = boolOption('handleSignals', options.handleSignals, true);
    this.logger = options.logger ?? consoleLogger();
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
    if (this.#handleSignals) this.#listenForSignals();
    // Children boot while the worker connects and registers; no task is taken before one is ready to run it.
    const started = executor.start();
    started.catch(() => undefined);
    this.#cmd = this.#connection('worker');
    this.#block = this.#connection('blocking');
    this.#leaseClient = this.#connection('worker');
    this.#lease = new Lease(this.#leaseClient, this.queue.partitions, this.#leaseMs, () => this.#facts(), {
      lost: (why, id) => this.#leaseLost(why, id),
      epochChanged: (previous, current) => {
        this.logger.error(
          { queue: this.queue.name, previous, current },
          "the queue epoch changed: Redis lost this queue's data (restarted without persistence, flushed, failed over to a stale replica), unless this worker was cut off while the queue drained and every other worker left; tasks enqueued before may be gone",
        );
        this.#emit('dataLoss', previous, current);
      },
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
      void this.#checkEvictionPolicy();
      if (this.#sweep) this.#startSweeping();
      this.#fetcher = new Fetcher({
        partitions: this.queue.partitions,
        logger: this.logger,
        cmd: this.#cmd,
        block: this.#block,
        lease: this.#lease,
        stop: this.#stop.signal,
        known: this.#known,
        maxPayloadBytes: this.queue.maxPayloadBytes,
        freeSlots: () => Math.min(this.concurrency - this.#runs.size + this.#releasing, executor.available()),
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
  #facts(): Record<string, unknown> {
    const now = performance.now();
    const running = [...this.#runs]
      .slice(0, 50)
      .map((run) => ({ id: run.id, name: run.name, attempt: run.attempt, forMs: Math.round(now - run.startedAt) }));
    return { kind: this.kind, concurrency: this.concurrency, startedAt: this.#startedAt, counts: this.counts, running };
  }

  #connection(role: 'worker' | 'blocking'): Client {
    const redis = connect(this.queue.redisSource, role, this.queue.name, this.queue.commandTimeoutMs);
    let last = 0;
    redis.on('error', (err: Error) => {
      if (Date.now() - last < 5000) return;
      last = Date.now();
      this.logger.warn({ queue: this.queue.name, role, err }, 'Redis connection error; retrying');
    });
    return redis;
  }

  /** A Redis that evicts keys under memory pressure can drop waiting tasks: say so, loudly, once. */
  async #checkEvictionPolicy(): Promise<void> {
    try {
      const reply = (await guard(this.#cmd!, this.#cmd!.config('GET', 'maxmemory-policy'))) as string[];
      const policy = reply[1];
      if (policy !== undefined && policy !== 'noeviction') {
        this.logger.error(
          { queue: this.queue.name, policy },
          `Redis maxmemory-policy is ${policy}: under memory pressure Redis may evict this queue's keys and lose tasks. Set maxmemory-policy to noeviction.`,
        );
      }
    } catch {
      // CONFIG may be disabled (managed Redis): nothing to check.
    }
  }

  /** Registers (again), retrying until it works or the worker stops; a stop waits for it before leaving. */
  #register(): Promise<void> {
    const registering = this.#registerUntilDone();
    this.#registering = registering;
    return registering;
  }

  async #registerUntilDone(): Promise<void> {
    for (let attempt = 1; !this.#stop.signal.aborted; attempt++) {
      try {
        await whenReady(this.#leaseClient!, 1000);
        if (this.#stop.signal.aborted) return;
        await this.#lease!.register();
        this.logger.debug({ queue: this.queue.name, workerId: this.#lease!.id }, 'registered');
        this.#wake?.();
        return;
      } catch (err) {
        if (attempt % 10 === 3) this.logger.warn({ queue: this.queue.name, err }, 'cannot register with Redis; retrying');
        await this.#pause(Math.min(5000, 50 * 2 ** attempt));
      }
    }
  }

  #pause(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.#stop.signal }).catch(() => undefined);
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
    // A move that completed after the lease was lost: it may have landed in a list whose registration the
    // sweeper already removed, which no sweep reads any more: put it back from here (it never ran).
    if (this.#lease?.id !== workerId || !this.#lease.valid()) {
      this.#putBackStale(entry, workerId, keys);
      return;
    }
    // A move that completed after the worker began to stop: the entry stays in the list, and `leave` puts it back.
    if (this.#stop.signal.aborted) return;
    const known = entryKey(entry);
    const run: Run = {
      entry,
      known,
      keys,
      list: keys.worker(workerId),
      startedAt: performance.now(),
      id: '',
      name: '',
      attempt: 0,
      abandoned: false,
    };
    this.#runs.add(run);
    this.#known.add(known);
    void this.#process(run).finally(() => {
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
    runScript(this.#cmd!, 'requeue', [keys.worker(workerId), keys.waiting], [entry, 0, '']).catch(() => undefined);
  }

  async #process(run: Run): Promise<void> {
    if (typeof run.entry !== 'string') {
      const problem = unreadable(run.entry, this.queue.maxPayloadBytes);
      const info: TaskInfo = {
        queue: this.queue.name,
        ...claimedHeader(run.entry),
        args: undefined,
        attempt: 0,
        cutoffs: 0,
        timeoutMs: 0,
        maxAttempts: 0,
      };
      return await this.#failed(run, info, {
        reason: 'bad-payload',
        message: `Cannot read the task: ${problem}`,
        error: new Error(problem),
      });
    }
    const decoded = decodeEntry(run.entry, this.queue.maxPayloadBytes);
    if (!decoded.ok) {
      const info: TaskInfo = {
        queue: this.queue.name,
        id: decoded.id,
        name: decoded.name,
        args: undefined,
        attempt: 0,
        cutoffs: 0,
        timeoutMs: 0,
        maxAttempts: 0,
      };
      return await this.#failed(run, info, {
        reason: 'bad-payload',
        message: `Cannot read the task: ${decoded.problem}`,
        error: new Error(decoded.problem),
      });
    }
    const task = decoded.task;
    run.id = task.id;
    run.name = task.name;
    run.attempt = task.attempt;
    const info = taskInfo(this.queue.name, task);
    if (task.cutoffs >= task.maxAttempts) {
      const reason = task.reason === 'crashed' ? 'crashed' : 'lost';
      const last =
        task.reason === 'crashed'
          ? 'its child process died'
          : task.reason === 'stopped'
            ? 'a stopping worker killed it'
            : 'its worker was lost';
      return await this.#failed(run, info, {
        reason,
        message: `The task's runs were cut off ${task.cutoffs} times, maxAttempts is ${task.maxAttempts} (last time ${last})`,
      });
    }
    this.counts.started++;
    this.#emit('start', info);
    const outcome = await this.#executor!.run(task);
    if (run.abandoned) return;
    await this.#settle(run, task, info, outcome);
  }

  async #settle(run: Run, task: TaskEntry, info: TaskInfo, outcome: RunOutcome): Promise<void> {
    switch (outcome.kind) {
      case 'success': {
        this.logger.debug({ queue: this.queue.name, id: task.id, name: task.name }, 'task succeeded');
        this.counts.succeeded++;
        this.#emit('success', info, outcome.value);
        const onSuccess = this.#successHandler;
        if (onSuccess) await this.#callHandler('successHandler', () => onSuccess(info, outcome.value));
        failpoint('before-release');
        return await this.#write(run, () => this.#releases.release(run.keys, run.list, run.entry));
      }
      case 'thrown':
        return await this.#failed(run, info, { reason: 'thrown', message: outcome.error.message, error: outcome.error });
      case 'timeout':
        return await this.#failed(run, info, {
          reason: 'timeout',
          message: `The task ran over its timeout of ${task.timeoutMs} ms${outcome.signal ? ` and was stopped with ${outcome.signal}` : ''}`,
          ...(outcome.signal ? { signal: outcome.signal } : {}),
        });
      case 'unknown-task':
        return await this.#failed(run, info, {
          reason: 'unknown-task',
          message: `No task named ${JSON.stringify(task.name)} is defined in the modules this worker loads`,
        });
      case 'crashed': {
        const how = outcome.signal ? `was killed by ${outcome.signal}` : `exited with code ${outcome.exitCode}`;
        if (task.cutoffs + 1 >= task.maxAttempts) {
          return await this.#failed(run, info, {
            reason: 'crashed',
            message: `The task's process ${how} before the task finished; its runs were cut off ${task.cutoffs + 1} times, maxAttempts is ${task.maxAttempts}`,
            ...(outcome.signal ? { signal: outcome.signal } : {}),
            ...(outcome.exitCode !== null ? { exitCode: outcome.exitCode } : {}),
          });
        }
        this.logger.warn(
          { queue: this.queue.name, id: task.id, name: task.name, exitCode: outcome.exitCode, signal: outcome.signal },
          `the task's process ${how}; putting the task back`,
        );
        this.counts.requeued++;
        this.#emit('requeue', info, 'crashed');
        return await this.#write(run, () => runScript(this.#cmd!, 'requeue', [run.list, run.keys.waiting], [run.entry, 1, 'crashed']));
      }
      case 'killed':
        // Killed mid-run by a stop: a cut-off like any other (so a task that outlives every stop cannot loop
        // for ever); ended before it started: put back uncounted.
        this.counts.requeued++;
        this.#emit('requeue', info, 'stopped');
        return await this.#write(run, () =>
          runScript(this.#cmd!, 'requeue', [run.list, run.keys.waiting], outcome.started ? [run.entry, 1, 'stopped'] : [run.entry, 0, '']),
        );
    }
  }

  async #failed(run: Run, info: TaskInfo, failure: Failure): Promise<void> {
    this.logger.debug({ queue: this.queue.name, id: info.id, name: info.name, reason: failure.reason }, failure.message);
    this.counts.failed++;
    this.#emit('failure', info, failure);
    const onError = this.#errorHandler;
    if (onError) await this.#callHandler('errorHandler', () => onError(info, failure));
    const keep = this.queue.deadLetters;
    if (keep === 0) return await this.#write(run, () => this.#releases.release(run.keys, run.list, run.entry));
    const entry = entryForRecord(run.entry);
    const record = JSON.stringify({
      id: info.id,
      name: info.name,
      reason: failure.reason,
      message: failure.message,
      signal: failure.signal,
      exitCode: failure.exitCode,
      ...entry,
    });
    await this.#write(run, () => runScript(this.#cmd!, 'fail', [run.list, run.keys.dead], [run.entry, record, keep]));
  }

  /** Tells listeners; one that throws is logged, and the run goes on to its release all the same. */
  #emit<E extends keyof WorkerEvents>(event: E, ...args: WorkerEvents[E]): void {
    try {
      (this.emit as (event: E, ...args: WorkerEvents[E]) => boolean)(event, ...args);
    } catch (err) {
      this.logger.error({ queue: this.queue.name, event, err }, `a '${event}' listener threw; the task is handled all the same`);
    }
  }

  async #callHandler(which: string, call: () => unknown): Promise<void> {
    try {
      await call();
    } catch (err) {
      this.logger.error({ queue: this.queue.name, err }, `the ${which} threw; the task is finished all the same`);
    }
  }

  /**
   * Finishes a run in Redis, retrying through connection errors until done or the run is abandoned.
   * Its slot is free from now on: the next fetch goes out on the same connection after this write, so Redis
   * runs them in that order, and the worker need not wait a round trip before taking the next task.
   */
  async #write(run: Run, write: () => Promise<unknown>): Promise<void> {
    this.#releasing++;
    this.#wake?.();
    try {
      await this.#writeUntilDone(run, write);
    } finally {
      this.#releasing--;
    }
  }

  async #writeUntilDone(run: Run, write: () => Promise<unknown>): Promise<void> {
    for (let attempt = 1; !run.abandoned; attempt++) {
      try {
        await write();
        if (this.queue.waitForReplicas > 0) await this.#waitForReplicas(run);
        return;
      } catch (err) {
        if (attempt === 1) this.logger.warn({ queue: this.queue.name, err }, 'cannot finish a task in Redis; retrying');
        await sleep(Math.min(1000, 20 * 2 ** attempt), undefined, { ref: false });
      }
    }
  }

  /** With `waitForReplicas`: waits until replicas have the finish just written; says so when they do not. */
  async #waitForReplicas(run: Run): Promise<void> {
    const { waitForReplicas: wanted, replicaTimeoutMs } = this.queue;
    try {
      // In a pipeline with a command on the run's key, so that on a cluster WAIT goes to the node that wrote.
      const replies = await guard(this.#cmd!, this.#cmd!.pipeline().exists(run.list).wait(wanted, replicaTimeoutMs).exec());
      const confirmed = Number(replies?.[1]?.[1] ?? 0);
      if (confirmed < wanted)
        this.logger.warn(
          { queue: this.queue.name, id: run.id, confirmed, wanted },
          'a finished task was not confirmed by enough replicas: after a failover it may run again',
        );
    } catch (err) {
      this.logger.warn({ queue: this.queue.name, id: run.id, err }, 'could not wait for replicas: after a failover the task may run again');
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
    // No renewal answered in time: the command connection may be half-open (the kernel keeps it for minutes,
    // every command on it waits), so the new registration goes out on a new one. A refusal came on a live one.
    if (why === 'expired') {
      if (this.#leaseClient) reset(this.#leaseClient);
      if (this.#cmd) reset(this.#cmd);
    }
    if (!this.#stop.signal.aborted) void this.#register();
  }

  #startSweeping(): void {
    const token = randomBytes(6).toString('base64url');
    // A sweep that has not settled after this long is given up on (its commands time out on their own; this
    // bound keeps one hung sweep from stopping every later one): a second sweep at once is safe.
    const boundMs = this.queue.commandTimeoutMs + this.#sweepIntervalMs;
    let generation = 0;
    let sweeping = 0; // the generation of the sweep under way, 0 for none
    let sweepStarted = 0;
    this.#sweepTimer = setInterval(() => {
      if (!this.#cmd || (sweeping !== 0 && performance.now() - sweepStarted < boundMs)) return;
      if (sweeping !== 0) this.logger.warn({ queue: this.queue.name, boundMs }, 'a sweep did not finish in time; starting another');
      const mine = ++generation;
      sweeping = mine;
      sweepStarted = performance.now();
      sweepOnce(this.#cmd, this.queue.partitions, this.#sweepIntervalMs, token)
        .then((report) => {
          if (report.recovered === 0) return;
          this.logger.info({ queue: this.queue.name, ...report }, 'recovered tasks of workers whose lease ran out');
          this.#emit('recovered', report);
        })
        .catch((err: unknown) => this.logger.debug({ queue: this.queue.name, err }, 'sweep failed; retrying next interval'))
        .finally(() => {
          if (sweeping === mine) sweeping = 0;
        });
    }, this.#sweepIntervalMs);
    this.#sweepTimer.unref();
  }

  #listenForSignals(): void {
    // A repeat of the same signal within a second is one request (launchers forward the Ctrl-C they got too).
    this.#onSignal = stopSignalListener((request, signal, sinceFirstMs) => {
      if (request === 'repeat') {
        this.logger.info(
          { queue: this.queue.name, signal, sinceFirstMs: Math.round(sinceFirstMs) },
          `${signal} again within ${REPEAT_WINDOW_MS} ms: taken as the same request`,
        );
        return;
      }
      const now = request === 'stop-now' || this.#closing !== undefined;
      this.logger.warn(
        { queue: this.queue.name, signal },
        now
          ? 'second signal: stopping now, putting running tasks back'
          : `stopping: running tasks may finish (signal again after ${REPEAT_WINDOW_MS / 1000} s to stop at once)`,
      );
      void this.close({ now });
    });
    process.on('SIGTERM', this.#onSignal);
    process.on('SIGINT', this.#onSignal);
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
    clearInterval(this.#sweepTimer);
    this.#wake?.();
    await this.#fetcher?.unblock();
    this.#block?.disconnect();
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
    if (this.#onSignal) {
      process.off('SIGTERM', this.#onSignal);
      process.off('SIGINT', this.#onSignal);
    }
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
