// The queue configuration record: a producer or worker whose `partitions` (or levels) differ from what Redis
// records for the queue is refused at start with ConfigMismatchError, having written nothing; the record lives
// on partition 0's tag and goes away with the drained queue; a queue made before the record existed upgrades.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { ConfigMismatchError, InlineWorker, Queue } from '../src/index.ts';
import { keySlot, type QueueKeys } from '../src/keys.ts';
import { encodeEntry } from '../src/payload.ts';
import { FIXTURES, REDIS_URL, inspector, queueKeysNow, recorder, runUntil, waitFor, withQueue } from './helpers.ts';

let redis: Redis;
before(() => {
  redis = inspector();
});
after(async () => {
  await redis.quit();
});

const worker = (q: Queue, rec = recorder()) =>
  new InlineWorker({ queue: q, tasks: [FIXTURES], concurrency: 2, handleSignals: false, successHandler: rec.successHandler });
/** The queue's keys but the sweep lock, which expires one sweep interval after it was taken. */
const keysLeft = async (q: Queue) => (await queueKeysNow(redis, q)).filter((key) => !key.endsWith(':sweep'));
const sameQueue = (q: Queue, partitions: number) => new Queue({ name: q.name, redis: REDIS_URL, partitions });
const isMismatch = (recorded: string, mine: string) => (e: Error) =>
  e instanceof ConfigMismatchError &&
  e.code === 'ERR_CONFIG_MISMATCH' &&
  e.recorded === recorded &&
  e.mine === mine &&
  /^Expected queue \S+ to be configured as Redis records it \(/.test(e.message) &&
  e.message.includes(`got ${mine} in this process`);

test('a running worker records the configuration; a producer or worker with other partitions is refused, having written nothing', () =>
  withQueue(redis, async (q) => {
    const rec = recorder();
    const w = worker(q, rec);
    const running = w.run();
    const other = sameQueue(q, 3);
    const otherWorker = worker(other);
    try {
      await new Promise<void>((resolve) => w.once('ready', () => resolve()));
      assert.equal(await redis.get(q.keys.config), 'partitions=1');
      assert.equal(keySlot(q.keys.config), keySlot(q.keys.waiting), "the record is on partition 0's tag");
      await assert.rejects(other.enqueue('add', [1, 2]), isMismatch('partitions=1', 'partitions=3'));
      await assert.rejects(other.enqueueMany([{ name: 'add', args: [1, 2] }]), isMismatch('partitions=1', 'partitions=3'));
      await assert.rejects(otherWorker.run(), isMismatch('partitions=1', 'partitions=3'));
      const keys = await queueKeysNow(redis, other);
      assert.deepEqual(
        keys.filter((k) => !k.includes(`{${q.name}}`)),
        [],
        'nothing in partitions 1 and 2: the refused worker left the partitions it had entered',
      );
      assert.equal(await redis.zcard(q.keys.workers), 1, 'only the running worker is registered');
      assert.equal(await q.waiting(), 0);
      // The running worker goes on working.
      const succeeded = new Promise<void>((resolve) => w.once('success', () => resolve()));
      await q.enqueue('add', [2, 3]);
      await succeeded;
    } finally {
      await w.close();
      await running;
      await other.close();
    }
    assert.deepEqual(await keysLeft(q), [], 'the drained queue keeps no record');
  }));

test('a producer of a non-default configuration writes the record first; workers and producers otherwise made are refused', () =>
  withQueue(
    redis,
    async (q) => {
      await q.enqueue('add', [1, 2]);
      assert.equal(await redis.get(q.keys.config), 'partitions=3');
      const plain = sameQueue(q, 1);
      try {
        await assert.rejects(plain.enqueue('add', [1, 2]), isMismatch('partitions=3', 'partitions=1'));
        await assert.rejects(worker(plain).run(), isMismatch('partitions=3', 'partitions=1'));
        assert.equal(await redis.zcard(q.keys.workers), 0, 'the refused worker did not register');
        assert.equal(await q.waiting(), 1, 'the waiting task is untouched');
        // The same configuration works, and the drained queue leaves nothing behind.
        const rec = recorder();
        await runUntil(worker(q, rec), 'one outcome', () => rec.outcomes.length === 1);
        assert.deepEqual(await keysLeft(q), []);
      } finally {
        await plain.close();
      }
    },
    { partitions: 3 },
  ));

test('a default producer writes no record (it puts tasks where every configuration reads); it checks one, once', () =>
  withQueue(redis, async (q) => {
    await q.enqueue('add', [1, 2]);
    await q.enqueue('add', [3, 4]);
    assert.equal(await redis.get(q.keys.config), null);
    assert.deepEqual(
      (await queueKeysNow(redis, q)).map((k) => k.slice(k.lastIndexOf(':') + 1)),
      ['waiting'],
    );
    // A record written later is not seen by this producer (checked at its start), but by a new one.
    await redis.set(q.keys.config, 'partitions=2');
    await q.enqueue('add', [5, 6]);
    const fresh = sameQueue(q, 1);
    try {
      await assert.rejects(fresh.enqueue('add', [1, 2]), isMismatch('partitions=2', 'partitions=1'));
    } finally {
      await fresh.close();
    }
  }));

test('upgrade: a queue made before the record existed (tasks waiting, an epoch, no record) gets one from its first new worker', () =>
  withQueue(redis, async (q) => {
    await redis.set(q.keys.epoch, 'old-epoch');
    const old = [1, 2, 3].map((i) =>
      encodeEntry({ id: `old-${i}`, name: 'add', args: [i, 1], timeoutMs: 10_000, maxAttempts: 3 }, q.maxPayloadBytes),
    );
    await redis.lpush(q.keys.waiting, ...old);
    const rec = recorder();
    const w = worker(q, rec);
    let recorded: string | null = null;
    w.once('ready', () => void redis.get(q.keys.config).then((v) => (recorded = v)));
    await runUntil(w, 'three outcomes', () => rec.outcomes.length === 3 && recorded !== null);
    assert.equal(recorded, 'partitions=1');
    assert.equal(await redis.get(q.keys.epoch), null);
    assert.deepEqual(await keysLeft(q), [], 'epoch and record leave with the last worker');
  }));

const ready = (w: InlineWorker) => new Promise<void>((resolve) => w.once('ready', () => resolve()));

test('the rate is part of the record: a producer or worker with another rate, or none, is refused at start', () =>
  withQueue(
    redis,
    async (q) => {
      const w = worker(q);
      const running = w.run();
      const noRate = sameQueue(q, 1);
      const otherRate = new Queue({ name: q.name, redis: REDIS_URL, rate: { limit: 20, perMs: 1000 } });
      const mine = 'partitions=1;rate=10/1000/2';
      try {
        await ready(w);
        assert.equal(await redis.get(q.keys.config), mine);
        await assert.rejects(noRate.enqueue('add', [1, 2]), isMismatch(mine, 'partitions=1'));
        await assert.rejects(worker(noRate).run(), isMismatch(mine, 'partitions=1'));
        await assert.rejects(otherRate.enqueue('add', [1, 2]), isMismatch(mine, 'partitions=1;rate=20/1000/1'));
        await assert.rejects(worker(otherRate).run(), isMismatch(mine, 'partitions=1;rate=20/1000/1'));
        assert.equal(await redis.zcard(q.keys.workers), 1, 'only the running worker is registered');
        assert.equal(await q.waiting(), 0, 'nothing was enqueued by the refused producers');
        const succeeded = new Promise<void>((resolve) => w.once('success', () => resolve()));
        await q.enqueue('add', [2, 3]);
        await succeeded;
      } finally {
        await w.close();
        await running;
        await noRate.close();
        await otherRate.close();
      }
      // The `rate` key expires by itself one interval (100 ms) after the last start.
      await waitFor('the drained queue to keep no record and no rate key', async () => (await keysLeft(q)).length === 0, 5000);
    },
    { rate: { limit: 10, perMs: 1000, burst: 2 } },
  ));

test('every partition keeps a copy of the record and each is compared: a differing copy in partition 1 refuses a worker and a producer, having written nothing', () =>
  withQueue(
    redis,
    async (q) => {
      const [p0, p1] = q.partitions as [QueueKeys, QueueKeys];
      const other = 'partitions=2;rate=5/1000/1';
      await redis.set(p1.config, other);
      await assert.rejects(worker(q).run(), isMismatch(other, 'partitions=2'));
      assert.equal(await redis.zcard(p0.workers), 0, 'the refused worker left partition 0');
      assert.equal(await redis.zcard(p1.workers), 0);
      assert.equal(await redis.get(p0.config), null, 'its copy in partition 0 went with it (partition 0 is empty)');
      await assert.rejects(q.enqueue('add', [1, 2]), isMismatch(other, 'partitions=2'));
      assert.equal(await redis.get(p0.config), null, 'the refused producer wrote no copy');
      assert.deepEqual(await Promise.all(q.partitions.map((k) => redis.llen(k.waiting))), [0, 0]);
      await redis.del(p1.config);
      const w = worker(q);
      const running = w.run();
      try {
        await ready(w);
        assert.deepEqual(await Promise.all(q.partitions.map((k) => redis.get(k.config))), ['partitions=2', 'partitions=2']);
      } finally {
        await w.close();
        await running;
      }
      assert.deepEqual(await keysLeft(q), [], 'each copy leaves with its drained partition');
    },
    { partitions: 2 },
  ));

test('a worker that stops while partition 1 still holds a task leaves the record in partition 0: a process with fewer partitions is still refused', () =>
  withQueue(
    redis,
    async (q) => {
      const [p0, p1] = q.partitions as [QueueKeys, QueueKeys];
      await q.pause();
      const w = worker(q);
      const running = w.run();
      await ready(w);
      await redis.lpush(
        p1.waiting,
        encodeEntry({ id: 'in-p1', name: 'add', args: [1, 2], timeoutMs: 10_000, maxAttempts: 3 }, q.maxPayloadBytes),
      );
      await w.close();
      await running;
      assert.equal(await redis.zcard(p0.workers), 0);
      assert.equal(await redis.get(p1.config), 'partitions=2', 'partition 1 holds a task: its copy stays');
      assert.equal(await redis.get(p0.config), 'partitions=2', 'partition 0 drained, and its copy is written back');
      const fewer = sameQueue(q, 1);
      try {
        await assert.rejects(worker(fewer).run(), isMismatch('partitions=2', 'partitions=1'));
        await assert.rejects(fewer.enqueue('add', [1, 2]), isMismatch('partitions=2', 'partitions=1'));
      } finally {
        await fewer.close();
      }
      assert.equal(await redis.llen(p1.waiting), 1, 'the task in partition 1 is still there for a worker of two partitions');
    },
    { partitions: 2 },
  ));
