// Compile-time tests: `npm test` type-checks this file, and every `@ts-expect-error` line must really be an
// error (tsc fails on an unused one). Nothing here runs.
import {
  defineTask,
  FatalError,
  Queue,
  PreforkedWorker,
  type TaskInfo,
  type Failure,
  type ScheduleInfo,
  type ScheduledTask,
} from '../src/index.ts';

const queue = new Queue({ name: 'types' });
export const add = defineTask('add', (a: number, b: number) => a + b);
export const greet = defineTask('greet', async (user: { name: string; age?: number }) => `hi ${user.name}`);
export const charge = defineTask('charge', async (cents: number) => cents, {
  retries: 5,
  backoff: { type: 'exponential', delayMs: 1000, maxDelayMs: 3_600_000, jitter: 'full' },
  retryIf: (error) => !(error instanceof FatalError),
});
export const custom = defineTask('custom', () => 1, { retries: 2, backoff: (failures, _error) => failures * 1000 });

export async function checks(): Promise<void> {
  const id: string = await add.delay(queue, 1, 2);
  const sum: number = add(1, 2);
  const text: Promise<string> = greet({ name: 'ada' });
  await add.timeout(10_000).delay(queue, 3, 4);
  await add.with({ timeoutMs: 5, maxAttempts: 2 }).delay(queue, 3, 4);
  const bound: (a: number, b: number) => Promise<string> = queue.delay(add);
  await bound(5, 6);
  await queue.enqueue('add', [1, 2], { timeoutMs: 1000 });

  // Priorities
  const urgent = new Queue({ name: 'urgent', priorities: { high: 6, normal: 3, low: 1 }, priorityOrder: 'weighted' });
  await add.with({ priority: 'high', atFront: true }).delay(urgent, 1, 2);
  // @ts-expect-error priorityOrder is 'weighted' or 'strict'
  new Queue({ name: 'x', priorities: { a: 1, b: 2 }, priorityOrder: 'fifo' });
  // @ts-expect-error atFront is a boolean
  await add.with({ atFront: 1 }).delay(urgent, 1, 2);

  // Retries, running later, schedules
  await charge.with({ retries: 2, delayMs: 30_000 }).delay(queue, 100);
  await charge.with({ runAt: new Date(Date.now() + 60_000) }).delay(queue, 100);
  await queue.enqueue('charge', [100], { runAt: Date.now() + 1000, backoff: { type: 'fixed', delayMs: 500 } });
  await queue.enqueueMany([{ name: 'charge', args: [1], delayMs: 5000 }]);
  const page: ScheduledTask[] = await queue.scheduled({ offset: 0, count: 10 });
  const due: Date = page[0]!.dueAt;
  const { nextDueAt }: { nextDueAt: Date } = await queue.schedule('nightly', {
    cron: '0 3 * * *',
    tz: 'Europe/Berlin',
    task: add,
    args: [1, 2],
  });
  await queue.schedule('often', { everyMs: 60_000, task: 'add', args: [1, 2], missed: { backfill: 3 }, overlap: 'skip' });
  const all: ScheduleInfo[] = await queue.schedules();
  const gone: boolean = await queue.unschedule('often');
  // @ts-expect-error: a schedule's args follow the task handle
  await queue.schedule('bad', { everyMs: 1000, task: add, args: ['1', 2] });
  // @ts-expect-error: missed is 'latest' | 'none' | { backfill }
  await queue.schedule('bad', { everyMs: 1000, task: add, args: [1, 2], missed: 'all' });
  // @ts-expect-error: a backoff function cannot travel with one call
  await charge.with({ backoff: () => 5 }).delay(queue, 1);
  // @ts-expect-error: retryIf takes the error
  defineTask('x', () => 1, { retryIf: (a: number, b: number) => a > b });
  // @ts-expect-error: jitter is 'full' | 'none' | 'equal'
  defineTask('y', () => 1, { backoff: { type: 'fixed', jitter: 'half' } });
  void [page, due, nextDueAt, all, gone];

  // @ts-expect-error: a string where a number is expected
  await add.delay(queue, 1, 'x');
  // @ts-expect-error: too few arguments
  await add.delay(queue, 1);
  // @ts-expect-error: too many arguments
  await add.delay(queue, 1, 2, 3);
  // @ts-expect-error: the timed form checks its arguments too
  await add.timeout(10).delay(queue, '1', 2);
  // @ts-expect-error: so does the queue-bound form
  await queue.delay(add)('1', 2);
  // @ts-expect-error: a missing required property
  await greet.delay(queue, { age: 3 });
  // @ts-expect-error: the result type follows the function
  const wrong: string = add(1, 2);
  // @ts-expect-error: an unknown option
  await add.with({ timeout: 5 }).delay(queue, 1, 2);

  // Results: queue.result(id) is typed by the handle the id came from; a cancel says what it did.
  const kept = await add.with({ keepResult: { ttlMs: 60_000 } }).delay(queue, 1, 2);
  const total: number = await queue.result(kept, { timeoutMs: 5000 });
  // @ts-expect-error: the result of add is a number
  const notText: string = await queue.result(kept);
  const asyncTask = defineTask('later', async (s: string) => s.length, { keepResult: { ttlMs: 1000 } });
  const length: number = await queue.result(await asyncTask.delay(queue, 'x'));
  const cancelled: 'removed' | 'stopping' | 'not-found' = await queue.cancel(kept);
  const where = await queue.task(kept);
  if (where.state === 'running') console.log(where.workerId, where.since?.toISOString(), where.cancelling);
  // @ts-expect-error: keepResult needs ttlMs
  await add.with({ keepResult: {} }).delay(queue, 1, 2);
  void [total, notText, length, cancelled];

  new PreforkedWorker({
    queue,
    tasks: ['./dist/tasks.js'],
    successHandler: (task: TaskInfo, result: unknown) => console.log(task.id, result),
    errorHandler: (task: TaskInfo, failure: Failure) => console.log(task.id, failure.reason, failure.signal),
  });
  void [id, sum, text, wrong];
}

// delayed-queue/testing: a memory store's URL is a queue's `redis`; an outcome's result or failure is there only
// once its status says which.
export async function testingChecks(worker: PreforkedWorker): Promise<void> {
  const { memoryStore, recordOutcomes } = await import('../src/testing.ts');
  const store = memoryStore('types');
  const memoryQueue = new Queue({ name: 'types', redis: store.url, tracing: true });
  store.clock.advance(1000, { renewals: false });
  await store.drain(memoryQueue, { timeoutMs: 100 });
  const outcome = await recordOutcomes(worker).of('id');
  // @ts-expect-error a result exists only on a success
  outcome.result;
  if (outcome.status === 'succeeded') outcome.result;
  else {
    const reason: string = outcome.failure.reason;
    void reason;
  }
  // @ts-expect-error `tracing` is a boolean
  new Queue({ name: 'types', tracing: 'yes' });
}
