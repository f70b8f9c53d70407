// Conformance cases for the typed script calls of src/store.ts, each seeded → called → compared on the exact keys
// the script's header names: a call that passed its keys in another order would write to the wrong key and fail
// here. (What each script does in every case is ./script-cases.ts; these check the typed layer over it.)
// test/store-conformance.test.ts runs them against Redis and against the memory store.
import assert from 'node:assert/strict';
import { encodeEntry } from '../../src/payload.ts';
import { deadDelete, deadRequeue, dequeue, fail, recover, register, renew, requeue, sweep } from '../../src/store.ts';
import type { StoreCase } from './case.ts';

const entry = (id: string) => encodeEntry({ id, name: 'add', args: [1, 2], timeoutMs: 1000, maxAttempts: 3 }, 1e6);

export const storeCases: StoreCase[] = [
  {
    name: 'register and renew write the lease, the facts and the epoch where the keys say; renew tells renewed / gone / epoch',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const { epoch, recorded } = await register(redis, k, 'w1', 3000, 'e1', '{"kind":"inline"}');
      assert.equal(epoch, 'e1');
      assert.equal(recorded, '', 'no configuration given, none compared');
      assert.equal(await redis.get(k.epoch), 'e1');
      assert.ok(Number(await redis.zscore(k.workers, 'w1')) > 0);
      assert.match((await redis.hget(k.info, 'w1')) ?? '', /^\d+ \{"kind":"inline"\}$/);
      assert.equal((await renew(redis, k, 'w1', 3000, 'e1', '{}')).status, 'renewed');
      assert.equal((await renew(redis, k, 'w1', 3000, 'other', '{}')).status, 'epoch');
      assert.equal((await renew(redis, k, 'w2', 3000, 'e1', '{}')).status, 'gone');
    },
  },
  {
    name: 'dequeue moves from waiting into the worker list as bytes, and is refused without a lease',
    run: async ({ redis, q }) => {
      const k = q.keys;
      await register(redis, k, 'w1', 3000, 'e1', '{}');
      await redis.lpush(k.waiting, entry('a'), entry('b'));
      const moved = await dequeue(redis, k, 'w1', 2);
      assert.ok(moved !== 'refused');
      assert.deepEqual(
        moved.map((b) => Buffer.isBuffer(b)),
        [true, true],
      );
      assert.deepEqual((await redis.lrange(k.worker('w1'), 0, -1)).sort(), [entry('a'), entry('b')].sort());
      assert.equal(await redis.llen(k.waiting), 0);
      assert.equal(await dequeue(redis, k, 'nobody', 1), 'refused');
    },
  },
  {
    name: 'requeue and fail finish the run in the list they are given and write to waiting / dead',
    options: { deadLetters: 5 },
    run: async ({ redis, q }) => {
      const k = q.keys;
      const list = k.worker('w1');
      await redis.lpush(list, entry('a'), entry('b'));
      assert.equal(await requeue(redis, list, k, entry('a'), 'crashed'), 'requeued');
      assert.equal(await requeue(redis, list, k, entry('a'), 'crashed'), 'stale', 'the token is gone: nothing more');
      assert.match((await redis.lindex(k.waiting, 0)) ?? '', /^1\|1\|1\|crashed\|/);
      assert.equal(await fail(redis, list, k, entry('b'), '{"id":"b"}', 5), true);
      assert.equal(await redis.exists(list), 0);
      assert.match((await redis.lindex(k.dead, 0)) ?? '', /^\d+\|\{"id":"b"\}$/);
    },
  },
  {
    name: 'sweep and recover: an expired registration is listed, its entries go back, the registration goes',
    run: async ({ redis, q }) => {
      const k = q.keys;
      await redis.zadd(k.workers, 1, 'dead1');
      await redis.hset(k.info, 'dead1', '1 {}');
      await redis.lpush(k.worker('dead1'), entry('a'));
      const page = await sweep(redis, k, { lockMs: 1000, offset: 0, count: 100, token: 't', retiredEveryMs: 0 });
      assert.deepEqual(page, { locked: true, retired: [], expired: ['dead1'] });
      assert.equal(await redis.exists(k.sweepLock), 1);
      const other = await sweep(redis, k, { lockMs: 1000, offset: 0, count: 100, token: 'someone else', retiredEveryMs: 0 });
      assert.equal(other.locked, false);
      const done = await recover(redis, k, 'dead1', 'lost', [0, 0]);
      assert.deepEqual(done, { moved: 1, left: 0, removed: true, cancelled: 0 });
      assert.match((await redis.lindex(k.waiting, 0)) ?? '', /^1\|1\|1\|lost\|/);
      assert.equal(await redis.zscore(k.workers, 'dead1'), null);
      assert.equal(await redis.hexists(k.info, 'dead1'), 0);
    },
  },
  {
    name: 'dead-letter actions remove the record they name; a requeue into a waiting key that is not a list keeps the record',
    run: async ({ redis, q }) => {
      const k = q.keys;
      await redis.lpush(k.dead, '1|{"id":"a"}', '2|{"id":"b"}');
      assert.equal(await deadDelete(redis, k, '1|{"id":"a"}', '-1'), true);
      assert.equal(await deadDelete(redis, k, '1|{"id":"a"}', '-1'), false);
      await redis.set(k.waiting, 'not a list');
      await assert.rejects(deadRequeue(redis, k, '2|{"id":"b"}', entry('b'), '1'), /WRONGTYPE waiting/);
      assert.deepEqual(await redis.lrange(k.dead, 0, -1), ['2|{"id":"b"}'], 'the record is kept when the push cannot be made');
      await redis.del(k.waiting);
      assert.equal(await deadRequeue(redis, k, '2|{"id":"b"}', entry('b'), '1'), true);
      assert.deepEqual(await redis.lrange(k.waiting, 0, -1), [entry('b')]);
      assert.equal(await redis.exists(k.dead), 0);
    },
  },
];
