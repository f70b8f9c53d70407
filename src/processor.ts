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
import type { Executor, RunOutcome } from './executor.ts';
import { failpoint } from './failpoints.ts';
import { type ErrorHandler, type Failure, type SuccessHandler, type TaskInfo, taskInfo } from './handlers.ts';
import type { QueueKeys } from './keys.ts';
import type { Logger } from './logger.ts';
import { claimedHeader, decodeEntry, type Entry, type TaskEntry, unreadable } from './payload.ts';
import type { Queue } from './queue.ts';
import { deadLetterJson } from './records.ts';
import type { Releases } from './releases.ts';
import { type CutoffRecord, fail, requeue, retry } from './store.ts';
import { MAX_RETRY_DELAY_MS } from './backoff.ts';
import { occurrenceDone } from './schedules.ts';
import { endRun, processSpan, traceparentOf, within } from './tracing.ts';

type Span = import('@opentelemetry/api').Span;

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
}

/** What an outcome means for the task: the one place that decides it. */
export type Decision =
  | { readonly kind: 'release'; readonly value: unknown }
  | { readonly kind: 'fail'; readonly failure: Failure }
  | { readonly kind: 'retry'; readonly failure: Failure; readonly delayMs: number }
  | { readonly kind: 'requeue'; readonly why: 'crashed' | 'stopped'; readonly cutoff: CutoffRecord; readonly note?: string };

/** Before a run: a task whose runs were cut off `maxAttempts` times fails without running again. */
export function decideBeforeRun(task: TaskEntry): Decision | null {
  if (task.cutoffs < task.maxAttempts) return null;
  const reason = task.reason === 'crashed' ? 'crashed' : 'lost';
  const last =
    task.reason === 'crashed'
      ? 'its child process died'
      : task.reason === 'stopped'
        ? 'a stopping worker killed it'
        : 'its worker was lost';
  return {
    kind: 'fail',
    failure: {
      reason,
      message: `The task's runs were cut off ${task.cutoffs} times, maxAttempts is ${task.maxAttempts} (last time ${last})`,
    },
  };
}

/** After a run: what its outcome means. Pure: no I/O, no clock. */
export function decide(task: TaskEntry, outcome: RunOutcome): Decision {
  switch (outcome.kind) {
    case 'success':
      return { kind: 'release', value: outcome.value };
    case 'thrown': {
      const failure: Failure = { reason: 'thrown', message: outcome.error.message, error: outcome.error };
      const advice = outcome.retry;
      if (!advice?.retry) return { kind: 'fail', failure };
      const delayMs = Math.min(MAX_RETRY_DELAY_MS, Math.max(0, Math.round(advice.delayMs)));
      return { kind: 'retry', failure, delayMs: Number.isFinite(delayMs) ? delayMs : 0 };
    }
    case 'timeout':
      return {
        kind: 'fail',
        failure: {
          reason: 'timeout',
          message: `The task ran over its timeout of ${task.timeoutMs} ms${outcome.signal ? ` and was stopped with ${outcome.signal}` : ''}`,
          ...(outcome.signal ? { signal: outcome.signal } : {}),
        },
      };
    case 'unknown-task':
      return {
        kind: 'fail',
        failure: {
          reason: 'unknown-task',
          message: `No task named ${JSON.stringify(task.name)} is defined in the modules this worker loads`,
        },
      };
    case 'crashed': {
      const how = outcome.signal ? `was killed by ${outcome.signal}` : `exited with code ${outcome.exitCode}`;
      if (task.cutoffs + 1 >= task.maxAttempts) {
        return {
          kind: 'fail',
          failure: {
            reason: 'crashed',
            message: `The task's process ${how} before the task finished; its runs were cut off ${task.cutoffs + 1} times, maxAttempts is ${task.maxAttempts}`,
            ...(outcome.signal ? { signal: outcome.signal } : {}),
            ...(outcome.exitCode !== null ? { exitCode: outcome.exitCode } : {}),
          },
        };
      }
      return { kind: 'requeue', why: 'crashed', cutoff: 'crashed', note: `the task's process ${how}; putting the task back` };
    }
    case 'killed':
      // Killed mid-run by a stop: a cut-off like any other (so a task that outlives every stop cannot loop
      // for ever); ended before it started: put back uncounted.
      return { kind: 'requeue', why: 'stopped', cutoff: outcome.started ? 'stopped' : null };
  }
}

/**
 * A final failure with the task's counts: `attempt` of this run, `failures` (runs that threw, this one
 * included) and `cutoffs` (runs cut off, this one included when it was cut off).
 */
function counted(task: TaskEntry, failure: Failure, ran: boolean): Failure {
  return {
    ...failure,
    attempt: task.attempt,
    failures: task.failures + (ran && failure.reason === 'thrown' ? 1 : 0),
    cutoffs: task.cutoffs + (ran && failure.reason === 'crashed' ? 1 : 0),
  };
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
  /** A retry was scheduled, due at `due` (ms, Redis clock, as Redis said at `now`): arm a promotion then. */
  readonly scheduled?: (due: number, now: number) => void;
}

export class Processor {
  readonly #host: ProcessorHost;
  /** Runs whose outcome is known and whose finishing write is under way (their slots count as free). */
  #releasing = 0;

  constructor(host: ProcessorHost) {
    this.#host = host;
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
    if (run.abandoned) return traced?.span.end();
    await this.#act(run, task, info, decide(task, outcome), true, traced?.span);
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
        await this.#write(run, () => this.#host.releases.release(run.keys, run.list, run.entry));
        return this.#occurrenceDone(run);
      }
      case 'fail':
        return await this.#failed(run, info, counted(task, decision.failure, ran));
      case 'retry': {
        const failure = counted(task, decision.failure, ran);
        logger.debug({ queue: queue.name, id: task.id, name: task.name, delayMs: decision.delayMs }, 'task threw; retrying later');
        emit('retry', info, failure, decision.delayMs);
        return await this.#write(run, async () => {
          const done = await retry(cmd, run.list, run.keys, run.entry, decision.delayMs);
          if (done.status === 'scheduled' && done.due > done.now) this.#host.scheduled?.(done.due, done.now);
          if (done.status === 'unreadable')
            logger.error({ queue: queue.name, id: task.id }, 'retry.lua could not read the entry; it stays in the list');
        });
      }
      case 'requeue':
        if (decision.note) logger.warn({ queue: queue.name, id: task.id, name: task.name }, decision.note);
        counts.requeued++;
        emit('requeue', info, decision.why);
        return await this.#write(run, () => requeue(cmd, run.list, run.keys, run.entry, decision.cutoff));
    }
  }

  async #failed(run: Run, info: TaskInfo, failure: Failure): Promise<void> {
    const { queue, logger, counts, emit, cmd } = this.#host;
    logger.debug({ queue: queue.name, id: info.id, name: info.name, reason: failure.reason }, failure.message);
    counts.failed++;
    emit('failure', info, failure);
    const onError = this.#host.errorHandler;
    if (onError) await this.#callHandler('errorHandler', () => onError(info, failure));
    const keep = queue.deadLetters;
    if (keep === 0) await this.#write(run, () => this.#host.releases.release(run.keys, run.list, run.entry));
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
  else if (decision.kind === 'fail') endRun(span, 'failed', decision.failure.reason, decision.failure.message);
  else if (decision.kind === 'retry') endRun(span, 'retried', decision.failure.reason, decision.failure.message);
  else endRun(span, 'requeued', decision.why);
}

/** A new run for an entry the fetcher took into `list`. */
export function newRun(entry: Entry, known: string, keys: QueueKeys, list: string): Run {
  return { entry, known, keys, list, startedAt: performance.now(), id: '', name: '', attempt: 0, abandoned: false };
}
