// Conformance cases for the plain commands the library sends outside its scripts (enqueue's LPUSH, a release's
// LREM, listing and status reads, pipelines): the reply shapes the library reads, as ioredis gives them.
// test/store-conformance.test.ts runs each against Redis and against the memory store.
import assert from 'node:assert/strict';
import { redisNow } from '../helpers.ts';
import type { StoreCase } from './case.ts';

export const commandCases: StoreCase[] = [
  {
    name: 'lists: LPUSH/RPUSH order, LRANGE and LINDEX with negative indexes, LREM from either end, LLEN, bytes kept as they are',
    run: async ({ redis, q }) => {
      const k = q.keys;
      assert.equal(await redis.lpush(k.waiting, 'a', 'b', 'a'), 3);
      assert.equal(await redis.rpush(k.waiting, 'z'), 4);
      assert.deepEqual(await redis.lrange(k.waiting, 0, -1), ['a', 'b', 'a', 'z']);
      assert.deepEqual(await redis.lrange(k.waiting, -2, 100), ['a', 'z']);
      assert.equal(await redis.lindex(k.waiting, -1), 'z');
      assert.equal(await redis.lindex(k.waiting, 9), null);
      assert.equal(await redis.lrem(k.waiting, -1, 'a'), 1);
      assert.deepEqual(await redis.lrange(k.waiting, 0, -1), ['a', 'b', 'z']);
      assert.equal(await redis.lrem(k.waiting, 0, 'nothing'), 0);
      assert.equal(await redis.llen(k.waiting), 3);
      const raw = Buffer.from([0xff, 0x00, 0xc3, 0x28, 0x7c]);
      await redis.lpush(k.dead, raw, 'é');
      const back = await redis.lrangeBuffer(k.dead, 0, -1);
      assert.deepEqual(back, [Buffer.from('é'), raw], 'not UTF-8 and UTF-8 alike, byte for byte');
      assert.equal(await redis.lrem(k.dead, 1, raw), 1);
      assert.equal(await redis.rpop(k.dead), 'é');
      assert.equal(await redis.exists(k.dead), 0, 'an emptied list is gone');
    },
  },
  {
    name: 'hashes: HGETALL is an object, HMGET has null for a missing field, HLEN, HEXISTS, HDEL',
    run: async ({ redis, q }) => {
      const k = q.keys;
      assert.deepEqual(await redis.hgetall(k.info), {});
      assert.equal(await redis.hset(k.info, 'w1', '1 {}', 'w2', '2 {"a":1}'), 2);
      assert.deepEqual(await redis.hgetall(k.info), { w1: '1 {}', w2: '2 {"a":1}' });
      assert.deepEqual(await redis.hmget(k.info, 'w2', 'nobody'), ['2 {"a":1}', null]);
      assert.equal(await redis.hlen(k.info), 2);
      assert.equal(await redis.hexists(k.info, 'w1'), 1);
      assert.equal(await redis.hdel(k.info, 'w1', 'nobody'), 1);
      assert.deepEqual(await redis.hkeys(k.info), ['w2']);
      assert.equal(await redis.hdel(k.info, 'w2'), 1);
      assert.equal(await redis.exists(k.info), 0);
    },
  },
  {
    name: 'sorted sets: ZRANGE WITHSCORES is flat strings in score order, ZRANGEBYSCORE with open bounds and LIMIT, ZSCORE, ZCARD, ZREM',
    run: async ({ redis, q }) => {
      const k = q.keys;
      assert.equal(await redis.zadd(k.scheduled, 30, 'c', 10, 'a', 20, 'b', 20, 'a2'), 4);
      assert.deepEqual(await redis.zrange(k.scheduled, 0, -1, 'WITHSCORES'), ['a', '10', 'a2', '20', 'b', '20', 'c', '30']);
      assert.deepEqual(await redis.zrange(k.scheduled, 1, 2), ['a2', 'b']);
      assert.deepEqual(await redis.zrangebyscore(k.scheduled, '-inf', '(30', 'LIMIT', 1, 2), ['a2', 'b']);
      assert.deepEqual(await redis.zrangebyscore(k.scheduled, '(10', '+inf'), ['a2', 'b', 'c']);
      assert.equal(await redis.zscore(k.scheduled, 'b'), '20');
      assert.equal(await redis.zscore(k.scheduled, 'nobody'), null);
      assert.equal(await redis.zcard(k.scheduled), 4);
      assert.equal(await redis.zadd(k.scheduled, 'NX', 99, 'a'), 0);
      assert.equal(await redis.zscore(k.scheduled, 'a'), '10', 'NX keeps the score');
      assert.equal(await redis.zrem(k.scheduled, 'a', 'a2', 'b', 'c'), 4);
      assert.equal(await redis.exists(k.scheduled), 0);
    },
  },
  {
    name: 'strings, types and time: SET NX PX expires, GET, TYPE, DEL; TIME is [seconds, microseconds]; WRONGTYPE on another type',
    run: async ({ redis, q }) => {
      const k = q.keys;
      assert.equal(await redis.set(k.sweepLock, 'me', 'PX', 60_000, 'NX'), 'OK');
      assert.equal(await redis.set(k.sweepLock, 'other', 'PX', 60_000, 'NX'), null);
      assert.equal(await redis.get(k.sweepLock), 'me');
      const ttl = await redis.pttl(k.sweepLock);
      assert.ok(ttl > 50_000 && ttl <= 60_000, `pttl ${ttl}`);
      assert.equal(await redis.type(k.sweepLock), 'string');
      assert.equal(await redis.type(k.waiting), 'none');
      await assert.rejects(redis.lpush(k.sweepLock, 'x'), /WRONGTYPE/);
      assert.equal(await redis.del(k.sweepLock, k.waiting), 1);
      const [s, us] = await redis.time();
      assert.match(String(s), /^\d+$/);
      assert.match(String(us), /^\d{1,6}$/);
      const now = await redisNow(redis);
      assert.ok(Math.abs(now - Date.now()) < 60_000);
    },
  },
  {
    name: 'pipelines and MULTI answer [error, reply] per command in order; a failing command does not stop the others',
    run: async ({ redis, q }) => {
      const k = q.keys;
      await redis.set(k.epoch, 'e1');
      const replies = await redis.pipeline().lpush(k.waiting, 'a').lpush(k.epoch, 'x').llen(k.waiting).exec();
      assert.equal(replies?.length, 3);
      assert.deepEqual(replies?.[0], [null, 1]);
      assert.match(String(replies?.[1]?.[0]), /WRONGTYPE/);
      assert.deepEqual(replies?.[2], [null, 1]);
      const multi = await redis.multi().get(k.epoch).llen(k.waiting).hgetall(k.info).exec();
      assert.deepEqual(multi, [
        [null, 'e1'],
        [null, 1],
        [null, {}],
      ]);
    },
  },
  {
    name: 'LMOVE and BLMOVE move the right end to the left end and answer the entry; an empty source answers null',
    run: async ({ redis, q }) => {
      const k = q.keys;
      await redis.lpush(k.waiting, 'new', 'old');
      await redis.lpush(k.waiting, 'newest');
      assert.equal(await redis.lmove(k.waiting, k.worker('w1'), 'RIGHT', 'LEFT'), 'new');
      assert.deepEqual(await redis.blmoveBuffer(k.waiting, k.worker('w1'), 'RIGHT', 'LEFT', 0.1), Buffer.from('old'));
      assert.deepEqual(await redis.lrange(k.worker('w1'), 0, -1), ['old', 'new']);
      await redis.rpop(k.waiting);
      assert.equal(await redis.blmove(k.waiting, k.worker('w1'), 'RIGHT', 'LEFT', 0.1), null, 'timed out');
    },
  },
];
