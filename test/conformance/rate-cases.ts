// Conformance cases for the queue rate limit: dequeue.lua with its rate key (GCRA: as many entries as conform
// now, or none and the wait) and rate.lua (the charge for a blocking move). test/store-conformance.test.ts runs
// each against Redis and against the memory store.
import assert from 'node:assert/strict';
import { encodeEntry } from '../../src/payload.ts';
import { chargeRate, dequeueLimited } from '../../src/rate.ts';
import { register } from '../../src/store.ts';
import { rateOption } from '../../src/rate.ts';
import type { StoreCase } from './case.ts';

const entry = (id: string, priority?: string) =>
  encodeEntry({ id, name: 'add', args: [1, 2], timeoutMs: 1000, maxAttempts: 3, ...(priority ? { priority } : {}) }, 1e6);

export const rateCases: StoreCase[] = [
  {
    name: 'rate: a dequeue takes only what conforms now (burst after a quiet spell), then nothing and the wait; a blocking move is charged its slot',
    run: async ({ redis, q }) => {
      const k = q.keys;
      // 1 a second, burst 3: the case holds while its calls take under a second in all (at 10 a second it broke
      // when a loaded machine put 100 ms between two calls).
      const rate = { intervalMs: 1000, toleranceMs: 2000 };
      await register(redis, k, 'w1', 60_000, 'e', '{}');
      await redis.lpush(k.waiting, ...Array.from({ length: 10 }, (_, i) => entry(`t${i}`)));
      const first = await dequeueLimited(redis, k, 'w1', 10, rate);
      assert.ok(Array.isArray(first));
      assert.deepEqual(
        first.map((b) => b.toString().split('|')[4]),
        ['t0', 't1', 't2'],
        'burst 3: three conform at once, oldest first',
      );
      const pttl = await redis.pttl(k.rate);
      assert.ok(pttl > 2000 && pttl <= 3000, `the key lives until its TAT (${pttl} ms)`);
      const limited = await dequeueLimited(redis, k, 'w1', 10, rate);
      assert.ok(!Array.isArray(limited) && limited !== 'refused', 'nothing conforms now');
      assert.ok(limited.waitMs >= 1 && limited.waitMs <= 1000, `the next conforms within one interval (${limited.waitMs} ms)`);
      assert.equal(await redis.llen(k.waiting), 7, 'a limited dequeue moves nothing');
      const wait = await chargeRate(redis, k, rate);
      assert.ok(wait >= 1 && wait <= 1000, `a blocking move's task waits for its slot (${wait} ms)`);
      const after = await dequeueLimited(redis, k, 'w1', 1, rate);
      assert.ok(!Array.isArray(after) && after !== 'refused' && after.waitMs > 1000 && after.waitMs <= 2000, 'the charge took a slot');
      await redis.zadd(k.workers, 1, 'w1');
      assert.equal(await dequeueLimited(redis, k, 'w1', 1, rate), 'refused', 'a lapsed lease takes nothing');
    },
  },
  {
    name: 'rate with priority levels: dequeue-levels takes only what conforms now, in the weighted order, and the dispatch counter counts only dispatches made',
    options: { priorities: { high: 6, normal: 3, low: 1 }, rate: { limit: 1, perMs: 1000, burst: 3 } },
    run: async ({ redis, q }) => {
      const k = q.keys;
      const rate = k.rateLimit;
      assert.ok(rate && k.levels, 'the queue has both a rate and levels');
      assert.deepEqual(rate, { intervalMs: 1000, toleranceMs: 2000 }, 'rateOption: 1 a second, burst 3');
      assert.equal(rateOption(undefined, 1), undefined);
      await register(redis, k, 'w1', 60_000, 'e', '{}');
      for (const level of ['high', 'low'])
        await redis.lpush(k.levelWaiting(level), ...Array.from({ length: 10 }, (_, i) => entry(`${level}-${i}`, level)));
      await redis.lpush(k.waiting, ...Array.from({ length: 10 }, (_, i) => entry(`normal-${i}`)));
      const first = await dequeueLimited(redis, k, 'w1', 10, rate);
      assert.ok(Array.isArray(first));
      assert.deepEqual(
        first.map((b) => b.toString().split('|')[4]),
        ['high-0', 'high-1', 'normal-0'],
        'burst 3: three conform at once, in the 6:3:1 pattern (h h n ...)',
      );
      assert.equal(await redis.get(k.dispatches), '3');
      const pttl = await redis.pttl(k.rate);
      assert.ok(pttl > 2000 && pttl <= 3000, `the key lives until its TAT (${pttl} ms)`);
      const limited = await dequeueLimited(redis, k, 'w1', 10, rate);
      assert.ok(!Array.isArray(limited) && limited !== 'refused', 'nothing conforms now');
      assert.ok(limited.waitMs >= 1 && limited.waitMs <= 1000, `the next conforms within one interval (${limited.waitMs} ms)`);
      assert.equal(await redis.get(k.dispatches), '3', 'a limited call counts no dispatch');
      assert.equal(
        (await redis.llen(k.levelWaiting('high'))) + (await redis.llen(k.waiting)) + (await redis.llen(k.levelWaiting('low'))),
        27,
      );
      const wait = await chargeRate(redis, k, rate);
      assert.ok(wait >= 1 && wait <= 1000, `a blocking move's task waits for its slot (${wait} ms)`);
      await redis.zadd(k.workers, 1, 'w1');
      assert.equal(await dequeueLimited(redis, k, 'w1', 1, rate), 'refused', 'a lapsed lease takes nothing');
    },
  },
];
