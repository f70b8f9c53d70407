// The public API as a newcomer meets it: a fake Enqueuer for unit tests of producers (no Redis), and the
// metrics of a fresh worker (no series with an empty `task` label until a task fails under a name no module
// defines: a name read from Redis never becomes a label value).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InlineWorker, defineTask, type Enqueuer } from '../src/index.ts';
import { Metrics } from '../src/metrics.ts';
import { testQueue } from './helpers.ts';

const noop = defineTask('noop', () => undefined);

test('a fresh worker\'s metrics have no series with an empty task label; an unknown name fails under task=""', async () => {
  const queue = testQueue();
  try {
    const worker = new InlineWorker({ queue, tasks: [noop], handleSignals: false });
    const metrics = new Metrics({ processMetrics: false });
    metrics.observeWorker(worker);
    const counters = (text: string) => text.split('\n').filter((l) => l.startsWith('delayed_tasks_') || l.startsWith('delayed_task_run'));
    const fresh = counters(await metrics.text());
    assert.deepEqual(
      fresh.filter((l) => l.includes('task=""')),
      [],
    );
    assert.ok(
      fresh.some((l) => l.startsWith(`delayed_tasks_started_total{queue="${queue.name}"} 0`)),
      fresh.join('\n'),
    );

    const info = { queue: queue.name, id: 'x.1', name: 'ghost', args: [], attempt: 0, cutoffs: 0, timeoutMs: 1000, maxAttempts: 3 };
    worker.emit('failure', info, { reason: 'unknown-task', message: 'No task named "ghost"' });
    const after = counters(await metrics.text());
    assert.deepEqual(
      after.filter((l) => l.includes('task=""')),
      [`delayed_tasks_failed_total{queue="${queue.name}",task="",reason="unknown-task"} 1`],
    );
    assert.ok(!after.some((l) => l.includes('ghost')));
  } finally {
    await queue.close();
  }
});

test('an Enqueuer fake receives what the handle would send to Redis', async () => {
  const add = defineTask('add', (a: number, b: number) => a + b);
  const calls: unknown[][] = [];
  const fake: Enqueuer = {
    enqueue: async (name, args, options) => {
      calls.push([name, args, options]);
      return `fake.${calls.length}`;
    },
  };
  assert.equal(await add.delay(fake, 1, 2), 'fake.1');
  assert.equal(await add.timeout(5000).delay(fake, 3, 4), 'fake.2');
  assert.equal(await add.with({ maxAttempts: 5 }).delay(fake, 5, 6), 'fake.3');
  assert.deepEqual(calls, [
    ['add', [1, 2], undefined],
    ['add', [3, 4], { timeoutMs: 5000 }],
    ['add', [5, 6], { maxAttempts: 5 }],
  ]);
});
