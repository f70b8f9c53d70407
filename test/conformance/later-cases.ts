// Conformance cases for the scripts of tasks that run later and of retries: seed the store, run the script, read
// the state back and compare (as ./script-cases.ts does for the others). test/store-conformance.test.ts runs
// each against Redis and against the memory store.
import assert from 'node:assert/strict';
import { runScript } from '../../src/scripts.ts';
import { encodeEntry, decodeEntry } from '../../src/payload.ts';
import { queueKeysNow, redisNow } from '../helpers.ts';
import type { StoreCase } from './case.ts';

const entry = (id: string, extra: { retries?: number } = {}) =>
  encodeEntry({ id, name: 'add', args: [1, 2], timeoutMs: 1000, maxAttempts: 3, ...extra }, 1e6);

export const laterCases: StoreCase[] = [
  {
    name: 'schedule: due = TIME + delay inside Redis; a due time not ahead pushes at once; runAt is read on Redis clock',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const before = await redisNow(redis);
      const [due, now] = (await runScript(redis, 'schedule', [k.scheduled, k.waiting], [entry('a'), 5000, ''])) as [number, number];
      assert.equal(due, now + 5000, "the due time is the script's own TIME + the delay");
      assert.ok(now >= before && now < before + 1000);
      assert.equal(Number(await redis.zscore(k.scheduled, entry('a'))), due);
      assert.equal(await redis.exists(k.waiting), 0);
      const at = now + 60_000;
      const [dueAt] = (await runScript(redis, 'schedule', [k.scheduled, k.waiting], [entry('b'), 0, at])) as [number];
      assert.equal(dueAt, at);
      assert.equal(Number(await redis.zscore(k.scheduled, entry('b'))), at);
      // a runAt in the past, and a zero delay: a plain enqueue
      await runScript(redis, 'schedule', [k.scheduled, k.waiting], [entry('c'), 0, now - 10_000]);
      await runScript(redis, 'schedule', [k.scheduled, k.waiting], [entry('d'), 0, '']);
      assert.deepEqual(await redis.lrange(k.waiting, 0, -1), [entry('d'), entry('c')]);
      assert.equal(await redis.zcard(k.scheduled), 2);
      // run twice: one entry, due again from the second call's TIME
      await runScript(redis, 'schedule', [k.scheduled, k.waiting], [entry('a'), 5000, '']);
      assert.equal(await redis.zcard(k.scheduled), 2);
    },
  },
  {
    name: 'promote moves exactly the due entries, earliest first to the taking end, in bounded batches; the set goes when empty',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const now = await redisNow(redis);
      await redis.zadd(k.scheduled, now - 30, entry('p3'), now - 10, entry('p1'), now - 20, entry('p2'), now + 60_000, entry('later'));
      await redis.lpush(k.waiting, entry('old'));
      const [moved, nextDue, at] = (await runScript(redis, 'promote', [k.scheduled, k.waiting], [2])) as number[];
      assert.equal(moved, 2, 'at most N');
      assert.ok((at as number) >= now);
      assert.equal(nextDue, now - 10, 'the earliest left');
      // taken from the right: the old entry first, then the earliest due
      assert.deepEqual(await redis.lrange(k.waiting, 0, -1), [entry('p2'), entry('p3'), entry('old')]);
      const second = (await runScript(redis, 'promote', [k.scheduled, k.waiting], [1000])) as number[];
      assert.deepEqual(second.slice(0, 2), [1, now + 60_000]);
      assert.equal(await redis.lindex(k.waiting, 0), entry('p1'));
      // run again: nothing due, nothing moves
      assert.deepEqual(((await runScript(redis, 'promote', [k.scheduled, k.waiting], [1000])) as number[]).slice(0, 2), [0, now + 60_000]);
      await redis.zrem(k.scheduled, entry('later'));
      assert.deepEqual(((await runScript(redis, 'promote', [k.scheduled, k.waiting], [1000])) as number[]).slice(0, 2), [0, -1]);
      assert.equal(await redis.exists(k.scheduled), 0);
    },
  },
  {
    name: "promote with the schedules' times reads the first schedule's due time, writing nothing to them",
    run: async ({ redis, q }) => {
      const k = q.keys;
      const now = await redisNow(redis);
      const keys = [k.scheduled, k.waiting, k.scheduleTimes];
      assert.equal(((await runScript(redis, 'promote', keys, [10])) as number[])[3], -1, 'no schedule: -1');
      await redis.zadd(k.scheduleTimes, now + 5000, 'b', now - 7, 'a');
      await redis.zadd(k.scheduled, now - 1, entry('x'));
      const [moved, nextDue, , scheduleDue] = (await runScript(redis, 'promote', keys, [10])) as number[];
      assert.equal(moved, 1, 'promotion works as without the key');
      assert.equal(nextDue, -1);
      assert.equal(scheduleDue, now - 7, 'the earliest schedule, due or not');
      assert.deepEqual(await redis.zrange(k.scheduleTimes, 0, -1, 'WITHSCORES'), ['a', String(now - 7), 'b', String(now + 5000)]);
      assert.equal(((await runScript(redis, 'promote', [k.scheduled, k.waiting], [10])) as number[])[3], -1, 'not asked: -1');
    },
  },
  {
    name: 'run-now moves the exact scheduled entry to the back of the line once; validates before it writes',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const now = await redisNow(redis);
      await redis.zadd(k.scheduled, now + 60_000, entry('later'), now + 60_000, entry('twin'));
      await redis.lpush(k.waiting, entry('old'));
      assert.equal(await runScript(redis, 'run-now', [k.scheduled, k.waiting], [entry('later')]), 1);
      assert.deepEqual(await redis.lrange(k.waiting, 0, -1), [entry('later'), entry('old')], 'joins the back of the line');
      assert.deepEqual(await redis.zrange(k.scheduled, 0, -1), [entry('twin')], 'only that entry');
      assert.equal(await runScript(redis, 'run-now', [k.scheduled, k.waiting], [entry('later')]), 0, 'a second call finds nothing');
      assert.equal(await redis.llen(k.waiting), 2);
      await redis.del(k.waiting);
      await redis.set(k.waiting, 'not a list');
      await assert.rejects(runScript(redis, 'run-now', [k.scheduled, k.waiting], [entry('twin')]), /WRONGTYPE waiting is a string/);
      assert.equal(await redis.zcard(k.scheduled), 1, 'kept');
    },
  },
  {
    name: 'promote validates before it writes: a waiting key of another type moves nothing',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const now = await redisNow(redis);
      await redis.zadd(k.scheduled, now - 1, entry('x'));
      await redis.set(k.waiting, 'not a list');
      await assert.rejects(runScript(redis, 'promote', [k.scheduled, k.waiting], [10]), /WRONGTYPE waiting is a string/);
      assert.equal(await redis.zcard(k.scheduled), 1);
    },
  },
  {
    name: 'retry is token-checked: it schedules the run with attempt + 1 and failures + 1 at TIME + delay; a stale run writes nothing',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const first = entry('r1');
      await redis.lpush(k.worker('w1'), first);
      const keys = [k.worker('w1'), k.scheduled, k.waiting];
      const [status, due, now] = (await runScript(redis, 'retry', keys, [first, 2000])) as number[];
      assert.equal(status, 1);
      assert.equal(due, (now as number) + 2000);
      const [scheduled, score] = await redis.zrange(k.scheduled, 0, -1, 'WITHSCORES');
      assert.equal(Number(score), due);
      assert.equal(scheduled, first.replace('1|0|0||', '1|1|0||').replace('|3|[1,2]', '|3|f=1|[1,2]'), 'f=1 is added');
      const decoded = decodeEntry(scheduled as string, 1e6);
      assert.ok(decoded.ok && decoded.task.failures === 1 && decoded.task.attempt === 1 && decoded.task.cutoffs === 0);
      assert.equal(await redis.exists(k.worker('w1')), 0);
      // run twice (a resend): nothing more
      assert.equal(((await runScript(redis, 'retry', keys, [first, 2000])) as number[])[0], 0);
      assert.equal(await redis.zcard(k.scheduled), 1);
      // the retried run, taken again, throws again: f=1 becomes f=2, other options stay; delay 0 pushes at once
      await redis.del(k.scheduled);
      await redis.lpush(k.worker('w1'), scheduled as string);
      assert.equal(((await runScript(redis, 'retry', keys, [first, 0])) as number[])[0], 0, 'the old token cannot touch the new run');
      assert.equal(((await runScript(redis, 'retry', keys, [scheduled as string, 0])) as number[])[0], 1);
      assert.deepEqual(await redis.lrange(k.waiting, 0, -1), [first.replace('1|0|0||', '1|2|0||').replace('|3|[1,2]', '|3|f=2|[1,2]')]);
      // an entry with options keeps them and counts up its f
      const withRetries = entry('r2', { retries: 4 });
      assert.match(withRetries, /\|3\|f=0;r=4\|\[1,2\]$/);
      await redis.lpush(k.worker('w1'), withRetries);
      await runScript(redis, 'retry', keys, [withRetries, 0]);
      assert.match((await redis.lindex(k.waiting, 0)) ?? '', /^1\|1\|0\|\|r2\|add\|1000\|3\|f=1;r=4\|\[1,2\]$/);
    },
  },
  {
    name: 'retry keeps cut-offs and the cut-off reason, big integers byte for byte, and refuses what it cannot parse',
    run: async ({ redis, q }) => {
      const k = q.keys;
      const keys = [k.worker('w1'), k.scheduled, k.waiting];
      const cut = '1|3|2|crashed|c1|add|1000|3|[12345678901234567890,0.1]';
      await redis.lpush(k.worker('w1'), cut, 'garbage');
      await runScript(redis, 'retry', keys, [cut, 0]);
      assert.equal(await redis.lindex(k.waiting, 0), '1|4|2|crashed|c1|add|1000|3|f=1|[12345678901234567890,0.1]');
      assert.equal(((await runScript(redis, 'retry', keys, ['garbage', 0])) as number[])[0], -1);
      assert.deepEqual(await redis.lrange(k.worker('w1'), 0, -1), ['garbage'], 'nothing written');
      await redis.del(k.waiting);
      await redis.lpush(k.worker('w1'), cut);
      await redis.set(k.scheduled, 'x');
      await assert.rejects(runScript(redis, 'retry', keys, [cut, 10]), /WRONGTYPE scheduled is a string/);
      assert.equal(await redis.llen(k.worker('w1')), 2, 'the run is still held');
      assert.deepEqual(
        (await queueKeysNow(redis, q)).map((key) => key.slice(key.lastIndexOf(':') + 1)),
        ['scheduled', 'w1'],
      );
    },
  },
];
