// Priority levels with issue 13's features: a task of a non-default level that keeps its result, holds a unique
// key or is cancelled. Lookup and cancel search its level's list; a unique task waits in its level; recovery
// after kill -9 puts a held task back into its own level and drops a cancelled one; the rerun's finish writes the
// result and releases the key.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { CancelledError, InlineWorker, Queue, requeueAllDeadLetters, requeueDeadLetterById } from '../src/index.ts';
import { runScheduledNow, scheduledPage } from '../src/dashboard/scheduled.ts';
import { cancelRequest, dequeue, recover, register, requeue, retry } from '../src/store.ts';
import { record } from './fixtures/tasks.ts';
import {
  FIXTURES,
  REDIS_URL,
  inspector,
  ledgerFile,
  queueKeysNow,
  readLedger,
  recorder,
  runUntil,
  waitFor,
  withQueue,
  workerProcess,
} from './helpers.ts';

let redis: Redis;
before(() => {
  redis = inspector();
});
after(async () => {
  await redis.quit();
});

const WEIGHTS = { high: 6, normal: 3, low: 1 };
const KEEP = { keepResult: { ttlMs: 60_000 } };

const idOf = (entry: string) => entry.split('|')[4];
const ids = async (list: string) => (await redis.lrange(list, 0, -1)).map(idOf);

test('a waiting task of another level: queue.task finds it in its level (also from a queue object without `priorities`), cancel removes it from there, its result says cancelled and its unique key is free', () =>
  withQueue(
    redis,
    async (q) => {
      const k = q.keys;
      const filler = await q.enqueue('add', [0, 0]); // the queue is not empty: the next pushes go to their levels
      const kept = await q.enqueue('add', [1, 1], { priority: 'high', ...KEEP });
      const unique = { key: 'report-7' };
      const first = await q.enqueueUnique('add', [2, 2], { priority: 'low', unique, ...KEEP });
      assert.equal(first.duplicate, false);
      const front = await q.enqueueUnique('add', [3, 3], { priority: 'low', atFront: true, unique: { key: 'report-8' } });
      assert.deepEqual(await ids(k.waiting), [filler]);
      assert.deepEqual(await ids(k.levelWaiting('high')), [kept]);
      assert.deepEqual(
        await ids(k.levelWaiting('low')),
        [first.id, front.id],
        'a unique task waits in its level; atFront at the taking end',
      );
      assert.deepEqual(await q.enqueueUnique('add', [2, 2], { priority: 'low', unique }), { id: first.id, duplicate: true });
      assert.equal((await q.task(first.id)).state, 'waiting');
      assert.equal((await q.task(kept)).state, 'waiting');
      // A bounded lookup reads the levels' lists in turn, one entry a call here, and goes on from its cursor.
      let calls = 1;
      let seen = await q.task(front.id, { maxScan: 1 });
      while (seen.state === 'unknown' && seen.more && calls < 10) {
        seen = await q.task(front.id, { maxScan: 1, cursor: seen.more.cursor });
        calls++;
      }
      assert.equal(seen.state, 'waiting', `found after ${calls} bounded calls`);
      assert.ok(calls >= 4, `the fourth entry read needs at least four calls of one (${calls})`);

      // A queue object made without `priorities` (as `delayed task` / `delayed cancel` and the dashboard make
      // them) finds the levels in the configuration record.
      const plain = new Queue({ name: q.name, redis: REDIS_URL });
      try {
        assert.equal((await plain.task(kept)).state, 'waiting');
        assert.equal(await plain.cancel(kept), 'removed');
      } finally {
        await plain.close();
      }
      const waiting = q.result(first.id, { timeoutMs: 10_000 });
      assert.equal(await q.cancel(first.id), 'removed');
      await assert.rejects(waiting, CancelledError);
      await assert.rejects(q.result(kept, { timeoutMs: 1000 }), CancelledError);
      assert.deepEqual(await ids(k.levelWaiting('low')), [front.id]);
      assert.equal(await redis.exists(k.levelWaiting('high')), 0);
      assert.equal(await redis.exists(k.unique('report-7')), 0, 'the cancel released the key');
      assert.equal((await q.task(first.id)).state, 'failed');
      assert.equal((await q.enqueueUnique('add', [2, 2], { priority: 'low', unique })).duplicate, false, 'a new one after');
    },
    { priorities: WEIGHTS },
  ));

test('kill -9 of a worker running a cancelled high task and a unique, result-keeping low task: recovery drops the first and puts the second back into its level; the rerun keeps the key until it finishes', () =>
  withQueue(
    redis,
    async (q) => {
      const k = q.keys;
      const ledger = ledgerFile();
      const doomed = await record.with({ priority: 'high', ...KEEP }).delay(q, ledger, 60_000);
      const unique = { key: 'nightly' };
      const { id: kept } = await q.enqueueUnique('record', [ledger, 5000], { priority: 'low', unique, ...KEEP });
      const victim = workerProcess(q, { KIND: 'inline', CONCURRENCY: '2', LEASE_MS: '60000', PRIORITIES: JSON.stringify(WEIGHTS) });
      try {
        await waitFor(
          'both tasks to start and the registration line',
          () => readLedger(ledger).filter((l) => l.event === 'start').length === 2 && victim.events.some((e) => e.event === 'registered'),
        );
        // Frozen, so it cannot hear the cancel at a renewal (20 s away anyway), then killed.
        victim.proc.kill('SIGSTOP');
        assert.equal(await q.cancel(doomed), 'stopping');
        victim.proc.kill('SIGKILL');
        await victim.exited;
        const workerId = String(victim.events.find((e) => e.event === 'registered')?.workerId);
        // The lease ends now rather than in 60 s (what the clock would do).
        await redis.zadd(k.workers, 1, workerId);
        const back = await recover(redis, k, workerId, 'lost', [0, 0]);
        assert.deepEqual([back.moved, back.cancelled, back.left], [1, 1, 0]);
        assert.deepEqual(await ids(k.levelWaiting('low')), [kept], 'back into its own level');
        assert.equal(await redis.exists(k.levelWaiting('high')), 0, 'the cancelled task is not put back');
        assert.equal(await redis.exists(k.waiting), 0);
        assert.deepEqual(await q.enqueueUnique('record', [ledger, 1], { priority: 'low', unique }), { id: kept, duplicate: true });
        await assert.rejects(q.result(doomed, { timeoutMs: 1000 }), CancelledError, 'the drop wrote the cancelled outcome');

        const rec = recorder();
        const rescuer = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, successHandler: rec.successHandler });
        await runUntil(rescuer, 'the rerun to finish', () => rec.byId(kept) !== undefined);
        assert.equal(rec.byId(kept)?.attempt, 1, 'ran again after the kill');
        assert.equal(rec.outcomes.length, 1, 'the cancelled task never ran again');
        assert.equal(await q.result(kept, { timeoutMs: 1000 }), 5000);
        assert.equal(await redis.exists(k.unique('nightly')), 0, 'released by the finish of the rerun');
        assert.equal(readLedger(ledger).filter((l) => l.id === doomed && l.event === 'start').length, 1);
      } finally {
        victim.proc.kill('SIGKILL');
      }
    },
    { priorities: WEIGHTS },
  ));

test('requeue and retry at a level: a cancelled run is finished as cancelled (outcome, key released, nothing put back); another goes back into its own level', () =>
  withQueue(
    redis,
    async (q) => {
      const k = q.keys;
      await q.enqueue('add', [0, 0]); // the queue is not empty: the next pushes go to their levels
      const { id: keyed } = await q.enqueueUnique('add', [1, 1], { priority: 'high', unique: { key: 'u1' }, ...KEEP });
      const plain = await q.enqueue('add', [2, 2], { priority: 'high' });
      const kept = await q.enqueue('add', [3, 3], { priority: 'low', ...KEEP });
      await register(redis, k, 'w1', 60_000, 'e', '{}');
      const moved = await dequeue(redis, k, 'w1', 4);
      assert.ok(moved !== 'refused' && moved.length === 4);
      const held = new Map(moved.map((b) => [idOf(b.toString()), b.toString()]));
      await cancelRequest(redis, k, keyed, 60_000);
      await cancelRequest(redis, k, plain, 60_000);
      assert.equal(await requeue(redis, k.worker('w1'), k, held.get(keyed)!, 'crashed'), 'cancelled');
      assert.equal((await retry(redis, k.worker('w1'), k, held.get(plain)!, 0)).status, 'cancelled');
      assert.equal((await retry(redis, k.worker('w1'), k, held.get(kept)!, 0)).status, 'scheduled');
      await assert.rejects(q.result(keyed, { timeoutMs: 1000 }), CancelledError);
      assert.equal(await redis.exists(k.unique('u1')), 0, 'the key went with the drop');
      assert.equal(await redis.exists(k.levelWaiting('high')), 0, 'neither cancelled run is put back');
      assert.deepEqual(await ids(k.levelWaiting('low')), [kept], 'a retry due at once goes back into its own level');
      assert.equal(await redis.exists(k.cancel), 0, 'both requests consumed');
      const outcomes = (await queueKeysNow(redis, q)).filter((key) => key.includes(':result:'));
      assert.deepEqual(outcomes, [k.result(keyed)], 'no outcome but the kept one');
    },
    { priorities: WEIGHTS },
  ));

test("a dead letter requeued, and a scheduled task sent by Run now, go back into the task's own level (also from a queue object without `priorities`, as the CLI and dashboard make)", () =>
  withQueue(
    redis,
    async (q) => {
      const k = q.keys;
      const rec = recorder();
      const failed = [
        await q.enqueue('fail', ['boom'], { priority: 'low', maxAttempts: 1 }),
        await q.enqueue('fail', ['boom'], { priority: 'high', maxAttempts: 1 }),
        await q.enqueue('fail', ['boom'], { maxAttempts: 1 }),
      ];
      const w = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, errorHandler: rec.errorHandler });
      await runUntil(w, 'three dead letters', async () => rec.outcomes.length === 3 && (await redis.llen(k.dead)) === 3);
      // The drained queue's last worker took the configuration record with it; a producer of the queue's
      // configuration writes it again (as a running worker or producer would have it).
      assert.equal(await redis.get(k.config), null);
      const producer = new Queue({ name: q.name, redis: REDIS_URL, prefix: q.prefix, priorities: WEIGHTS });
      await producer.checkConfig();
      await producer.close();
      const plain = new Queue({ name: q.name, redis: REDIS_URL, prefix: q.prefix, deadLetters: 10 });
      try {
        assert.equal(await requeueDeadLetterById(plain, failed[0] as string), true);
        assert.deepEqual(await ids(k.levelWaiting('low')), [failed[0]], 'the low task went back to low');
        assert.equal((await requeueAllDeadLetters(plain)).requeued, 2);
        assert.deepEqual(await ids(k.levelWaiting('high')), [failed[1]], 'the high task went back to high');
        assert.deepEqual(await ids(k.waiting), [failed[2]], 'a task of the default level to waiting');
        const later = await q.enqueue('add', [1, 2], { priority: 'high', delayMs: 600_000 });
        const page = await scheduledPage(plain, [0], 10);
        const row = page.tasks.find((t) => t.id === later);
        assert.ok(row, 'the scheduled task is listed');
        assert.equal(await runScheduledNow(plain, row), 'moved');
        assert.deepEqual(await ids(k.levelWaiting('high')), [later, failed[1]], 'Run now put it at the back of high');
        assert.equal(await redis.zcard(k.scheduled), 0);
      } finally {
        await plain.close();
      }
    },
    { priorities: WEIGHTS, deadLetters: 10 },
  ));

test('a unique task of another level into a queue whose lists are all empty goes to waiting (where idle workers block); otherwise to its level', () =>
  withQueue(
    redis,
    async (q) => {
      const first = await q.enqueueUnique('add', [1, 1], { priority: 'high', unique: { key: 'wake-1' } });
      assert.deepEqual(await ids(q.keys.waiting), [first.id], 'alone: into waiting, where a blocked worker takes it at once');
      const second = await q.enqueueUnique('add', [2, 2], { priority: 'high', unique: { key: 'wake-2' } });
      assert.deepEqual(await ids(q.keys.levelWaiting('high')), [second.id], 'another task waits: into its level');
      const later = await q.enqueueUnique('add', [3, 3], { priority: 'low', unique: { key: 'wake-3' }, delayMs: 60_000 });
      assert.equal(await redis.zcard(q.keys.scheduled), 1, `${later.id} waits in scheduled`);
    },
    { priorities: WEIGHTS },
  ));
