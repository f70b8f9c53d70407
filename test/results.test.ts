// Results (`keepResult` + `queue.result(id)`): written by the script that releases the run or not at all,
// read by a blocking XREAD from 0-0 (a late wait loses nothing, a reconnect loses nothing), failures and
// cancels as typed errors, nothing in Redis for tasks that do not opt in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CancelledError, defineTask, InlineWorker, Queue, ResultTimeoutError, TaskFailedError } from '../src/index.ts';
import { runScript } from '../src/scripts.ts';
import { add, cooperative, echo, fail } from './fixtures/tasks.ts';
import { FIXTURES, useInspector, ledgerFile, queueKeysNow, readLedger, runUntil, waitFor, withQueue } from './helpers.ts';

const redis = useInspector();

const KEEP = { keepResult: { ttlMs: 60_000 } };

test('a kept result reaches a wait that started before the run and one that starts after it; the key expires; plain tasks keep nothing', () =>
  withQueue(redis, async (q) => {
    const id = await add.with(KEEP).delay(q, 1, 2);
    const plain = await add.delay(q, 5, 5);
    const early = q.result(id, { timeoutMs: 30_000 });
    const w = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false });
    await runUntil(w, 'both to run', async () => (await q.waiting()) === 0 && (await redis.exists(q.keys.result(id))) === 1);
    assert.equal(await early, 3);
    assert.equal(await q.result(id, { timeoutMs: 1000 }), 3, 'a late wait gets it at once');
    const ttl = await redis.pttl(q.keys.result(id));
    assert.ok(ttl > 50_000 && ttl <= 60_000, `ttl ${ttl}`);
    const found = await q.task(id);
    assert.ok(found.state === 'succeeded' && found.value === 3, JSON.stringify(found));
    assert.equal(await redis.exists(q.keys.result(plain)), 0);
    await assert.rejects(q.result(plain, { timeoutMs: 300 }), ResultTimeoutError);
    const left = (await queueKeysNow(redis, q)).filter((k) => !k.endsWith(':sweep'));
    // The kept result, and the notifications the waits read (the stream goes a minute after its last item).
    assert.deepEqual(left, [q.keys.result(id), q.keys.results]);
    const notified = await redis.pttl(q.keys.results);
    assert.ok(notified > 50_000 && notified <= 60_000, `results stream ttl ${notified}`);
  }));

test('keepResult on the definition; failures and cancels resolve the wait with typed errors; maxResultBytes', () =>
  withQueue(
    redis,
    async (q) => {
      const kept = defineTask('keptDouble', (n: number) => n * 2, { keepResult: { ttlMs: 10_000 } });
      const big = defineTask('keptBig', (n: number) => 'x'.repeat(n), { keepResult: { ttlMs: 10_000 } });
      const doubled = await kept.delay(q, 21);
      const failed = await fail.with(KEEP).delay(q, 'boom');
      const removed = await echo.with({ ...KEEP, delayMs: 60_000 }).delay(q, 1);
      const tooBig = await big.delay(q, 1000);
      const ledger = ledgerFile();
      const running = await cooperative.with(KEEP).delay(q, ledger);
      assert.equal(await q.cancel(removed), 'removed');
      await assert.rejects(
        q.result(removed, { timeoutMs: 1000 }),
        (err: unknown) => err instanceof CancelledError && err.reason === 'cancelled',
      );
      const w = new InlineWorker({ queue: q, tasks: [kept, big, FIXTURES], handleSignals: false, leaseMs: 600, concurrency: 4 });
      await runUntil(w, 'the running task to be cancelled', async () => {
        if (readLedger(ledger).length > 0 && !(await redis.hexists(q.keys.cancel, running)) && (await q.task(running)).state === 'running')
          await q.cancel(running);
        return (await redis.exists(q.keys.result(running))) === 1;
      });
      assert.equal(await q.result(doubled), 42);
      await assert.rejects(
        q.result(failed),
        (err: unknown) => err instanceof TaskFailedError && err.reason === 'thrown' && /boom/.test(err.message),
      );
      await assert.rejects(q.result(tooBig), (err: unknown) => err instanceof TaskFailedError && err.reason === 'result-not-kept');
      await assert.rejects(q.result(running), CancelledError);
      const f = await q.task(failed);
      assert.ok(f.state === 'failed' && f.reason === 'thrown');
      assert.throws(() => defineTask('x', () => 1, { keepResult: { ttlMs: -1 } }), /Expected `keepResult`/);
      await assert.rejects(add.with({ keepResult: { ttlMs: 0 } }).delay(q, 1, 2), /Expected `keepResult` to be \{ ttlMs \}/);
    },
    { maxResultBytes: 500 },
  ));

test('a stale run writes no result: finish.lua needs the exact entry in the list; the last run holding its lease wins', () =>
  withQueue(redis, async (q) => {
    const k = q.keys;
    const list = k.worker('w1');
    const entry = (attempt: number) => `1|${attempt}|0||t1|add|1000|3|f=0;k=60000|[1,2]`;
    const finish = (e: string, outcome: string) =>
      runScript(redis, 'finish', [list, k.dead, k.cancel, k.result('t1'), k.unique(''), k.results], [e, 't1', outcome, 60_000, '', 1, '']);
    await redis.lpush(list, entry(1));
    assert.equal(await finish(entry(0), '{"ok":true,"value":"stale"}'), 0, 'the run of attempt 0 lost its lease');
    assert.equal(await redis.exists(k.result('t1')), 0, 'no outcome without the release');
    assert.equal(await finish(entry(1), '{"ok":true,"value":"first"}'), 1);
    await redis.lpush(list, entry(2));
    assert.equal(await finish(entry(2), '{"ok":true,"value":"rerun"}'), 1);
    assert.match((await redis.get(k.result('t1'))) ?? '', /^\d+\|\{"ok":true,"value":"rerun"\}$/, 'the last replaced the first');
    assert.equal(await q.result('t1', { timeoutMs: 1000 }), 'rerun');
    assert.deepEqual(
      (await redis.xrange(k.results, '-', '+')).map(([, f]) => f),
      [
        ['i', 't1'],
        ['i', 't1'],
      ],
      'each told the waits',
    );
    assert.ok((await redis.pttl(k.results)) > 50_000, 'the notifications go a minute after the last');
    // A kept outcome is small: a string, not a stream (whose first node would take 4 KB).
    assert.ok(((await redis.memory('USAGE', k.result('t1'))) as number) < 200);
  }));

test(
  '10,000 waits on 10,000 tasks, the waiting and worker connections killed twice midway: every result arrives, none hangs',
  { timeout: 180_000 },
  () =>
    withQueue(redis, async (q) => {
      const n = 10_000;
      const ids = await q.enqueueMany(Array.from({ length: n }, (_, i) => ({ name: 'echo', args: [i], ...KEEP })));
      const waits = ids.map((id) => q.result<number>(id, { timeoutMs: 120_000 }));
      let settled = 0;
      for (const wait of waits) void wait.finally(() => settled++).catch(() => undefined);
      const w = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, concurrency: 32 });
      const kill = async () => {
        const list = (await redis.client('LIST')) as string;
        const victims = list
          .split('\n')
          .filter((line) => line.includes(`name=delayed:${q.name}:`))
          .map((line) => /id=(\d+)/.exec(line)?.[1])
          .filter((id): id is string => id !== undefined);
        for (const id of victims) await redis.client('KILL', 'ID', id).catch(() => 0);
        return victims.length;
      };
      let kills = 0;
      await runUntil(
        w,
        'every result',
        async () => {
          if (kills < 2 && settled >= (kills + 1) * (n / 3)) kills += (await kill()) > 0 ? 1 : 0;
          return settled === n;
        },
        150_000,
      );
      const values = await Promise.allSettled(waits);
      const lost = values.filter((v, i) => v.status !== 'fulfilled' || v.value !== i).length;
      console.log(`${n} waits, ${kills} forced reconnects: results lost ${lost}, waits hung ${n - settled}`);
      assert.equal(kills, 2);
      assert.equal(lost, 0);
      await waitFor('the queue to drain', async () => (await q.waiting()) === 0, 5000);
    }),
);

test('ids name their partition on a queue of several partitions, so any process finds the result', () =>
  withQueue(
    redis,
    async (q) => {
      const ids = await Promise.all([1, 2, 3, 4].map((i) => add.with(KEEP).delay(q, i, i)));
      assert.ok(
        ids.every((id) => /@[0-2]$/.test(id)),
        ids.join(' '),
      );
      const plain = await add.delay(q, 1, 1);
      assert.ok(!plain.includes('@'));
      const other = new Queue({ name: q.name, redis: q.redisSource, partitions: 3 });
      const w = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false });
      const results: number[] = [];
      await runUntil(w, 'the results', async () => {
        if (results.length === 0) results.push(...(await Promise.all(ids.map((id) => other.result<number>(id, { timeoutMs: 20_000 })))));
        return results.length === 4;
      });
      await other.close();
      assert.deepEqual(results, [2, 4, 6, 8]);
    },
    { partitions: 3 },
  ));
