// Conformance cases for the scripts of repeating schedules: seed the store, run the script, read the state back
// and compare. test/store-conformance.test.ts runs each against Redis and against the memory store.
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { runScript } from '../../src/scripts.ts';
import { queueKeysNow, redisNow } from '../helpers.ts';
import type { Queue } from '../../src/index.ts';
import type { StoreCase } from './case.ts';

const SPEC = '{"everyMs":1000,"tz":"UTC","task":"add","args":[1,2],"missed":"latest","overlap":"allow"}';
const fireKeys = (q: Queue) => [q.keys.schedules, q.keys.scheduleTimes, q.keys.waiting, q.keys.scheduleRuns];
const suffixes = async (redis: Redis, q: Queue) => (await queueKeysNow(redis, q)).map((key) => key.slice(key.indexOf('}:') + 2));

export const scheduleCases: StoreCase[] = [
  {
    name: 'schedule-set registers once: the same spec keeps its armed due time, a changed spec is armed anew',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const keys = [k.schedules, k.scheduleTimes];
      const [changed, due] = (await runScript(redis, 'schedule-set', keys, ['s1', SPEC, 5000])) as number[];
      assert.deepEqual([changed, due], [1, 5000]);
      assert.equal(await redis.hget(k.schedules, 's1'), SPEC);
      assert.equal(Number(await redis.zscore(k.scheduleTimes, 's1')), 5000);
      // every process calls it at start, with its own first due time: the armed one stays
      assert.deepEqual(((await runScript(redis, 'schedule-set', keys, ['s1', SPEC, 9000])) as number[]).slice(0, 2), [0, 5000]);
      assert.equal(Number(await redis.zscore(k.scheduleTimes, 's1')), 5000);
      const changedSpec = SPEC.replace('[1,2]', '[3]');
      assert.deepEqual(((await runScript(redis, 'schedule-set', keys, ['s1', changedSpec, 9000])) as number[]).slice(0, 2), [1, 9000]);
      assert.equal(await redis.hget(k.schedules, 's1'), changedSpec);
      assert.deepEqual(await suffixes(redis, q), ['schedule-times', 'schedules']);
    },
  },
  {
    name: 'fire enqueues the occurrences and arms the next in one step, compare-and-set on the due time',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const now = await redisNow(redis);
      await redis.hset(k.schedules, 's1', SPEC);
      await redis.zadd(k.scheduleTimes, now - 5, 's1');
      const fire = (expected: number, next: number, ...entries: string[]) =>
        runScript(redis, 'fire', fireKeys(q), ['s1', SPEC, expected, next, 0, 0, '', ...entries]) as Promise<number[]>;
      assert.equal((await fire(now - 6, now + 1000, 'e0'))[0], -1, 'a due time other than the one read: nothing');
      assert.equal(await redis.exists(k.waiting), 0);
      assert.equal((await fire(now - 5, now + 1000, 'e1', 'e2'))[0], 1);
      assert.deepEqual(await redis.lrange(k.waiting, 0, -1), ['e2', 'e1'], 'oldest first to the taking end');
      assert.equal(Number(await redis.zscore(k.scheduleTimes, 's1')), now + 1000);
      // a second firer of the same tick (or a resend) finds the due time moved
      assert.equal((await fire(now - 5, now + 1000, 'e1', 'e2'))[0], -1);
      assert.equal(await redis.llen(k.waiting), 2);
      // not due yet on Redis' clock, whatever the caller thinks
      assert.equal((await fire(now + 1000, now + 2000, 'e3'))[0], 0);
      assert.equal(Number(await redis.zscore(k.scheduleTimes, 's1')), now + 1000);
      // a spec changed since it was read: nothing
      await redis.zadd(k.scheduleTimes, now - 1, 's1');
      await redis.hset(k.schedules, 's1', SPEC.replace('add', 'other'));
      assert.equal((await fire(now - 1, now + 1000, 'e4'))[0], -1);
      // missed ticks dropped: no entries, but the next is armed
      await redis.hset(k.schedules, 's1', SPEC);
      assert.equal((await fire(now - 1, now + 5000))[0], 1);
      assert.equal(Number(await redis.zscore(k.scheduleTimes, 's1')), now + 5000);
      assert.equal(await redis.llen(k.waiting), 2);
    },
  },
  {
    name: 'fire with overlap skip: an occurrence holds the schedule until it is done or its hold runs out',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const now = await redisNow(redis);
      await redis.hset(k.schedules, 's1', SPEC);
      await redis.zadd(k.scheduleTimes, now - 3, 's1');
      const fire = (expected: number, id: string, hold = 60_000) =>
        runScript(redis, 'fire', fireKeys(q), ['s1', SPEC, expected, expected + 1, 1, hold, id, `entry-${id}`]) as Promise<number[]>;
      assert.equal((await fire(now - 3, 'o1'))[0], 1);
      assert.match((await redis.hget(k.scheduleRuns, 's1')) ?? '', /^o1 \d+$/);
      assert.equal((await fire(now - 2, 'o2'))[0], 2, 'held: armed only');
      assert.deepEqual(await redis.lrange(k.waiting, 0, -1), ['entry-o1']);
      assert.equal(Number(await redis.zscore(k.scheduleTimes, 's1')), now - 1);
      // only the occurrence that holds it can free it
      assert.equal(await runScript(redis, 'schedule-done', [k.scheduleRuns], ['s1', 'o2']), 0);
      assert.equal(await runScript(redis, 'schedule-done', [k.scheduleRuns], ['s1', 'o1']), 1);
      assert.equal(await runScript(redis, 'schedule-done', [k.scheduleRuns], ['s1', 'o1']), 0, 'twice: nothing');
      assert.equal((await fire(now - 1, 'o3', 1))[0], 1);
      assert.deepEqual(await redis.lrange(k.waiting, 0, -1), ['entry-o3', 'entry-o1']);
      // a hold that ran out (its run never reported) lets the next one through
      await redis.hset(k.scheduleRuns, 's1', `o3 ${now - 1}`);
      assert.equal((await fire(now, 'o4'))[0], 1);
    },
  },
  {
    name: 'unschedule removes the spec, the due time and any hold; twice is harmless',
    run: async ({ redis, q }) => {
      const k = q.keys;
      await redis.hset(k.schedules, 's1', SPEC, 's2', SPEC);
      await redis.zadd(k.scheduleTimes, 1, 's1', 2, 's2');
      await redis.hset(k.scheduleRuns, 's1', 'o 1');
      const keys = [k.schedules, k.scheduleTimes, k.scheduleRuns];
      assert.equal(await runScript(redis, 'unschedule', keys, ['s1']), 1);
      assert.equal(await runScript(redis, 'unschedule', keys, ['s1']), 0);
      assert.deepEqual(await redis.hkeys(k.schedules), ['s2']);
      assert.deepEqual(await redis.zrange(k.scheduleTimes, 0, -1), ['s2']);
      assert.equal(await runScript(redis, 'unschedule', keys, ['s2']), 1);
      assert.deepEqual(await suffixes(redis, q), [], 'no schedule, no key');
    },
  },
];
