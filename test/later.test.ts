// Tasks that run later, through the public API: what is written, what stays as it was, how due entries are
// promoted by the timekeeper (on Redis' clock), and the checks of the options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidOptionError } from '../src/index.ts';
import { decodeEntry } from '../src/payload.ts';
import { Timekeeper } from '../src/timekeeper.ts';
import { add } from './fixtures/tasks.ts';
import { useInspector, queueKeysNow, waitFor, withQueue, redisNow } from './helpers.ts';

const redis = useInspector();

const suffix = (key: string) => key.slice(key.indexOf('}:') + 2);

test('zero cost when unused: a task without the new options is the same entry, one LPUSH, no new key', () =>
  withQueue(redis, async (q) => {
    const id = await q.enqueue('add', [1, 2]);
    const [entry] = await redis.lrange(q.keys.waiting, 0, -1);
    assert.equal(entry, `1|0|0||${id}|add|600000|3|[1,2]`, 'the entry grammar of before, byte for byte');
    await add.with({ timeoutMs: 5000, delayMs: 0 }).delay(q, 3, 4);
    assert.match((await redis.lindex(q.keys.waiting, 0)) ?? '', /^1\|0\|0\|\|[^|]+\|add\|5000\|3\|\[3,4\]$/, 'delayMs 0 is at once');
    assert.deepEqual((await queueKeysNow(redis, q)).map(suffix), ['waiting']);
  }));

test('delayMs: the task waits in the scheduled set with its due time = Redis TIME + delay, and is listed', () =>
  withQueue(redis, async (q) => {
    const before = await redisNow(redis);
    const id = await add.with({ delayMs: 30_000 }).delay(q, 1, 2);
    const after = await redisNow(redis);
    assert.equal(await redis.exists(q.keys.waiting), 0);
    const [entry, score] = await redis.zrange(q.keys.scheduled, 0, -1, 'WITHSCORES');
    assert.equal(entry, `1|0|0||${id}|add|600000|3|[1,2]`, 'the entry itself is unchanged');
    assert.ok(Number(score) >= before + 30_000 && Number(score) <= after + 30_000, `due ${Number(score) - before} ms after`);
    const [listed] = await q.scheduled();
    assert.deepEqual(
      { ...listed, dueAt: listed?.dueAt.getTime() },
      { id, name: 'add', dueAt: Number(score), args: [1, 2], attempt: 0, failures: 0, partition: 0 },
    );
    assert.equal(await q.scheduledCount(), 1);
  }));

test('runAt is read on Redis clock; one in the past runs at once', () =>
  withQueue(redis, async (q) => {
    const now = await redisNow(redis);
    await q.enqueue('add', [1, 2], { runAt: new Date(now + 3_600_000) });
    await q.enqueue('add', [3, 4], { runAt: now + 7_200_000 });
    await q.enqueue('add', [5, 6], { runAt: new Date(now - 1000) });
    const listed = await q.scheduled();
    assert.deepEqual(
      listed.map((t) => [t.args, t.dueAt.getTime() - now]),
      [
        [[1, 2], 3_600_000],
        [[3, 4], 7_200_000],
      ],
    );
    assert.deepEqual(await redis.lrange(q.keys.waiting, 0, -1), [(await redis.lindex(q.keys.waiting, 0)) as string]);
    assert.match((await redis.lindex(q.keys.waiting, 0)) ?? '', /\[5,6\]$/);
  }));

test('enqueueMany mixes tasks for now and for later, also when Redis had to load the script again', () =>
  withQueue(redis, async (q) => {
    await redis.script('FLUSH');
    const ids = await q.enqueueMany([
      { name: 'add', args: [1, 1] },
      { name: 'add', args: [2, 2], delayMs: 60_000 },
      { name: 'add', args: [3, 3] },
      { name: 'add', args: [4, 4], delayMs: 30_000 },
    ]);
    assert.equal(ids.length, 4);
    assert.equal(await redis.llen(q.keys.waiting), 2);
    assert.deepEqual(
      (await q.scheduled()).map((t) => t.args),
      [
        [4, 4],
        [2, 2],
      ],
    );
    const page = await q.scheduled({ offset: 1, count: 1 });
    assert.deepEqual(
      page.map((t) => t.id),
      [ids[1]],
    );
  }));

test('per-call retries and backoff travel in the entry only when set', () =>
  withQueue(redis, async (q) => {
    const id = await add.with({ retries: 3, backoff: { type: 'fixed', delayMs: 500 } }).delay(q, 1, 2);
    const entry = (await redis.lindex(q.keys.waiting, 0)) as string;
    assert.equal(entry, `1|0|0||${id}|add|600000|3|f=0;r=3;b=x.500.3600000.n|[1,2]`);
    const decoded = decodeEntry(entry, 1e6);
    assert.ok(decoded.ok);
    assert.equal(decoded.task.retries, 3);
    assert.deepEqual(decoded.task.backoff, { type: 'fixed', delayMs: 500, maxDelayMs: 3_600_000, jitter: 'none' });
    assert.deepEqual(decoded.task.args, [1, 2]);
  }));

test('bad options are refused before anything is written, saying what was expected and what came', () =>
  withQueue(redis, async (q) => {
    const cases: [object, RegExp][] = [
      [{ delayMs: -1 }, /Expected `delayMs` to be an integer from 0/],
      [{ delayMs: 1.5 }, /Expected `delayMs`/],
      [{ delayMs: 10, runAt: Date.now() }, /Expected either `delayMs` or `runAt`, got both/],
      [{ runAt: new Date(Number.NaN) }, /Expected `runAt` to be a Date or whole ms since the epoch, got an invalid Date/],
      [{ runAt: '2026-01-01' }, /Expected `runAt` to be a Date or whole ms since the epoch, got `"2026-01-01"`/],
      [{ retries: -1 }, /Expected `retries` to be an integer from 0 to 1000, got `-1`/],
      [{ backoff: { type: 'linear' } }, /Expected `backoff.type`/],
      [{ backoff: () => 5 }, /got a function \(functions only in defineTask/],
    ];
    for (const [options, message] of cases) {
      await assert.rejects(
        q.enqueue('add', [1], options),
        (e: Error) => e instanceof InvalidOptionError && message.test(e.message),
        JSON.stringify(options),
      );
    }
    assert.deepEqual(await queueKeysNow(redis, q), []);
  }));

test('the timekeeper promotes a due task at its due time on Redis clock (timer, not the 1 s floor)', () =>
  withQueue(redis, async (q) => {
    const keeper = new Timekeeper({ queue: q, redis: q.redis, intervalMs: 1000 });
    const taker = redis.duplicate();
    try {
      keeper.start();
      await waitFor('a first round', () => new Promise<boolean>((resolve) => keeper.once('round', () => resolve(true))));
      const latenesses: number[] = [];
      for (let i = 0; i < 5; i++) {
        await q.enqueue('add', [i, i], { delayMs: 1200 });
        const [due] = (await redis.zrange(q.keys.scheduled, 0, 0, 'WITHSCORES')).slice(1).map(Number);
        // the entry's own kick: any round after the enqueue learns the new head; the floor is at most 1 s away
        const popped = await taker.brpop(q.keys.waiting, 5);
        assert.ok(popped, 'promoted');
        const [s, us] = await taker.time();
        latenesses.push(Number(s) * 1000 + Math.floor(Number(us) / 1000) - (due as number));
      }
      console.log(`lateness of 5 tasks scheduled 1.2 s ahead, ms: ${latenesses.join(', ')}`);
      // Never early; the promise is ~20 ms, plus a margin of 200 ms for this loaded 2-core machine.
      for (const late of latenesses) assert.ok(late >= 0 && late <= 220, `lateness ${late} ms`);
      assert.equal(await redis.exists(q.keys.scheduled), 0, 'the scheduled set goes with its last entry');
    } finally {
      await keeper.stop();
      taker.disconnect();
    }
  }));

test('promotion moves each entry once however many timekeepers run, in batches, and loses none', () =>
  withQueue(redis, async (q) => {
    const n = 2500;
    await q.enqueueMany(Array.from({ length: n }, (_, i) => ({ name: 'add', args: [i, 0], delayMs: 200 })));
    const connections = Array.from({ length: 4 }, () => q.redis.duplicate());
    const keepers = connections.map((c) => new Timekeeper({ queue: q, redis: c, intervalMs: 100 }));
    try {
      for (const k of keepers) k.start();
      await waitFor(
        'every entry promoted',
        async () => (await redis.llen(q.keys.waiting)) === n && (await redis.exists(q.keys.scheduled)) === 0,
        20_000,
      );
      const entries = await redis.lrange(q.keys.waiting, 0, -1);
      assert.equal(new Set(entries).size, n, 'no duplicate');
    } finally {
      await Promise.all(keepers.map((k) => k.stop()));
      for (const c of connections) c.disconnect();
    }
  }));

test('partitions: each has its own scheduled set; listing merges them by due time; promotion empties them all', () =>
  withQueue(
    redis,
    async (q) => {
      const ids = await q.enqueueMany(Array.from({ length: 30 }, (_, i) => ({ name: 'add', args: [i, 0], delayMs: 300 + i * 10 })));
      const sizes = await Promise.all(q.partitions.map((k) => redis.zcard(k.scheduled)));
      assert.equal(sizes.length, 3);
      assert.ok(
        sizes.every((n) => n === 10),
        `round robin: ${sizes}`,
      );
      const listed = await q.scheduled({ count: 1000 });
      // Each partition's due times come from its own TIME (on a cluster, its own node, its pipeline's moment):
      // the merged list is in due order, which need not be the order of the enqueue across partitions.
      const dues = listed.map((t) => t.dueAt.getTime());
      assert.deepEqual(
        dues,
        [...dues].sort((a, b) => a - b),
        'earliest first across partitions',
      );
      assert.deepEqual(listed.map((t) => t.id).sort(), [...ids].sort());
      assert.deepEqual([...new Set(listed.map((t) => t.partition))].sort(), [0, 1, 2]);
      const keeper = new Timekeeper({ queue: q, redis: q.redis, intervalMs: 100 });
      keeper.start();
      try {
        await waitFor('all promoted', async () => (await q.waiting()) === 30, 10_000);
      } finally {
        await keeper.stop();
      }
      // The producer of a 3-partition queue recorded its configuration, a copy in each partition (no worker ran yet).
      assert.deepEqual((await queueKeysNow(redis, q)).map(suffix).sort(), ['config', 'config', 'config', 'waiting', 'waiting', 'waiting']);
    },
    { partitions: 3 },
  ));

test('with waitForReplicas, a task for later goes out with WAIT (also after SCRIPT FLUSH); too few replicas is reported', () =>
  withQueue(
    redis,
    async (q) => {
      await redis.script('FLUSH');
      await assert.rejects(q.enqueue('add', [1, 2], { delayMs: 60_000 }), (e: Error) => e.name === 'NotReplicatedError');
      await assert.rejects(q.enqueue('add', [3, 4], { delayMs: 60_000 }), (e: Error) => e.name === 'NotReplicatedError');
      assert.equal(await redis.zcard(q.keys.scheduled), 2, 'written to the primary, once each');
    },
    { waitForReplicas: 1, replicaTimeoutMs: 50 },
  ));
