/**
 * One run of one task, from the entry the fetcher took to the write that finishes it in Redis:
 * read the entry → check its cut-off budget → execute → `decide()` what the outcome means → tell the events and
 * the handler → finish the run (release, requeue or fail), retrying that write until done or abandoned.
 *
 * The run's entry bytes in this registration's in-flight list are its lease token: every finishing write
 * names them, so a run whose lease was lost (its entry put back by a sweeper) cannot touch the task again.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Client, guard } from './connection.ts';
import type { Executor } from './executor.ts';
import { FlowHost } from './flow-host.ts';
import { putBack } from './flow-store.ts';
import { failpoint } from './failpoints.ts';
import { type ErrorHandler, type Failure, type SuccessHandler, type TaskInfo, taskInfo } from './handlers.ts';
import type { QueueKeys } from './keys.ts';
import type { Logger } from './logger.ts';
import { claimedHeader, decodeEntry, type Entry, type TaskEntry, unreadable } from './payload.ts';
import type { Queue } from './queue.ts';
import { deadLetterJson } from './records.ts';
import type { Releases } from './releases.ts';
import { fail, finishCancelled, finishWithResult, requeue, retry, uniqueRelease } from './store.ts';
import { failureOutcome, successOutcome } from './results.ts';
import { CANCELLED, counted, type Decision, decide, decideBeforeRun } from './decide.ts';
import { occurrenceDone } from './schedules.ts';
import { endRun, processSpan, traceparentOf, within } from './tracing.ts';

type Span = import('@opentelemetry/api').Span;

export { type Decision, decide, decideBeforeRun } from './decide.ts';

/** One task taken by the worker, from the fetch to its finishing write. */
export interface Run {
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
  /**
   * Set when the run may no longer write (its lease was lost, or the worker gave up on it while stopping):
   * no finishing write is made or retried for it; the sweeper or `leave` puts its entry back.
   */
  abandoned: boolean;
  /** Set when a lease renewal brought a cancel request for the task (`queue.cancel`). */
  cancelled: boolean;
  /** The run's outcome is known: its `limit()` / `semaphore()` calls take nothing more (src/flow-host.ts). */
  flowEnded: boolean;
  /** Set when the task keeps its result (`keepResult`), ms: its finishing write is `finish.lua`. */
  keepResultMs?: number;
  /** The unique key the run releases when it finishes (mode 'until-finish'): its finishing write is `finish.lua`. */
  uniqueKey?: string;
  /** The latest `taskContext().progress(value)` of the run (sent with the worker's facts). */
  progress?: unknown;
}

/** Outcomes a worker has seen since it started. */
export interface WorkerCounts {
  started: number;
  succeeded: number;
  failed: number;
  requeued: number;
}

/** The events a run emits (the worker adds its own). */
export interface RunEvents {
  start: [task: TaskInfo];
  success: [task: TaskInfo, result: unknown];
  failure: [task: TaskInfo, failure: Failure];
  /** A run was cut off and the task put back: 'crashed' (its child died), 'stopped' (the worker stopped). */
  requeue: [task: TaskInfo, why: 'crashed' | 'stopped'];
  /**
   * A run threw and the task will run again after `delayMs` (its retry policy said so): each failure but the
   * last. The last one goes to `failure` and the error handler.
   */
  retry: [task: TaskInfo, failure: Failure, delayMs: number];
  /** A run gave way (its `limit()` or `semaphore()` call was refused): the task runs again `delayMs` later, uncounted. */
  limited: [task: TaskInfo, delayMs: number];
}

/** What the processor needs from its worker; made once the worker's connections exist. */
export interface ProcessorHost {
  readonly queue: Queue;
  readonly logger: Logger;
  readonly executor: Executor;
  /** The command connection: finishing writes go out on it, after the fetches they free a slot for. */
  readonly cmd: Client;
  readonly releases: Releases;
  readonly counts: WorkerCounts;
  readonly successHandler: SuccessHandler | undefined;
  readonly errorHandler: ErrorHandler | undefined;
  readonly emit: <E extends keyof RunEvents>(event: E, ...args: RunEvents[E]) => void;
  /** A run's outcome is known and its finishing write starts: its slot is free for the next fetch. */
  readonly slotFreed: () => void;
  /** `Lease#verdictPending` of the worker's lease: undefined while it is trusted. */
  readonly leaseVerdict?: () => Promise<void> | undefined;
  /** A retry was scheduled, due at `due` (ms, Redis clock, as Redis said at `now`): arm a promotion then. */
  readonly scheduled?: (due: number, now: number) => void;
  /** The worker's open runs: given, the processor answers their `limit()` / `semaphore()` calls (src/flow-host.ts). */
  readonly runs?: ReadonlySet<Run>;
}

export class Processor {
  readonly #host: ProcessorHost;
  /** Runs whose outcome is known and whose finishing write is under way (their slots count as free). */
  #releasing = 0;
  readonly #flow: FlowHost | undefined;

  constructor(host: ProcessorHost) {
    this.#host = host;
    if (host.runs) this.#flow = new FlowHost(host.executor, host.cmd, host.queue, host.runs, host.logger);
  }

  get releasing(): number {
    return this.#releasing;
  }

  /** Runs the task of `run` to its finishing write; never rejects. */
  async process(run: Run): Promise<void> {
    const { queue, executor, counts, emit } = this.#host;
    if (typeof run.entry !== 'string') {
      const problem = unreadable(run.entry, queue.maxPayloadBytes);
      const info: TaskInfo = {
        queue: queue.name,
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
    const decoded = decodeEntry(run.entry, queue.maxPayloadBytes);
    if (!decoded.ok) {
      const info: TaskInfo = {
        queue: queue.name,
        id: decoded.id,
        name: decoded.name,
        args: undefined,
        attempt: 0,
        cutoffs: 0,
        timeoutMs: 0,
        maxAttempts: 0,
      };
      const failure: Failure = {
        reason: 'bad-payload',
        message: `Cannot read the task: ${decoded.problem}`,
        error: new Error(decoded.problem),
      };
      return await this.#failed(run, info, failure);
    }
    const task = decoded.task;
    run.id = task.id;
    run.name = task.name;
    run.attempt = task.attempt;
    if (task.keepResultMs !== undefined) run.keepResultMs = task.keepResultMs;
    if (task.unique?.mode === 'f') run.uniqueKey = task.unique.key;
    // 'until-start': the key is free again once the task started (one round trip later).
    if (task.unique?.mode === 's')
      uniqueRelease(this.#host.cmd, run.keys, task.unique.key, task.id).catch((err: unknown) =>
        this.#host.logger.warn({ queue: queue.name, id: task.id, err }, 'could not free the unique key; it expires on its own'),
      );
    const info = taskInfo(queue.name, task);
    // With `tracing: true`: a span per run, the producer's its parent (src/tracing.ts); otherwise nothing.
    const traced = queue.tracing ? processSpan({ queue: queue.name, ...task }, task.traceparent) : undefined;
    const refused = decideBeforeRun(task);
    if (refused) return await this.#act(run, task, info, refused, false, traced?.span);
    counts.started++;
    emit('start', info);
    const outcome = await (traced
      ? within(traced.context, () => executor.run({ ...task, traceparent: traceparentOf(traced.span) }))
      : executor.run(task));
    // The lease's local bound passed while the run went on (this process was stopped or busy): the outcome waits
    // for the lease's verdict (a renewal's reply that came in time may be waiting to be read), and is written only
    // if the lease held; if it was lost the run is abandoned below.
    for (let verdict = this.#host.leaseVerdict?.(); verdict; verdict = this.#host.leaseVerdict?.()) await verdict;
    const putBackMs = this.#flow?.ended(run);
    if (run.abandoned) return traced?.span.end();
    // A refused limit() / semaphore() call ended the run: the task gives way, uncounted (not for a cancelled run).
    if (putBackMs !== undefined && outcome.kind === 'thrown' && !run.cancelled)
      return await this.#giveWay(run, info, putBackMs, traced?.span);
    await this.#act(run, task, info, decide(task, outcome, run.cancelled), true, traced?.span);
  }

  async #act(run: Run, task: TaskEntry, info: TaskInfo, decision: Decision, ran: boolean, span?: Span): Promise<void> {
    const { queue, logger, counts, emit, cmd } = this.#host;
    if (span) endRunSpan(span, decision);
    switch (decision.kind) {
      case 'release': {
        logger.debug({ queue: queue.name, id: task.id, name: task.name }, 'task succeeded');
        counts.succeeded++;
        emit('success', info, decision.value);
        const onSuccess = this.#host.successHandler;
        if (onSuccess) await this.#callHandler('successHandler', () => onSuccess(info, decision.value));
        failpoint('before-release');
        // Finished before a cancel could stop it: the release also drops the cancel request.
        if (run.keepResultMs !== undefined || run.uniqueKey !== undefined) {
          const outcome = run.keepResultMs === undefined ? '' : successOutcome(decision.value, queue.maxResultBytes);
          await this.#write(run, () => this.#finish(run, outcome, '', 1));
        } else if (run.cancelled) await this.#write(run, () => finishCancelled(cmd, run.list, run.keys, run.entry, task.id, '', 1));
        else await this.#write(run, () => this.#host.releases.release(run.keys, run.list, run.entry));
        return this.#occurrenceDone(run);
      }
      case 'fail':
        return await this.#failed(run, info, counted(task, decision.failure, ran));
      case 'cancel':
        return await this.#failed(run, info, counted(task, decision.failure, ran), true);
      case 'retry': {
        const failure = counted(task, decision.failure, ran);
        logger.debug({ queue: queue.name, id: task.id, name: task.name, delayMs: decision.delayMs }, 'task threw; retrying later');
        emit('retry', info, failure, decision.delayMs);
        return await this.#write(run, async () => {
          const done = await retry(cmd, run.list, run.keys, run.entry, decision.delayMs);
          if (done.status === 'cancelled') await this.#cancelledOnTheWayBack(info);
          if (done.status === 'scheduled' && done.due > done.now) this.#host.scheduled?.(done.due, done.now);
          if (done.status === 'unreadable')
            logger.error({ queue: queue.name, id: task.id }, 'retry.lua could not read the entry; it stays in the list');
        });
      }
      case 'requeue':
        if (decision.note) logger.warn({ queue: queue.name, id: task.id, name: task.name }, decision.note);
        counts.requeued++;
        emit('requeue', info, decision.why);
        return await this.#write(run, async () => {
          if ((await requeue(cmd, run.list, run.keys, run.entry, decision.cutoff)) === 'cancelled') await this.#cancelledOnTheWayBack(info);
        });
    }
  }

  /** put-back.lua: the task runs again `delayMs` later; neither a failure nor an attempt. */
  async #giveWay(run: Run, info: TaskInfo, delayMs: number, span?: Span): Promise<void> {
    const { queue, logger, emit, cmd } = this.#host;
    if (span) endRun(span, 'requeued', 'limited');
    logger.debug({ queue: queue.name, id: run.id, name: run.name, delayMs }, 'task gave way to a limit; it runs again later');
    emit('limited', info, delayMs);
    await this.#write(run, async () => {
      const done = await putBack(cmd, run.list, run.keys, run.entry, delayMs);
      if (done.status === 'cancelled') await this.#cancelledOnTheWayBack(info);
      if (done.status === 'scheduled' && done.due > done.now) this.#host.scheduled?.(done.due, done.now);
      if (done.status === 'unreadable')
        logger.error({ queue: queue.name, id: run.id }, 'put-back.lua could not read the entry; it stays in the list');
    });
  }

  /** finish.lua: the release with the outcome kept and the unique key freed, as the run needs. */
  #finish(run: Run, outcome: string, record: string, keep: number): Promise<boolean> {
    const writes = {
      outcome,
      ttlMs: run.keepResultMs ?? 1,
      record,
      keep,
      ...(run.uniqueKey !== undefined ? { uniqueKey: run.uniqueKey } : {}),
    };
    return finishWithResult(this.#host.cmd, run.list, run.keys, run.entry, run.id, writes);
  }

  /** A put-back (retry, requeue) found a cancel request the worker had not heard of yet: the task was dropped. */
  async #cancelledOnTheWayBack(info: TaskInfo): Promise<void> {
    this.#host.emit('failure', info, CANCELLED);
    const onError = this.#host.errorHandler;
    if (onError) await this.#callHandler('errorHandler', () => onError(info, CANCELLED));
  }

  async #failed(run: Run, info: TaskInfo, failure: Failure, cancelled = false): Promise<void> {
    const { queue, logger, counts, emit, cmd } = this.#host;
    logger.debug({ queue: queue.name, id: info.id, name: info.name, reason: failure.reason }, failure.message);
    counts.failed++;
    emit('failure', info, failure);
    const onError = this.#host.errorHandler;
    if (onError) await this.#callHandler('errorHandler', () => onError(info, failure));
    const keep = queue.deadLetters;
    if (run.keepResultMs !== undefined || run.uniqueKey !== undefined) {
      const record = keep === 0 ? '' : deadLetterJson(info, failure, run.entry);
      const outcome = run.keepResultMs === undefined ? '' : failureOutcome(failure.reason, failure.message);
      await this.#write(run, () => this.#finish(run, outcome, record, keep));
    } else if (cancelled) {
      const record = keep === 0 ? '' : deadLetterJson(info, failure, run.entry);
      await this.#write(run, () => finishCancelled(cmd, run.list, run.keys, run.entry, info.id, record, keep));
    } else if (keep === 0) await this.#write(run, () => this.#host.releases.release(run.keys, run.list, run.entry));
    else {
      const record = deadLetterJson(info, failure, run.entry);
      await this.#write(run, () => fail(cmd, run.list, run.keys, run.entry, record, keep));
    }
    return this.#occurrenceDone(run);
  }

  /** An occurrence of a schedule (`cron:<id>:<ms>`) finished: an overlap 'skip' schedule may fire the next. */
  #occurrenceDone(run: Run): void {
    if (!run.id.startsWith('cron:') || run.abandoned) return;
    occurrenceDone(this.#host.cmd, run.keys, run.id).catch((err: unknown) =>
      this.#host.logger.debug(
        { queue: this.#host.queue.name, id: run.id, err },
        'could not free the schedule; its hold runs out on its own',
      ),
    );
  }

  async #callHandler(which: string, call: () => unknown): Promise<void> {
    try {
      await call();
    } catch (err) {
      this.#host.logger.error({ queue: this.#host.queue.name, err }, `the ${which} threw; the task is finished all the same`);
    }
  }

  /**
   * Finishes a run in Redis, retrying through connection errors until done or the run is abandoned.
   * Its slot is free from now on: the next fetch goes out on the same connection after this write, so Redis
   * runs them in that order, and the worker need not wait a round trip before taking the next task.
   */
  async #write(run: Run, write: () => Promise<unknown>): Promise<void> {
    this.#releasing++;
    this.#host.slotFreed();
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
        if (this.#host.queue.waitForReplicas > 0) await this.#waitForReplicas(run);
        return;
      } catch (err) {
        if (attempt === 1) this.#host.logger.warn({ queue: this.#host.queue.name, err }, 'cannot finish a task in Redis; retrying');
        await sleep(Math.min(1000, 20 * 2 ** attempt), undefined, { ref: false });
      }
    }
  }

  /** With `waitForReplicas`: waits until replicas have the finish just written; says so when they do not. */
  async #waitForReplicas(run: Run): Promise<void> {
    const { queue, logger, cmd } = this.#host;
    const { waitForReplicas: wanted, replicaTimeoutMs } = queue;
    try {
      // In a pipeline with a command on the run's key, so that on a cluster WAIT goes to the node that wrote.
      const replies = await guard(cmd, cmd.pipeline().exists(run.list).wait(wanted, replicaTimeoutMs).exec());
      const confirmed = Number(replies?.[1]?.[1] ?? 0);
      if (confirmed < wanted)
        logger.warn(
          { queue: queue.name, id: run.id, confirmed, wanted },
          'a finished task was not confirmed by enough replicas: after a failover it may run again',
        );
    } catch (err) {
      logger.warn({ queue: queue.name, id: run.id, err }, 'could not wait for replicas: after a failover the task may run again');
    }
  }
}

/** Ends a run's span with what its decision means. */
function endRunSpan(span: Span, decision: Decision): void {
  if (decision.kind === 'release') endRun(span, 'succeeded');
  else if (decision.kind === 'fail' || decision.kind === 'cancel')
    endRun(span, 'failed', decision.failure.reason, decision.failure.message);
  else if (decision.kind === 'retry') endRun(span, 'retried', decision.failure.reason, decision.failure.message);
  else endRun(span, 'requeued', decision.why);
}

/** A new run for an entry the fetcher took into `list`. */
export function newRun(entry: Entry, known: string, keys: QueueKeys, list: string): Run {
  return {
    entry,
    known,
    keys,
    list,
    startedAt: performance.now(),
    id: '',
    name: '',
    attempt: 0,
    abandoned: false,
    cancelled: false,
    flowEnded: false,
  };
}
