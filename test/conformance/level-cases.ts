// Conformance cases for priority levels and the configuration record: push.lua, dequeue-levels.lua (weighted and
// strict order, the dispatch counter), the put-backs into an entry's own level (requeue, retry, recover, promote,
// schedule), a drained queue's last worker taking the record and the counter with it, and register.lua's
// comparison of the record. test/store-conformance.test.ts runs each against Redis and against the memory store.
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import type { Queue } from '../../src/index.ts';
import type { QueueKeys } from '../../src/keys.ts';
import { encodeEntry } from '../../src/payload.ts';
import { dequeue, pushEntry, recover, register, requeue, retry } from '../../src/store.ts';
import { promote, scheduleLater } from '../../src/store-time.ts';
import { redisNow } from '../helpers.ts';
import type { StoreCase } from './case.ts';

const WEIGHTS = { high: 6, normal: 3, low: 1 };

/** An entry of level `level` ('' or 'normal': the default level, no option segment). */
const entry = (id: string, level = '') =>
  encodeEntry(
    { id, name: 'add', args: [1, 2], timeoutMs: 1000, maxAttempts: 3, ...(level && level !== 'normal' ? { priority: level } : {}) },
    1e6,
  );

const listOf = (k: QueueKeys, level: string) => (level === 'normal' ? k.waiting : k.levelWaiting(level));

/** Seeds `n` entries per level, `<level>-<i>`; i = 0 is taken first (the right end). */
async function seed(redis: Redis, k: QueueKeys, n: number, levels = ['high', 'normal', 'low']): Promise<void> {
  for (const level of levels) await redis.lpush(listOf(k, level), ...Array.from({ length: n }, (_, i) => entry(`${level}-${i}`, level)));
}

/** The ids a dequeue answered, in the order taken. */
async function take(redis: Redis, q: Queue, n: number): Promise<string[]> {
  const moved = await dequeue(redis, q.keys, 'w1', n);
  assert.ok(moved !== 'refused');
  return moved.map((b) => b.toString().split('|')[4] as string);
}

const levelOf = (id: string) => id.split('-')[0];

export const levelCases: StoreCase[] = [
  {
    name: 'push: a task of another level goes to waiting when every level is empty (a blocked worker wakes), else to its level; atFront to the taking end',
    options: { priorities: WEIGHTS },
    run: async ({ redis, q }) => {
      const k = q.keys;
      await pushEntry(redis, k, entry('h1', 'high'), 'high', false);
      assert.deepEqual(await redis.lrange(k.waiting, 0, -1), [entry('h1', 'high')]);
      await pushEntry(redis, k, entry('l1', 'low'), 'low', false);
      await pushEntry(redis, k, entry('l2', 'low'), 'low', false);
      await pushEntry(redis, k, entry('l0', 'low'), 'low', true);
      assert.deepEqual(await redis.lrange(k.levelWaiting('low'), 0, -1), [entry('l2', 'low'), entry('l1', 'low'), entry('l0', 'low')]);
      assert.equal(await redis.exists(k.levelWaiting('high')), 0);
    },
  },
  {
    name: 'dequeue-levels: weighted order follows the pattern (6:3:1 → h h n h h n h h n l), in batches too; an empty level gives its turns away; the counter goes with the last task',
    options: { priorities: WEIGHTS },
    run: async ({ redis, q }) => {
      const k = q.keys;
      await register(redis, k, 'w1', 60_000, 'e', '{}');
      await seed(redis, k, 20);
      const first: string[] = [];
      for (let i = 0; i < 10; i++) first.push(...(await take(redis, q, 1)));
      assert.deepEqual(first.map(levelOf), ['high', 'high', 'normal', 'high', 'high', 'normal', 'high', 'high', 'normal', 'low']);
      assert.deepEqual(
        first.filter((id) => levelOf(id) === 'high'),
        ['high-0', 'high-1', 'high-2', 'high-3', 'high-4', 'high-5'],
        'oldest first within a level',
      );
      assert.equal(await redis.get(k.dispatches), '10');
      const batch = await take(redis, q, 7);
      assert.deepEqual(batch.map(levelOf), ['high', 'high', 'normal', 'high', 'high', 'normal', 'high']);
      assert.equal(await redis.get(k.dispatches), '17');
      await redis.del(k.levelWaiting('high'));
      // d = 17, 18, 19: pattern 'high' (empty: the first non-empty level, normal), 'normal', 'low'
      assert.deepEqual((await take(redis, q, 3)).map(levelOf), ['normal', 'normal', 'low']);
      const rest = await take(redis, q, 1000);
      assert.equal(rest.length, 13 + 18, 'normal: 20 - 7, low: 20 - 2');
      assert.equal(await redis.exists(k.dispatches), 0, 'every level empty: the pattern starts afresh');
      assert.equal(await redis.llen(k.worker('w1')), 60 - 9);
    },
  },
  {
    name: 'dequeue-levels: strict order takes a level only when every level above it is empty, and keeps no counter',
    options: { priorities: WEIGHTS, priorityOrder: 'strict' },
    run: async ({ redis, q }) => {
      const k = q.keys;
      await register(redis, k, 'w1', 60_000, 'e', '{}');
      await seed(redis, k, 3);
      assert.deepEqual((await take(redis, q, 5)).map(levelOf), ['high', 'high', 'high', 'normal', 'normal']);
      assert.deepEqual((await take(redis, q, 1)).map(levelOf), ['normal']);
      assert.deepEqual((await take(redis, q, 9)).map(levelOf), ['low', 'low', 'low']);
      assert.equal(await redis.exists(k.dispatches), 0);
      await redis.zadd(k.workers, 1, 'w1');
      assert.equal(await dequeue(redis, k, 'w1', 1), 'refused', 'a lapsed lease takes nothing');
    },
  },
  {
    name: "put-backs go to the entry's own level: requeue, retry due at once, recover, promote, schedule due at once",
    options: { priorities: WEIGHTS },
    run: async ({ redis, q }) => {
      const k = q.keys;
      await register(redis, k, 'w1', 60_000, 'e', '{}');
      const list = k.worker('w1');
      await redis.lpush(list, entry('h', 'high'), entry('l', 'low'), entry('n'), entry('h2', 'high'));
      assert.equal(await requeue(redis, list, k, entry('h', 'high'), null), 'requeued');
      assert.deepEqual(await redis.lrange(k.levelWaiting('high'), 0, -1), [entry('h', 'high').replace('1|0|', '1|1|')]);
      const retried = await retry(redis, list, k, entry('l', 'low'), 0);
      assert.equal(retried.status, 'scheduled');
      assert.equal(await redis.llen(k.levelWaiting('low')), 1);
      await redis.zadd(k.workers, 1, 'w1');
      const back = await recover(redis, k, 'w1', 'lost', [0, 0]);
      assert.deepEqual([back.moved, back.left, back.removed], [2, 0, true]);
      assert.deepEqual(await redis.lrange(k.waiting, 0, -1), [entry('n').replace('1|0|0||', '1|1|1|lost|')]);
      assert.equal(await redis.llen(k.levelWaiting('high')), 2);
      const now = await redisNow(redis);
      await redis.zadd(k.scheduled, now - 5, entry('l2', 'low'));
      assert.equal((await promote(redis, k)).moved, 1);
      await scheduleLater(redis, k, entry('h3', 'high'), 0, undefined);
      assert.equal(await redis.llen(k.levelWaiting('low')), 2);
      assert.equal(await redis.lindex(k.levelWaiting('high'), 0), entry('h3', 'high'));
      assert.equal(await redis.llen(k.waiting), 1);
    },
  },
  {
    name: 'promote into a queue whose lists are all empty: the first due entry goes to waiting (where idle workers block), the others to their levels',
    options: { priorities: WEIGHTS },
    run: async ({ redis, q }) => {
      const k = q.keys;
      const now = await redisNow(redis);
      await redis.zadd(k.scheduled, now - 30, entry('l1', 'low'), now - 20, entry('h1', 'high'), now - 10, entry('l2', 'low'));
      assert.equal((await promote(redis, k)).moved, 3);
      assert.deepEqual(await redis.lrange(k.waiting, 0, -1), [entry('l1', 'low')], 'the earliest due wakes a blocked worker');
      assert.deepEqual(await redis.lrange(k.levelWaiting('high'), 0, -1), [entry('h1', 'high')]);
      assert.deepEqual(await redis.lrange(k.levelWaiting('low'), 0, -1), [entry('l2', 'low')]);
      // Not all empty now: the next due entry goes to its own level.
      await redis.zadd(k.scheduled, now - 5, entry('l3', 'low'));
      assert.equal((await promote(redis, k)).moved, 1);
      assert.deepEqual(await redis.lrange(k.levelWaiting('low'), 0, -1), [entry('l3', 'low'), entry('l2', 'low')]);
      assert.equal(await redis.llen(k.waiting), 1);
    },
  },
  {
    name: 'the last worker to leave a drained queue takes the epoch, the configuration record and the dispatch counter with it',
    options: { priorities: WEIGHTS },
    run: async ({ redis, q }) => {
      const k = q.keys;
      const { epoch, recorded } = await register(redis, k, 'w1', 60_000, 'e', '{}', q.configRecord);
      assert.equal(epoch, 'e');
      assert.equal(recorded, q.configRecord);
      await register(redis, k, 'w2', 60_000, 'e', '{}', q.configRecord);
      await redis.set(k.dispatches, '4');
      await redis.lpush(k.levelWaiting('low'), entry('l', 'low'));
      await recover(redis, k, 'w1', 'stop', [0, 0]);
      assert.equal(await redis.get(k.config), q.configRecord, 'another worker is registered');
      await recover(redis, k, 'w2', 'stop', [0, 0]);
      assert.equal(await redis.get(k.config), q.configRecord, 'a task still waits in a level');
      await register(redis, k, 'w3', 60_000, 'e', '{}', q.configRecord);
      await redis.del(k.levelWaiting('low'));
      await recover(redis, k, 'w3', 'stop', [0, 0]);
      assert.deepEqual(
        await Promise.all([k.epoch, k.config, k.dispatches, k.workers, k.info].map((key) => redis.exists(key))),
        [0, 0, 0, 0, 0],
      );
    },
  },
  {
    name: 'register compares the configuration record: another one refuses the registration, having written nothing',
    run: async ({ redis, q }) => {
      const k = q.keys;
      await redis.set(k.config, 'partitions=3');
      const refused = await register(redis, k, 'w1', 60_000, 'e', '{}', 'partitions=1');
      assert.deepEqual(refused, { epoch: '', paused: false, recorded: 'partitions=3' });
      assert.deepEqual(await Promise.all([k.epoch, k.workers, k.info].map((key) => redis.exists(key))), [0, 0, 0]);
      const taken = await register(redis, k, 'w1', 60_000, 'e', '{}', 'partitions=3');
      assert.deepEqual(taken, { epoch: 'e', paused: false, recorded: 'partitions=3' });
    },
  },
];
