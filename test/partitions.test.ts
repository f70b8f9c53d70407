// One queue over several partitions (hash tags): spreading, ordering by key, fair fetching, recovery, status.
// Runs against whatever REDIS_URL is (a single Redis, or a cluster where the partitions land on different
// primaries).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InlineWorker, Queue, findQueues, queueStatus } from '../src/index.ts';
import { crc16, keySlot, partitionTags } from '../src/keys.ts';
import { decodeEntry } from '../src/payload.ts';
import { add, echo, record } from './fixtures/tasks.ts';
import {
  FIXTURES,
  REDIS_URL,
  useInspector,
  ledgerFile,
  queueKeysNow,
  readLedger,
  recorder,
  runUntil,
  waitFor,
  withQueue,
  workerProcess,
} from './helpers.ts';

const redis = useInspector();

test('partition tags: partition 0 keeps the plain name; N partitions fall in N different Nths of the slot space', () => {
  assert.deepEqual(partitionTags('jobs', 1), ['jobs']);
  for (const n of [2, 3, 5, 16, 256]) {
    const tags = partitionTags('jobs', n);
    assert.equal(tags.length, n);
    assert.equal(tags[0], 'jobs');
    assert.equal(new Set(tags).size, n);
    const buckets = tags.map((t) => Math.floor((keySlot(`{${t}}`) * n) / 16384));
    assert.equal(new Set(buckets).size, n, `partitions of ${n} share a slot range: ${buckets.join(',')}`);
    for (const t of tags.slice(1)) assert.match(t, /^jobs\/\d+$/);
  }
  // Known CRC16 slots (from the Redis Cluster specification's examples and CLUSTER KEYSLOT).
  assert.equal(keySlot('123456789'), 0x31c3 % 16384);
  assert.equal(keySlot('{user1000}.following'), keySlot('{user1000}.followers'));
  assert.equal(keySlot('foo{}{bar}'), crc16('foo{}{bar}') % 16384, 'an empty first tag hashes the whole key');
  assert.equal(keySlot('foo{{bar}}zap'), crc16('{bar') % 16384, 'the tag ends at the first } after the first {');
});

test('producers spread tasks round robin; a partition key keeps related tasks in one partition, in order', () =>
  withQueue(
    redis,
    async (q) => {
      await q.enqueueMany(Array.from({ length: 300 }, (_, i) => ({ name: 'echo', args: [i] })));
      for (let i = 0; i < 30; i++) await echo.delay(q, i);
      const sizes = await Promise.all(q.partitions.map((k) => redis.llen(k.waiting)));
      assert.deepEqual(sizes, [110, 110, 110]);
      assert.equal(await q.waiting(), 330);
      const keyed = q.delay(echo, { partitionKey: 'customer-42' });
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push(await keyed(`k${i}`));
      const holding = await Promise.all(
        q.partitions.map(async (k) =>
          (await redis.lrange(k.waiting, 0, -1)).map((e) => decodeEntry(e, 1e6)).filter((d) => d.ok && ids.includes(d.task.id)),
        ),
      );
      assert.equal(holding.filter((h) => h.length > 0).length, 1, 'one partition holds every task of the key');
      const inOrder = holding
        .flat()
        .reverse()
        .map((d) => (d.ok ? d.task.id : ''));
      assert.deepEqual(inOrder, ids, 'taken oldest first (from the right)');
      await assert.rejects(q.enqueue('echo', [1], { partitionKey: 7 as unknown as string }), { code: 'ERR_INVALID_OPTION' });
      assert.throws(() => new Queue({ name: 'x', partitions: 0 }), /`partitions` to be an integer from 1 to 256, got `0`/);
    },
    { partitions: 3 },
  ));

test('a worker drains every partition, each task once, and leaves no key behind', () =>
  withQueue(
    redis,
    async (q) => {
      const rec = recorder();
      const ids = await q.enqueueMany(Array.from({ length: 400 }, (_, i) => ({ name: 'add', args: [i, 1] })));
      const w = new InlineWorker({ queue: q, tasks: [FIXTURES], concurrency: 8, handleSignals: false, successHandler: rec.successHandler });
      await runUntil(w, '400 outcomes', () => rec.outcomes.length >= 400);
      assert.equal(rec.outcomes.length, 400);
      assert.deepEqual(new Set(rec.outcomes.map((o) => o.id)), new Set(ids));
      const left = (await queueKeysNow(redis, q)).filter((k) => !k.endsWith(':sweep'));
      assert.deepEqual(left, [], 'no key left in any partition');
    },
    { partitions: 4 },
  ));

test('an idle worker notices a task in any partition: one block per partition at most', () =>
  withQueue(
    redis,
    async (q) => {
      const rec = recorder();
      const w = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, successHandler: rec.successHandler });
      const running = w.run();
      try {
        await waitFor('the worker to register', () => w.workerId !== '');
        const delays: number[] = [];
        for (let i = 0; i < 7; i++) {
          const sent = Date.now();
          await add.delay(q, i, i);
          await waitFor(`task ${i}`, () => rec.outcomes.length > i);
          delays.push(Date.now() - sent);
        }
        console.log(`pickup by an idle worker over 3 partitions, ms: ${delays.join(', ')}`);
        // The task lands in the partition being watched, or is seen when that block ends (1/3 s) and the round
        // asks every partition (a single partition's block lasts 1 s: more than that means no round saw it).
        const median = [...delays].sort((a, b) => a - b)[3] as number;
        assert.ok(median < 900, `median pickup ${median} ms`);
        for (const d of delays) assert.ok(d < 2500, `picked up after ${d} ms`);
      } finally {
        await w.close();
        await running;
      }
    },
    { partitions: 3 },
  ));

test('kill -9 of a worker holding tasks in several partitions: every task comes back and finishes', () =>
  withQueue(
    redis,
    async (q) => {
      const ledger = ledgerFile();
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) ids.push(await record.delay(q, ledger, 30_000));
      const victim = workerProcess(q, { PARTITIONS: '3', CONCURRENCY: '6' });
      try {
        await waitFor('six starts', () => readLedger(ledger).filter((l) => l.event === 'start').length >= 6);
        const workerId = String(victim.events.find((e) => e.event === 'registered')?.workerId);
        const held = await Promise.all(q.partitions.map((k) => redis.llen(k.worker(workerId))));
        assert.deepEqual(held, [2, 2, 2], 'the worker holds tasks in all three partitions');
        victim.proc.kill('SIGKILL');
        await victim.exited;
        const status = await queueStatus(q);
        assert.equal(status.partitions, 3);
        assert.equal(status.inFlight, 6, 'status adds up the partitions');
        assert.equal(status.workers.length, 1, 'a worker registered in every partition is listed once');
        const rec = recorder();
        const rescuer = new InlineWorker({
          queue: q,
          tasks: [FIXTURES],
          concurrency: 6,
          shutdownTimeoutMs: 0,
          handleSignals: false,
          successHandler: rec.successHandler,
        });
        // The rescued tasks would run 30 s: seeing all six start again is the proof; the stop puts them back.
        const restarted = new Set<string>();
        rescuer.on('start', (task) => restarted.add(task.id));
        await runUntil(rescuer, 'all six to start again', () => restarted.size >= 6);
        assert.deepEqual(restarted, new Set(ids));
      } finally {
        victim.proc.kill('SIGKILL');
      }
    },
    { partitions: 3 },
  ));

test('findQueues names a partitioned queue once', () =>
  withQueue(
    redis,
    async (q) => {
      await q.enqueueMany(Array.from({ length: 6 }, (_, i) => ({ name: 'echo', args: [i] })));
      const names = await findQueues({ redis: REDIS_URL });
      assert.equal(names.filter((n) => n === q.name).length, 1);
      assert.equal(names.filter((n) => n.startsWith(`${q.name}/`)).length, 0);
    },
    { partitions: 3 },
  ));
