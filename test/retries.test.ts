// Retries of thrown errors, end to end with real workers: the error handler runs once on the final failure,
// a `retry` event reports each intermediate one, delays follow the backoff on Redis' clock, FatalError and
// retryIf stop retries, per-call options override the definition, and a child-process worker does the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { InlineWorker, PreforkedWorker, type Failure, type Queue, type TaskInfo } from '../src/index.ts';
import { custom, fatal, flaky, flakyPlain, picky } from './fixtures/time-tasks.ts';
import { useInspector, ledgerFile, queueKeysNow, recorder, runUntil, withQueue } from './helpers.ts';

const TIME_TASKS = new URL('./fixtures/time-tasks.ts', import.meta.url).href;

const redis = useInspector();

/** The runs the ledger holds for task `id`: their times (ms). */
function runs(ledger: string, id: string): number[] {
  let text = '';
  try {
    text = readFileSync(ledger, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${id} run `))
    .map((line) => Number(line.split(' ')[3]));
}

function watch(worker: InlineWorker | PreforkedWorker) {
  const retries: { info: TaskInfo; failure: Failure; delayMs: number }[] = [];
  worker.on('retry', (info, failure, delayMs) => retries.push({ info, failure, delayMs }));
  return retries;
}

function inline(q: Queue, rec: ReturnType<typeof recorder>) {
  return new InlineWorker({
    queue: q,
    tasks: [TIME_TASKS],
    handleSignals: false,
    successHandler: rec.successHandler,
    errorHandler: rec.errorHandler,
  });
}

test('a task that throws twice then succeeds runs 3 times; 2 retry events, no error handler; delays follow the backoff', () =>
  withQueue(redis, async (q) => {
    const rec = recorder();
    const ledger = ledgerFile();
    const id = await flaky.delay(q, ledger, 2);
    const worker = inline(q, rec);
    const retries = watch(worker);
    await runUntil(worker, 'the success', () => rec.outcomes.length >= 1, 30_000);
    assert.deepEqual(
      rec.outcomes.map((o) => [o.ok, o.result, o.attempt]),
      [[true, 3, 2]],
    );
    assert.deepEqual(
      retries.map((r) => [r.failure.reason, r.failure.message, r.failure.failures, r.failure.attempt, r.delayMs, r.info.failures]),
      [
        ['thrown', 'failure 1', 1, 0, 300, 0],
        ['thrown', 'failure 2', 2, 1, 300, 1],
      ],
    );
    const times = runs(ledger, id);
    assert.equal(times.length, 3);
    for (let i = 1; i < 3; i++) {
      const gap = (times[i] as number) - (times[i - 1] as number);
      // The backoff is 300 ms; the retry's timer adds ~20 ms; a margin of 400 ms for this loaded machine.
      assert.ok(gap >= 300 && gap <= 300 + 420, `gap ${i}: ${gap} ms`);
    }
    assert.deepEqual(await queueKeysNow(redis, q), [], 'nothing left: no scheduled set, no waiting list');
  }));

test('retries exhausted: the error handler runs once, with attempt, failures and cut-offs', () =>
  withQueue(redis, async (q) => {
    const errors: Failure[] = [];
    const ledger = ledgerFile();
    const id = await flaky.delay(q, ledger, 10);
    const worker = new InlineWorker({ queue: q, tasks: [TIME_TASKS], handleSignals: false, errorHandler: (_t, f) => void errors.push(f) });
    const retries = watch(worker);
    await runUntil(worker, 'the final failure', () => errors.length >= 1, 30_000);
    assert.equal(errors.length, 1);
    assert.deepEqual(
      [errors[0]?.reason, errors[0]?.message, errors[0]?.attempt, errors[0]?.failures, errors[0]?.cutoffs],
      ['thrown', 'failure 3', 2, 3, 0],
    );
    assert.equal(retries.length, 2);
    assert.equal(runs(ledger, id).length, 3);
  }));

test('FatalError is never retried, retryIf decides, a backoff function gets the failures and the error', () =>
  withQueue(redis, async (q) => {
    const rec = recorder();
    const ledger = ledgerFile();
    const fatalId = await fatal.delay(q, ledger);
    const permanent = await picky.delay(q, ledger, 'permanent');
    const transient = await picky.delay(q, ledger, 'transient');
    const customId = await custom.delay(q, ledger);
    const worker = inline(q, rec);
    const retries = watch(worker);
    await runUntil(worker, 'four final outcomes', () => rec.outcomes.length >= 4, 30_000);
    assert.equal(runs(ledger, fatalId).length, 1, 'FatalError: one run');
    assert.equal(runs(ledger, permanent).length, 1, 'retryIf false: one run');
    assert.equal(runs(ledger, transient).length, 4, 'retryIf true: 1 + 3 retries');
    assert.equal(runs(ledger, customId).length, 3);
    assert.deepEqual(
      retries.filter((r) => r.info.id === customId).map((r) => r.delayMs),
      [100, 200],
    );
    assert.ok(rec.outcomes.every((o) => !o.ok && o.reason === 'thrown'));
  }));

test('per-call retries override the definition (and travel in the entry); without options a throw is final as before', () =>
  withQueue(redis, async (q) => {
    const rec = recorder();
    const ledger = ledgerFile();
    const once = await flakyPlain.delay(q, ledger, 1);
    const retried = await flakyPlain.with({ retries: 1, backoff: { type: 'fixed', delayMs: 0 } }).delay(q, ledger, 1);
    const none = await flaky.with({ retries: 0 }).delay(q, ledger, 1);
    await runUntil(inline(q, rec), 'three outcomes', () => rec.outcomes.length >= 3, 30_000);
    assert.equal(rec.byId(once)?.ok, false);
    assert.equal(runs(ledger, once).length, 1);
    assert.equal(rec.byId(retried)?.ok, true);
    assert.equal(runs(ledger, retried).length, 2);
    assert.equal(rec.byId(none)?.ok, false);
    assert.equal(runs(ledger, none).length, 1);
  }));

test('a child-process worker retries by the definition the child loaded', () =>
  withQueue(redis, async (q) => {
    const rec = recorder();
    const ledger = ledgerFile();
    const id = await flaky.delay(q, ledger, 2);
    const fatalId = await fatal.delay(q, ledger);
    const worker = new PreforkedWorker({
      queue: q,
      tasks: [TIME_TASKS],
      handleSignals: false,
      successHandler: rec.successHandler,
      errorHandler: rec.errorHandler,
    });
    const retries = watch(worker);
    await runUntil(worker, 'two outcomes', () => rec.outcomes.length >= 2, 60_000);
    assert.equal(rec.byId(id)?.ok, true);
    assert.equal(rec.byId(id)?.result, 3);
    assert.equal(runs(ledger, id).length, 3);
    assert.equal(rec.byId(fatalId)?.ok, false);
    assert.equal(runs(ledger, fatalId).length, 1);
    assert.deepEqual(
      retries.map((r) => r.delayMs),
      [300, 300],
    );
  }));
