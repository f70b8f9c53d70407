// The queue configuration record: a producer or worker whose `partitions` (or levels) differ from what Redis
// records for the queue is refused at start with ConfigMismatchError, having written nothing; the record lives
// on partition 0's tag and goes away with the drained queue; a queue made before the record existed upgrades.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { ConfigMismatchError, InlineWorker, Queue } from '../src/index.ts';
import { keySlot } from '../src/keys.ts';
import { encodeEntry } from '../src/payload.ts';
import { FIXTURES, REDIS_URL, inspector, queueKeysNow, recorder, runUntil, withQueue } from './helpers.ts';

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
