import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidOptionError, PayloadTooLargeError, Queue, SerializationError, defineTask } from '../src/index.ts';
import { decodeEntry } from '../src/payload.ts';
import { add } from './fixtures/tasks.ts';
import { FIXTURES, dropQueue, useInspector, testQueue } from './helpers.ts';

const redis = useInspector();

async function entries(q: Queue) {
  const raw = await redis.lrange(q.keys.waiting, 0, -1);
  return raw.reverse().map((r) => {
    const d = decodeEntry(r, 1e7);
    assert.ok(d.ok);
    return d.task;
  });
}

test('every way to enqueue writes one entry with the right name, arguments and options', async () => {
  const q = testQueue({ defaultTimeoutMs: 5000, maxAttempts: 4 });
  try {
    const ids = [
      await add.delay(q, 1, 2),
      await add.timeout(10_000).delay(q, 3, 4),
      await add.with({ timeoutMs: 20_000, maxAttempts: 1 }).delay(q, 5, 6),
      await q.delay(add)(7, 8),
      await q.delay(add, { timeoutMs: 30_000 })(9, 10),
      await q.enqueue('add', [11, 12], { timeoutMs: 40_000 }),
    ];
    assert.equal(new Set(ids).size, 6, 'ids are unique');
    const got = await entries(q);
    assert.deepEqual(
      got.map((t) => t.id),
      ids,
    );
    assert.deepEqual(
      got.map((t) => t.args),
      [
        [1, 2],
        [3, 4],
        [5, 6],
        [7, 8],
        [9, 10],
        [11, 12],
      ],
    );
    assert.deepEqual(
      got.map((t) => t.timeoutMs),
      [5000, 10_000, 20_000, 5000, 30_000, 40_000],
    );
    assert.deepEqual(
      got.map((t) => t.maxAttempts),
      [4, 4, 1, 4, 4, 4],
    );
    assert.ok(got.every((t) => t.name === 'add' && t.attempt === 0 && t.cutoffs === 0));
  } finally {
    await dropQueue(redis, q);
    await q.close();
  }
});

test('a task handle called directly runs now, in this process', () => {
  assert.equal(add(2, 3), 5);
  assert.equal(add.taskName, 'add');
  assert.equal(add.name, 'add');
});

test('enqueueMany writes all tasks in order, or nothing when one is bad', async () => {
  const q = testQueue();
  try {
    const ids = await q.enqueueMany(Array.from({ length: 2500 }, (_, i) => ({ name: 'add', args: [i, i] })));
    assert.equal(ids.length, 2500);
    const got = await entries(q);
    assert.deepEqual(
      got.map((t) => t.id),
      ids,
    );
    assert.deepEqual(got[2499]?.args, [2499, 2499]);
    await assert.rejects(
      q.enqueueMany([
        { name: 'add', args: [1, 2] },
        { name: 'add', args: [() => 1] },
      ]),
      SerializationError,
    );
    assert.equal(await q.waiting(), 2500, 'nothing written for a batch with a bad task');
  } finally {
    await dropQueue(redis, q);
    await q.close();
  }
});

test('bad input is refused with a typed error and nothing is written', async () => {
  const q = testQueue({ maxPayloadBytes: 1024 });
  try {
    await assert.rejects(add.delay(q, 1, NaN), (err: unknown) => err instanceof SerializationError && err.path === 'args[1]');
    await assert.rejects(
      q.enqueue('add', [{ when: new Date() }]),
      (err: unknown) => err instanceof SerializationError && err.path === 'args[0].when',
    );
    await assert.rejects(q.enqueue('add', ['x'.repeat(2000)]), PayloadTooLargeError);
    await assert.rejects(q.enqueue('__proto__', []), InvalidOptionError);
    await assert.rejects(q.enqueue('add', 'nope' as unknown as unknown[]), InvalidOptionError);
    await assert.rejects(
      q.enqueue('add', [], { timeoutMs: 0 }),
      /Expected `timeoutMs` to be an integer from 1 to 2147483647 \(ms; Node's timers go no further, about 24.8 days\), got `0`/,
    );
    assert.equal(await redis.exists(q.keys.waiting), 0);
  } finally {
    await dropQueue(redis, q);
    await q.close();
  }
});

test('options are checked once, with messages that say what was expected', () => {
  assert.throws(() => new Queue({ name: 'a{b}' }), /Expected `name` to be 1-100 of/);
  assert.throws(
    () => new Queue({ name: 'ok', defaultTimeoutMs: -1 }),
    /Expected `defaultTimeoutMs` to be an integer from 1 to 2147483647 \(ms; Node's timers go no further, about 24.8 days\), got `-1`/,
  );
  assert.throws(() => new Queue({ name: 'ok', maxAttempts: 0 }), /Expected `maxAttempts` to be an integer from 1 to 1000, got `0`/);
  assert.throws(() => new Queue({ name: 'ok', redis: 'http://x' }), /redis:\/\//);
  assert.throws(() => defineTask('1bad', () => 1), /not valid/);
});

test("every key of a queue carries the queue's hash tag", () => {
  const q = new Queue({ name: 'tagged' });
  for (const key of [q.keys.waiting, q.keys.workers, q.keys.info, q.keys.epoch, q.keys.sweepLock, q.keys.dead, q.keys.worker('w')]) {
    assert.ok(key.startsWith('delayed:{tagged}:'), key);
  }
});

test('enqueue while Redis is unreachable rejects (never a silent drop)', async () => {
  const q = new Queue({ name: 'down', redis: 'redis://127.0.0.1:1' });
  try {
    const started = Date.now();
    await assert.rejects(add.delay(q, 1, 2));
    assert.ok(Date.now() - started < 10_000);
  } finally {
    await q.close();
  }
});

test('durations past what Node timers can hold (2^31 - 1 ms) are refused where they are given, not misread later', async () => {
  const q = testQueue();
  try {
    for (const timeoutMs of [2 ** 31, 1e15]) {
      await assert.rejects(q.enqueue('add', [1, 2], { timeoutMs }), /Expected `timeoutMs` to be an integer from 1 to 2147483647/);
    }
    assert.equal(
      typeof (await q.enqueue('add', [1, 2], { timeoutMs: 2 ** 31 - 1 })),
      'string',
      'the longest timer Node can hold is accepted',
    );
    const { InlineWorker } = await import('../src/index.ts');
    for (const [option, value] of [
      ['shutdownTimeoutMs', Number.MAX_SAFE_INTEGER],
      ['leaseMs', 2 ** 31],
      ['killGraceMs', 2 ** 40],
      ['sweepIntervalMs', 2 ** 31],
    ] as const) {
      assert.throws(
        () => new InlineWorker({ queue: q, tasks: [FIXTURES], [option]: value }),
        new RegExp(`Expected \`${option}\` to be an integer from \\d+ to 2147483647`),
      );
    }
  } finally {
    await q.close();
  }
});
