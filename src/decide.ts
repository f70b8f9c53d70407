/**
 * What an outcome means for a task, decided in one pure place (no I/O, no clock): `decideBeforeRun` (a task
 * cut off too often fails without running) and `decide` (release, fail, retry, requeue or cancel), tested
 * outcome by outcome in test/processor.test.ts. `src/processor.ts` acts on the decision.
 */
import { MAX_RETRY_DELAY_MS } from './backoff.ts';
import type { RunOutcome } from './executor.ts';
import type { Failure } from './handlers.ts';
import type { TaskEntry } from './payload.ts';
import type { CutoffRecord } from './store.ts';

/** What an outcome means for the task: the one place that decides it. */
export type Decision =
  | { readonly kind: 'release'; readonly value: unknown }
  | { readonly kind: 'fail'; readonly failure: Failure }
  | { readonly kind: 'retry'; readonly failure: Failure; readonly delayMs: number }
  | { readonly kind: 'requeue'; readonly why: 'crashed' | 'stopped'; readonly cutoff: CutoffRecord; readonly note?: string }
  /** Cancelled (`queue.cancel`): fails for good, never retried nor put back. */
  | { readonly kind: 'cancel'; readonly failure: Failure };

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

export const CANCELLED: Failure = { reason: 'cancelled', message: 'The task was cancelled (queue.cancel); it is not run again' };

/**
 * After a run: what its outcome means. Pure: no I/O, no clock. `cancelled`: a cancel request for the task
 * reached the worker during the run; a run that succeeded all the same keeps its result, any other ending
 * (killed, crashed, threw, timed out) is the cancel's, and never runs again.
 */
export function decide(task: TaskEntry, outcome: RunOutcome, cancelled = false): Decision {
  if (outcome.kind === 'cancelled' || (cancelled && outcome.kind !== 'success')) return { kind: 'cancel', failure: CANCELLED };
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
      // The process died before the task reached it: the task never ran, so the run is not a cut-off.
      if (outcome.started === false)
        return {
          kind: 'requeue',
          why: 'crashed',
          cutoff: null,
          note: `the task's process ${how} before the task reached it; putting the task back`,
        };
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
export function counted(task: TaskEntry, failure: Failure, ran: boolean): Failure {
  return {
    ...failure,
    attempt: task.attempt,
    failures: task.failures + (ran && failure.reason === 'thrown' ? 1 : 0),
    cutoffs: task.cutoffs + (ran && failure.reason === 'crashed' ? 1 : 0),
  };
}
