// Conformance cases for the lease, fetch, finish and recovery scripts: seed the store, run the script, read the
// state back and compare. test/store-conformance.test.ts runs each against Redis and against the memory store.
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { runScript } from '../../src/scripts.ts';
import { encodeEntry } from '../../src/payload.ts';
import { queueKeysNow, redisNow, waitFor } from '../helpers.ts';
import type { StoreCase } from './case.ts';

function entry(id: string, attempt = 0, cutoffs = 0, reason = ''): string {
  return encodeEntry({ id, name: 'add', args: [1, 2], timeoutMs: 1000, maxAttempts: 3 }, 1e6).replace(
    '1|0|0||',
    `1|${attempt}|${cutoffs}|${reason}|`,
  );
}

// Defect 7 (issue 10): Redis keeps what a script wrote before an error, so a script must check every key it
// writes before it removes anything. Each case seeds a destination of the wrong type, runs the script and
// checks that it failed with WRONGTYPE and that every key is exactly as seeded.
async function snapshot(redis: Redis, keys: readonly string[]): Promise<string[]> {
  return await Promise.all(
    keys.map(async (key) => {
      const type = await redis.type(key);
      if (type === 'list') return `${key} list ${JSON.stringify(await redis.lrange(key, 0, -1))}`;
      if (type === 'string') return `${key} string ${JSON.stringify(await redis.get(key))}`;
      if (type === 'hash') return `${key} hash ${JSON.stringify(await redis.hgetall(key))}`;
      if (type === 'zset') return `${key} zset ${JSON.stringify(await redis.zrange(key, 0, -1, 'WITHSCORES'))}`;
      return `${key} ${type}`;
    }),
  );
}

async function rejectsWithoutWriting(redis: Redis, keys: readonly string[], run: () => Promise<unknown>): Promise<void> {
  const before = await snapshot(redis, keys);
  await assert.rejects(run(), (err: Error) => {
    assert.match(err.message, /WRONGTYPE/);
    return true;
  });
  assert.deepEqual(await snapshot(redis, keys), before, 'nothing was written');
}

export const scriptCases: StoreCase[] = [
  {
    name: 'register sets the epoch once, adds the lease and the facts; running it twice changes nothing',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const now = await redisNow(redis);
      const [epoch] = (await runScript(redis, 'register', [k.workers, k.epoch, k.info], ['w1', 3000, 'e1', '{"kind":"inline"}'])) as [
        string,
      ];
      assert.equal(epoch, 'e1');
      const deadline = Number(await redis.zscore(k.workers, 'w1'));
      assert.ok(deadline >= now + 3000 && deadline < now + 4000, `deadline ${deadline - now} ms ahead`);
      assert.match((await redis.hget(k.info, 'w1')) ?? '', /^\d+ \{"kind":"inline"\}$/);
      const [again] = (await runScript(redis, 'register', [k.workers, k.epoch, k.info], ['w1', 3000, 'e2', '{}'])) as [string];
      assert.equal(again, 'e1', 'the epoch is set once');
      assert.equal(Number(await redis.zscore(k.workers, 'w1')), deadline, 'ZADD NX keeps the first deadline');
    },
  },
  {
    name: 'renew extends a live lease, refuses an expired or removed one, and reports a changed epoch',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const now = await redisNow(redis);
      await redis.set(k.epoch, 'e1');
      await redis.zadd(k.workers, now + 500, 'live', now - 1, 'expired');
      const keys = [k.workers, k.epoch, k.info];
      const [ok] = (await runScript(redis, 'renew', keys, ['live', 5000, 'e1', '{"n":1}'])) as [number];
      assert.equal(ok, 1);
      assert.ok(Number(await redis.zscore(k.workers, 'live')) >= now + 5000);
      assert.match((await redis.hget(k.info, 'live')) ?? '', / \{"n":1\}$/);
      const [expired] = (await runScript(redis, 'renew', keys, ['expired', 5000, 'e1', '{}'])) as [number];
      assert.equal(expired, 0);
      assert.equal(Number(await redis.zscore(k.workers, 'expired')), now - 1, 'an expired lease is never extended');
      const [missing] = (await runScript(redis, 'renew', keys, ['nobody', 5000, 'e1', '{}'])) as [number];
      assert.equal(missing, 0);
      assert.equal(await redis.zscore(k.workers, 'nobody'), null, 'renew does not create a registration');
      const [epoch] = (await runScript(redis, 'renew', keys, ['live', 5000, 'other', '{}'])) as [number];
      assert.equal(epoch, -1);
      await redis.del(k.epoch);
      const [gone] = (await runScript(redis, 'renew', keys, ['live', 5000, 'e1', '{}'])) as [number];
      assert.equal(gone, -1, 'a vanished epoch is reported');
    },
  },
  {
    name: 'dequeue moves the N oldest entries into the worker list, oldest first, only under a live lease',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const now = await redisNow(redis);
      const entries = ['a', 'b', 'c', 'd'].map((id) => entry(id));
      for (const e of entries) await redis.lpush(k.waiting, e); // a is the oldest
      await redis.zadd(k.workers, now + 10_000, 'w1', now - 1, 'dead');
      const keys = (w: string) => [k.waiting, k.workers, k.worker(w)];
      assert.deepEqual(await runScript(redis, 'dequeue', keys('dead'), ['dead', 10]), [0]);
      assert.equal(await redis.llen(k.waiting), 4, 'nothing moves under an expired lease');
      assert.deepEqual(await runScript(redis, 'dequeue', keys('nobody'), ['nobody', 10]), [0]);
      const reply = (await runScript(redis, 'dequeue', keys('w1'), ['w1', 3])) as unknown[];
      assert.deepEqual(reply, [1, entries[0], entries[1], entries[2]]);
      assert.deepEqual(await redis.lrange(k.waiting, 0, -1), [entries[3]]);
      assert.deepEqual((await redis.lrange(k.worker('w1'), 0, -1)).sort(), [entries[0], entries[1], entries[2]].sort());
      assert.deepEqual(await runScript(redis, 'dequeue', keys('w1'), ['w1', 10]), [1, entries[3]]);
      assert.equal(await redis.exists(k.waiting), 0);
      assert.deepEqual(await runScript(redis, 'dequeue', keys('w1'), ['w1', 10]), [1]);
    },
  },
  {
    name: 'dequeue of one entry moves it with a single LMOVE, with the same checks',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const now = await redisNow(redis);
      const [a, b] = [entry('a'), entry('b')];
      await redis.lpush(k.waiting, a, b);
      await redis.zadd(k.workers, now + 10_000, 'w1', now - 1, 'dead');
      assert.deepEqual(await runScript(redis, 'dequeue', [k.waiting, k.workers, k.worker('dead')], ['dead', 1]), [0]);
      assert.deepEqual(await runScript(redis, 'dequeue', [k.waiting, k.workers, k.worker('w1')], ['w1', 1]), [1, a]);
      assert.deepEqual(await redis.lrange(k.worker('w1'), 0, -1), [a]);
      assert.deepEqual(await runScript(redis, 'dequeue', [k.waiting, k.workers, k.worker('w1')], ['w1', 1]), [1, b]);
      assert.deepEqual(await runScript(redis, 'dequeue', [k.waiting, k.workers, k.worker('w1')], ['w1', 1]), [1]);
      assert.equal(await redis.exists(k.waiting), 0);
    },
  },
  {
    name: 'requeue is token-checked: a stale run cannot touch the newer run of the same task',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const first = entry('t1');
      await redis.lpush(k.worker('w1'), first);
      assert.equal(await runScript(redis, 'requeue', [k.worker('w1'), k.waiting], [first, 1, 'crashed']), 1);
      const [back] = await redis.lrange(k.waiting, 0, -1);
      assert.equal(back, entry('t1', 1, 1, 'crashed'), 'attempt and cut-offs go up, the reason is kept');
      assert.equal(await redis.exists(k.worker('w1')), 0);
      // Run twice (a resend): nothing more happens.
      assert.equal(await runScript(redis, 'requeue', [k.worker('w1'), k.waiting], [first, 1, 'crashed']), 0);
      assert.equal(await redis.llen(k.waiting), 1);
      // The newer run is taken by the same worker; the old token (attempt 0) cannot release or requeue it.
      await redis.rpop(k.waiting);
      await redis.lpush(k.worker('w1'), back!);
      assert.equal(await redis.lrem(k.worker('w1'), 1, first), 0, 'a stale release removes nothing');
      assert.equal(await runScript(redis, 'requeue', [k.worker('w1'), k.waiting], [first, 0, '']), 0);
      assert.deepEqual(await redis.lrange(k.worker('w1'), 0, -1), [back]);
      // An orderly requeue (not a cut-off) keeps the count and the reason.
      assert.equal(await runScript(redis, 'requeue', [k.worker('w1'), k.waiting], [back!, 0, '']), 1);
      assert.deepEqual(await redis.lrange(k.waiting, 0, -1), [entry('t1', 2, 1, 'crashed')]);
    },
  },
  {
    name: 'requeue puts an unreadable entry back unchanged (Lua never rewrites what it cannot parse)',
    run: async ({ redis, q }) => {
      const k = q.keys;
      await redis.lpush(k.worker('w1'), 'garbage');
      assert.equal(await runScript(redis, 'requeue', [k.worker('w1'), k.waiting], ['garbage', 1, 'lost']), 1);
      assert.deepEqual(await redis.lrange(k.waiting, 0, -1), ['garbage']);
    },
  },
  {
    name: 'requeue keeps big integers in the arguments byte for byte',
    run: async ({ redis, q }) => {
      const k = q.keys;
      // biome-ignore lint/correctness/noPrecisionLoss: a number past 2^53 travels as JSON writes it
      const e = encodeEntry({ id: 'big', name: 'add', args: [12345678901234567, 0.1], timeoutMs: 1000, maxAttempts: 3 }, 1e6);
      await redis.lpush(k.worker('w1'), e);
      await runScript(redis, 'requeue', [k.worker('w1'), k.waiting], [e, 1, 'lost']);
      const [back] = await redis.lrange(k.waiting, 0, -1);
      const args = e.slice(e.lastIndexOf('|') + 1);
      assert.equal(args, '[12345678901234568,0.1]');
      assert.ok(back?.endsWith(`|${args}`), back);
    },
  },
  {
    name: 'fail finishes the run and keeps a bounded dead-letter list; a stale fail writes nothing',
    run: async ({ redis, q }) => {
      const k = q.keys;
      for (let i = 0; i < 5; i++) {
        const e = entry(`f${i}`);
        await redis.lpush(k.worker('w1'), e);
        assert.equal(await runScript(redis, 'fail', [k.worker('w1'), k.dead], [e, `{"id":"f${i}"}`, 3]), 1);
      }
      const dead = await redis.lrange(k.dead, 0, -1);
      assert.equal(dead.length, 3);
      assert.match(dead[0]!, /^\d+\|\{"id":"f4"\}$/);
      assert.match(dead[2]!, /^\d+\|\{"id":"f2"\}$/);
      assert.equal(await runScript(redis, 'fail', [k.worker('w1'), k.dead], [entry('f0'), '{"id":"again"}', 3]), 0);
      assert.equal(await redis.llen(k.dead), 3);
      assert.equal(await redis.exists(k.worker('w1')), 0);
    },
  },
  {
    name: 'sweep takes the lock once per interval and lists only expired leases, in pages',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const now = await redisNow(redis);
      await redis.zadd(k.workers, now + 60_000, 'live', now - 3, 'x1', now - 2, 'x2', now - 1, 'x3');
      const first = (await runScript(
        redis,
        'sweep',
        [k.workers, k.sweepLock, k.retired, k.retiredLock],
        [60_000, 0, 2, 'me', 0],
      )) as unknown[];
      assert.deepEqual(first.slice(1), [1, 0, 'x1', 'x2']);
      assert.equal(await redis.get(k.sweepLock), 'me');
      const locked = (await runScript(
        redis,
        'sweep',
        [k.workers, k.sweepLock, k.retired, k.retiredLock],
        [60_000, 0, 2, 'other', 0],
      )) as unknown[];
      assert.deepEqual(locked.slice(1), [0], 'a second sweeper in the same interval does nothing');
      const page2 = (await runScript(redis, 'sweep', [k.workers, k.sweepLock, k.retired, k.retiredLock], [0, 2, 2, 'me', 0])) as unknown[];
      assert.deepEqual(page2.slice(1), [1, 0, 'x3']);
    },
  },
  {
    name: "recover leaves a live lease alone, puts an expired worker's entries back as cut off, and removes the registration after the grace",
    run: async ({ redis, q }) => {
      const k = q.keys;
      const now = await redisNow(redis);
      await redis.zadd(k.workers, now + 60_000, 'live', now - 100, 'recent', now - 60_000, 'old');
      await redis.hset(k.info, 'live', '{}', 'recent', '{}', 'old', '{}');
      await redis.lpush(k.worker('live'), entry('l1'));
      await redis.lpush(k.worker('recent'), entry('r1'), entry('r2'));
      await redis.lpush(k.worker('old'), entry('o1', 1, 1, 'crashed'));
      const recover = (w: string, mode = 'lost', n = 1000) =>
        runScript(redis, 'recover', [k.workers, k.worker(w), k.waiting, k.info, k.epoch, k.retired], [w, n, mode, 5000, 0]);
      assert.deepEqual(await recover('live'), [0, 1, 0]);
      assert.equal(await redis.llen(k.worker('live')), 1);
      assert.deepEqual(await recover('recent', 'lost', 1), [1, 1, 0], 'at most N per call');
      assert.deepEqual(await recover('recent'), [1, 0, 0], 'kept within the grace after its deadline');
      assert.notEqual(await redis.zscore(k.workers, 'recent'), null);
      assert.deepEqual(await recover('old'), [1, 0, 1]);
      assert.equal(await redis.zscore(k.workers, 'old'), null);
      assert.equal(await redis.hget(k.info, 'old'), null);
      // Each call pushes to the taking end (right): r1 (oldest, first call), then r2, then o1. Every entry
      // counts one more cut-off, reason lost.
      assert.deepEqual(await redis.lrange(k.waiting, 0, -1), [
        entry('r1', 1, 1, 'lost'),
        entry('r2', 1, 1, 'lost'),
        entry('o1', 2, 2, 'lost'),
      ]);
      assert.deepEqual(await recover('old'), [0, 0, 0], 'running it twice moves nothing');
      // 'stop': a worker leaving in good order puts its entries back without counting them as cut off.
      assert.deepEqual(await recover('live', 'stop'), [1, 0, 1]);
      assert.equal(await redis.lindex(k.waiting, -1), entry('l1', 1, 0, ''));
      assert.equal(await redis.zscore(k.workers, 'live'), null);
      // The last worker leaving a partition with tasks waiting keeps the epoch: workers will come back for them.
      await redis.set(k.epoch, 'e1');
      await redis.zadd(k.workers, now + 60_000, 'last');
      assert.deepEqual(await recover('last', 'stop'), [0, 0, 1]);
      assert.equal(await redis.get(k.epoch), 'e1');
    },
  },
  {
    name: 'the last worker to leave an empty partition in good order deletes the epoch; a sweep never does',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const now = await redisNow(redis);
      const recover = (w: string, mode: string) =>
        runScript(redis, 'recover', [k.workers, k.worker(w), k.waiting, k.info, k.epoch, k.retired], [w, 1000, mode, 0, 0]);
      await redis.set(k.epoch, 'e1');
      await redis.zadd(k.workers, now + 60_000, 'a', now + 60_000, 'b', now - 60_000, 'dead');
      assert.deepEqual(await recover('dead', 'lost'), [0, 0, 1]);
      assert.equal(await redis.get(k.epoch), 'e1', 'a sweep keeps the epoch');
      assert.deepEqual(await recover('a', 'stop'), [0, 0, 1]);
      assert.equal(await redis.get(k.epoch), 'e1', 'another worker is still registered');
      assert.deepEqual(await recover('b', 'stop'), [0, 0, 1]);
      assert.deepEqual(await queueKeysNow(redis, q), [], 'nothing is left');
    },
  },
  {
    name: 'a registration removed after a lost lease is watched: a move that lands in its list late goes back uncounted, then the watch ends',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const now = await redisNow(redis);
      await redis.zadd(k.workers, now - 60_000, 'gone');
      const call = (mode: string, timing: number[]) =>
        runScript(
          redis,
          'recover',
          [k.workers, k.worker('gone'), k.waiting, k.info, k.epoch, k.retired],
          ['gone', 1000, mode, ...timing],
        ) as Promise<number[]>;
      assert.deepEqual(await call('lost', [5000, 60_000]), [0, 0, 1]);
      assert.notEqual(await redis.zscore(k.retired, 'gone'), null, 'the removed registration is watched');
      // The sweep hands out retired ids once per check interval (its own lock), expired ones every time.
      const sweep = () =>
        runScript(redis, 'sweep', [k.workers, k.sweepLock, k.retired, k.retiredLock], [0, 0, 100, 'me', 10_000]) as Promise<unknown[]>;
      assert.deepEqual((await sweep()).slice(1), [1, 1, 'gone']);
      assert.deepEqual((await sweep()).slice(1), [1, 0], 'not again within the check interval');
      // A blocking move held up in the network lands after the registration was removed.
      await redis.lpush(k.worker('gone'), entry('late', 0, 0, ''));
      assert.deepEqual(await call('retired', [60_000, 0]), [1, 0, 0], 'put back; still watched');
      assert.deepEqual(await redis.lrange(k.waiting, 0, -1), [entry('late', 1, 0, '')], 'never ran: not counted as cut off');
      // A watch of 0 ms ends once the clock is past the removal's ms (the script compares with <): a store
      // that answers within the same ms (the memory store does) must see that ms go by first.
      const since = Number(await redis.zscore(k.retired, 'gone'));
      await waitFor('a ms past the removal on the store clock', async () => (await redisNow(redis)) > since, 1000, 1);
      assert.deepEqual(await call('retired', [0, 0]), [0, 0, 1], 'past the watch: no longer watched');
      assert.deepEqual(await queueKeysNow(redis, q), [k.retiredLock, k.waiting].sort());
    },
  },
  {
    name: 'recover and requeue write nothing when the waiting key is not a list',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const now = await redisNow(redis);
      await redis.zadd(k.workers, now - 60_000, 'dead');
      await redis.lpush(k.worker('dead'), entry('d1'));
      await redis.set(k.waiting, 'not a list');
      await assert.rejects(
        runScript(redis, 'recover', [k.workers, k.worker('dead'), k.waiting, k.info, k.epoch, k.retired], ['dead', 1000, 'lost', 0, 0]),
        /WRONGTYPE/,
      );
      assert.deepEqual(await redis.lrange(k.worker('dead'), 0, -1), [entry('d1')], 'the entry is still held');
      assert.notEqual(await redis.zscore(k.workers, 'dead'), null, 'the registration is still there');
    },
  },
  {
    name: 'recover moves a list of 5000 entries in calls of 1000 without error',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const now = await redisNow(redis);
      await redis.zadd(k.workers, now - 60_000, 'big');
      const many = Array.from({ length: 5000 }, (_, i) => entry(`m${i}`));
      await redis.lpush(k.worker('big'), ...many);
      let calls = 0;
      for (;;) {
        calls++;
        const [, left] = (await runScript(
          redis,
          'recover',
          [k.workers, k.worker('big'), k.waiting, k.info, k.epoch, k.retired],
          ['big', 1000, 'lost', 5000, 0],
        )) as [number, number];
        if (left === 0) break;
      }
      assert.equal(calls, 5);
      assert.equal(await redis.llen(k.waiting), 5000);
      assert.deepEqual(await queueKeysNow(redis, q), [k.waiting]);
    },
  },
  {
    name: 'defect 7: requeue into a waiting key that is not a list fails having removed nothing',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const e = entry('t1');
      await redis.lpush(k.worker('w1'), e);
      await redis.set(k.waiting, 'not a list');
      await rejectsWithoutWriting(redis, [k.worker('w1'), k.waiting], () =>
        runScript(redis, 'requeue', [k.worker('w1'), k.waiting], [e, 1, 'crashed']),
      );
      await redis.del(k.waiting);
      await redis.hset(k.waiting, 'f', 'v');
      await rejectsWithoutWriting(redis, [k.worker('w1'), k.waiting], () =>
        runScript(redis, 'requeue', [k.worker('w1'), k.waiting], [e, 0, '']),
      );
      // Repaired, the same call puts the run back.
      await redis.del(k.waiting);
      assert.equal(await runScript(redis, 'requeue', [k.worker('w1'), k.waiting], [e, 1, 'crashed']), 1);
      assert.deepEqual(await redis.lrange(k.waiting, 0, -1), [entry('t1', 1, 1, 'crashed')]);
    },
  },
  {
    name: 'defect 7: dequeue (N > 1 and N = 1) into an in-flight list that is not a list fails having moved nothing',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const now = await redisNow(redis);
      await redis.lpush(k.waiting, entry('a'), entry('b'), entry('c'));
      await redis.zadd(k.workers, now + 10_000, 'w1');
      await redis.set(k.worker('w1'), 'not a list');
      const keys = [k.waiting, k.workers, k.worker('w1')];
      await rejectsWithoutWriting(redis, keys, () => runScript(redis, 'dequeue', keys, ['w1', 3]));
      await rejectsWithoutWriting(redis, keys, () => runScript(redis, 'dequeue', keys, ['w1', 1]));
      // A waiting key of the wrong type: nothing moves either.
      await redis.del(k.worker('w1'));
      await redis.rename(k.waiting, k.info);
      await redis.set(k.waiting, 'not a list');
      await rejectsWithoutWriting(redis, keys, () => runScript(redis, 'dequeue', keys, ['w1', 3]));
      await rejectsWithoutWriting(redis, keys, () => runScript(redis, 'dequeue', keys, ['w1', 1]));
    },
  },
  {
    name: 'defect 7: fail into a dead-letter key that is not a list fails having removed nothing',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const e = entry('f1');
      await redis.lpush(k.worker('w1'), e);
      await redis.set(k.dead, 'not a list');
      await rejectsWithoutWriting(redis, [k.worker('w1'), k.dead], () =>
        runScript(redis, 'fail', [k.worker('w1'), k.dead], [e, '{"id":"f1"}', 3]),
      );
      await redis.del(k.dead);
      assert.equal(await runScript(redis, 'fail', [k.worker('w1'), k.dead], [e, '{"id":"f1"}', 3]), 1);
      assert.equal(await redis.exists(k.worker('w1')), 0);
    },
  },
];
