// Compile-time tests: `npm test` type-checks this file, and every `@ts-expect-error` line must really be an
// error (tsc fails on an unused one). Nothing here runs.
import { defineTask, Queue, PreforkedWorker, type TaskInfo, type Failure } from '../src/index.ts';

const queue = new Queue({ name: 'types' });
export const add = defineTask('add', (a: number, b: number) => a + b);
export const greet = defineTask('greet', async (user: { name: string; age?: number }) => `hi ${user.name}`);

export async function checks(): Promise<void> {
  const id: string = await add.delay(queue, 1, 2);
  const sum: number = add(1, 2);
  const text: Promise<string> = greet({ name: 'ada' });
  await add.timeout(10_000).delay(queue, 3, 4);
  await add.with({ timeoutMs: 5, maxAttempts: 2 }).delay(queue, 3, 4);
  const bound: (a: number, b: number) => Promise<string> = queue.delay(add);
  await bound(5, 6);
  await queue.enqueue('add', [1, 2], { timeoutMs: 1000 });

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

  new PreforkedWorker({
    queue,
    tasks: ['./dist/tasks.js'],
    successHandler: (task: TaskInfo, result: unknown) => console.log(task.id, result),
    errorHandler: (task: TaskInfo, failure: Failure) => console.log(task.id, failure.reason, failure.signal),
  });
  void [id, sum, text, wrong];
}
