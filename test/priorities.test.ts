// Priority levels: the weighted pattern's bound (pure), the dispatch order Redis gives a seeded backlog (every
// level busy: the task at position p of a level starts within ⌈p·Σw/w⌉ dispatches; shares equal the weights;
// empty levels give their turns away), strict order, atFront, put-backs into the entry's own level (requeue,
// recover after a lost lease, retry, promote), the configuration record, bad options, and no residue.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { ConfigMismatchError, InlineWorker, Queue } from '../src/index.ts';
import { decodeEntry } from '../src/payload.ts';
import { dispatchPattern, levelsOption, waitBound } from '../src/priorities.ts';
import { dequeue, recover, register, requeue, retry } from '../src/store.ts';
import { promote } from '../src/store-time.ts';
import { record } from './fixtures/tasks.ts';
import { monitor } from './monitor.ts';
import {
  FIXTURES,
  ON_CLUSTER,
  REDIS_URL,
  blockedOn,
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

/** Dispatch numbers (1-based) at which each level's p-th turn comes, reading `order` from `offset`. */
function worstExcess(weights: number[], offset: number): number {
  const pattern = dispatchPattern(weights);
  const total = pattern.length;
  let worst = 0;
  weights.forEach((w, level) => {
    let seen = 0;
    for (let d = 1; d <= 3 * total; d++) {
      if (pattern.charCodeAt((offset + d - 1) % total) - 48 !== level) continue;
      seen++;
      worst = Math.max(worst, d - Math.ceil((seen * total) / w));
    }
  });
  return worst;
}

test('the weighted pattern: shares equal weights; from its start every turn is within ⌈p·Σw/w⌉; from any offset at most levels - 1 later', () => {
  assert.equal(dispatchPattern([6, 3, 1]), '0010010012');
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) as number;
  for (let t = 0; t < 400; t++) {
    const weights = Array.from({ length: 2 + Math.floor(random() * 5) }, () => 1 + Math.floor(random() * 20));
    const pattern = dispatchPattern(weights);
    weights.forEach((w, i) => {
      assert.equal([...pattern].filter((c) => c.charCodeAt(0) - 48 === i).length, w);
    });
    assert.equal(worstExcess(weights, 0), 0, `from the start: ${weights}`);
    for (let offset = 1; offset < pattern.length; offset++)
      assert.ok(worstExcess(weights, offset) <= weights.length - 1, `offset ${offset}: ${weights}`);
  }
  const levels = levelsOption(WEIGHTS, undefined)!;
  assert.deepEqual(
    [0, 1, 2].map((i) => waitBound(levels, i)),
    [2, 4, 10],
  );
  assert.equal(levels.defaultIndex, 1, 'normal is the default level');
  assert.equal(levelsOption({ a: 1, b: 2 }, 'strict')!.defaultIndex, 1, 'else the last level');
});

/** Seeds `counts` tasks per level (normal first: the first push of another level into an empty queue goes to `waiting`). */
async function seed(q: Queue, counts: Record<string, number>): Promise<Map<string, { level: string; position: number }>> {
  const where = new Map<string, { level: string; position: number }>();
  for (const level of ['normal', 'high', 'low']) {
    const n = counts[level] ?? 0;
    const ids = await q.enqueueMany(Array.from({ length: n }, (_, i) => ({ name: 'add', args: [i, 0], priority: level })));
    ids.forEach((id, i) => {
      where.set(id, { level, position: i + 1 });
    });
  }
  return where;
}

const idOf = (bytes: Buffer) => {
  const d = decodeEntry(bytes.toString(), 1e6);
  assert.ok(d.ok);
  return d.task.id;
};

for (const batch of [1, 7]) {
  test(`a seeded backlog is taken within the bound, shares equal the weights, empty levels give their turns (batches of ${batch})`, () =>
    withQueue(
      redis,
      async (q) => {
        const where = await seed(q, { high: 120, normal: 60, low: 40 });
        assert.deepEqual(await Promise.all(q.keys.levels!.lists.map((k) => redis.llen(k))), [120, 60, 40]);
        await register(redis, q.keys, 'w1', 60_000, 'e', '{}');
        const order: string[] = [];
        for (;;) {
          const moved = await dequeue(redis, q.keys, 'w1', batch);
          assert.ok(moved !== 'refused');
          if (moved.length === 0) break;
          order.push(...moved.map(idOf));
        }
        assert.equal(order.length, 220);
        // While every level is busy (the first 200 dispatches: high runs out at 200), the p-th task of a level
        // starts within ⌈p·10/w⌉.
        const levels = q.levels!;
        let worst = 0;
        order.forEach((id, i) => {
          const { level, position } = where.get(id)!;
          const bound = waitBound(levels, levels.names.indexOf(level), position);
          if (i < 200) assert.ok(i + 1 <= bound, `${level} #${position} started at dispatch ${i + 1}, bound ${bound}`);
          worst = Math.max(worst, i + 1 - bound);
        });
        const share = (from: number, to: number, level: string) =>
          order.slice(from, to).filter((id) => where.get(id)!.level === level).length;
        assert.deepEqual([share(0, 100, 'high'), share(0, 100, 'normal'), share(0, 100, 'low')], [60, 30, 10], 'shares = weights');
        // Then high is empty: normal and low share what is left, low is not held back.
        assert.equal(share(200, 220, 'high'), 0);
        assert.equal(await redis.get(q.keys.dispatches), null, 'the counter leaves with the last task');
        console.log(`# batches of ${batch}: worst (dispatch - bound) over the 200 busy dispatches: ${worst}`);
      },
      { priorities: WEIGHTS },
    ));
}

test('strict order takes a level only when every level above it is empty', () =>
  withQueue(
    redis,
    async (q) => {
      const where = await seed(q, { high: 5, normal: 5, low: 5 });
      await register(redis, q.keys, 'w1', 60_000, 'e', '{}');
      const moved = await dequeue(redis, q.keys, 'w1', 15);
      assert.ok(moved !== 'refused');
      const levels = moved.map((b) => where.get(idOf(b))!.level);
      assert.deepEqual(levels, [...Array(5).fill('high'), ...Array(5).fill('normal'), ...Array(5).fill('low')]);
      assert.equal(await redis.get(q.keys.dispatches), null, 'strict order keeps no counter');
    },
    { priorities: WEIGHTS, priorityOrder: 'strict' },
  ));

test('atFront is taken next, with or without levels; a lone task of another level wakes a blocked worker at once', async () => {
  await withQueue(redis, async (q) => {
    const a = await q.enqueue('add', [1, 1]);
    const b = await q.enqueue('add', [2, 2]);
    const c = await q.enqueue('add', [3, 3], { atFront: true });
    await register(redis, q.keys, 'w1', 60_000, 'e', '{}');
    const moved = await dequeue(redis, q.keys, 'w1', 3);
    assert.ok(moved !== 'refused');
    assert.deepEqual(moved.map(idOf), [c, a, b]);
  });
  await withQueue(
    redis,
    async (q) => {
      const n = await q.enqueue('add', [1, 1]);
      const l = await q.enqueue('add', [2, 2], { priority: 'low', atFront: true });
      const l2 = await q.enqueue('add', [2, 2], { priority: 'low' });
      assert.deepEqual(await redis.lrange(q.keys.levelWaiting('low'), 0, -1).then((x) => x.map((e) => idOf(Buffer.from(e)))), [l2, l]);
      assert.deepEqual(
        (await redis.lrange(q.keys.waiting, 0, -1)).map((e) => idOf(Buffer.from(e))),
        [n],
      );
    },
    { priorities: WEIGHTS },
  );
  await withQueue(
    redis,
    async (q) => {
      let sent = '';
      let sentAt = 0;
      let inLevel = -1;
      let tookMs = Number.NaN;
      const rec = recorder();
      // Measured at the success, not after runUntil: a close on a cluster waits out the block (no CLIENT UNBLOCK).
      const successHandler: typeof rec.successHandler = (task, result) => {
        tookMs = performance.now() - sentAt;
        rec.successHandler(task, result);
      };
      const w = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, successHandler });
      await runUntil(w, 'the high task', async () => {
        // Once the worker is idle, blocked on `waiting` (on a cluster its blocking connection finds its node
        // after 'ready'), a high task into an empty queue goes to `waiting`, where the blocked move takes it.
        if (!sent && (await blockedOn(redis, q.name))) {
          // Before the call: the task may run and succeed before the enqueue's reply is read.
          sentAt = performance.now();
          sent = await q.enqueue('add', [1, 2], { priority: 'high' });
          // It went to `waiting` (where the blocked move takes it), not to its level's list.
          inLevel = (await redis.lrange(q.keys.levelWaiting('high'), 0, -1)).length;
        }
        return rec.outcomes.length === 1;
      });
      assert.equal(inLevel, 0, 'a lone task of another level goes where the blocked worker waits');
      // Promise: at once (one blocked move); bound 1 s for a loaded 2-core machine (351 ms seen with a CPU burner).
      assert.ok(tookMs < 1000, `taken ${tookMs.toFixed(0)} ms after the enqueue call`);
      assert.equal(rec.outcomes[0]?.id, sent);
    },
    { priorities: WEIGHTS },
  );
});

test(
  'an idle worker of a queue with levels blocks as long as a plain one (no polling); a new high task, and a delayed one coming due, wake it',
  { skip: ON_CLUSTER && 'MONITOR counts commands on a single Redis' },
  () =>
    withQueue(
      redis,
      async (q) => {
        const seen: { at: number; args: string[] }[] = [];
        const watch = await monitor(REDIS_URL, (args) => {
          if (args.some((a) => a.includes(`{${q.name}}`))) seen.push({ at: performance.now(), args });
        });
        const rec = recorder();
        const w = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, successHandler: rec.successHandler });
        const running = w.run();
        try {
          await waitFor('the worker to block on waiting', () => blockedOn(redis, q.name));
          // An idle spell of 3 s: blocking moves of 1 s each (BLOCK_SECONDS), not 0.25 s ones (12 in 3 s).
          const from = performance.now();
          await new Promise((resolve) => setTimeout(resolve, 3000));
          const idle = seen.filter((c) => c.at >= from && c.at < from + 3000);
          const moves = idle.filter((c) => c.args[0]?.toUpperCase() === 'BLMOVE').length;
          console.log(`# idle 3 s: ${moves} blocking moves, ${idle.length} commands on the queue's keys`);
          assert.ok(moves <= 4, `${moves} blocking moves in 3 s (1 s blocks: at most 4; 0.25 s blocks would make ~12)`);
          // A new high task wakes the blocked worker at once.
          const sentAt = performance.now();
          const high = await q.enqueue('add', [1, 2], { priority: 'high' });
          await waitFor('the high task', () => rec.outcomes.length === 1);
          const tookMs = performance.now() - sentAt;
          // Promise: at once (one blocked move); 1 s block + margin would be the polling worst case, so bound
          // 500 ms on a loaded 2-core machine.
          assert.ok(tookMs < 500, `high task taken ${tookMs.toFixed(0)} ms after the enqueue`);
          assert.equal(rec.outcomes[0]?.id, high);
          // A delayed low task coming due goes to `waiting` (every list empty), where the blocked move takes it.
          // 1.5 s of notice: more than one sweep interval, so the worker's promotion timer is set for its due time
          // (README "Later": lateness p99 48 ms loaded); in the low level's list it would wait up to a 1 s block.
          await waitFor('the worker to block again', () => blockedOn(redis, q.name));
          const due = Date.now() + 1500;
          const later = await q.enqueue('add', [3, 4], { priority: 'low', delayMs: 1500 });
          await waitFor('the delayed task', () => rec.outcomes.length === 2);
          const lateMs = Date.now() - due;
          console.log(`# high task taken ${tookMs.toFixed(0)} ms after its enqueue; delayed low task done ${lateMs} ms after its due time`);
          assert.equal(rec.outcomes[1]?.id, later);
          assert.ok(lateMs < 500, `delayed task done ${lateMs} ms after its due time (bound 500 ms on a loaded machine)`);
        } finally {
          watch.close();
          await w.close();
          await running;
        }
      },
      { priorities: WEIGHTS },
    ),
);

test("requeue, recover after a lost lease, retry and promote put an entry back into its own level's list", () =>
  withQueue(
    redis,
    async (q) => {
      const k = q.keys;
      const high = await q.enqueue('add', [1, 1], { priority: 'high' }); // alone: goes to `waiting`
      await q.enqueue('add', [2, 2]);
      const low = await q.enqueue('add', [3, 3], { priority: 'low' });
      await register(redis, k, 'w1', 150, 'e', '{}');
      const moved = await dequeue(redis, k, 'w1', 3);
      assert.ok(moved !== 'refused' && moved.length === 3);
      const byId = new Map(moved.map((b) => [idOf(b), b.toString()]));
      assert.equal(await requeue(redis, k.worker('w1'), k, byId.get(high)!, null), 'requeued');
      assert.equal((await redis.lrange(k.levelWaiting('high'), 0, -1)).map((e) => idOf(Buffer.from(e)))[0], high, 'requeue: own level');
      const retried = await retry(redis, k.worker('w1'), k, byId.get(low)!, 0);
      assert.equal(retried.status, 'scheduled');
      assert.equal(await redis.llen(k.levelWaiting('low')), 1, 'retry due at once: own level');
      // The lease runs out with the normal task held: recovery puts it back into `waiting`.
      await waitFor('the lease to end', async () => (await recover(redis, k, 'w1', 'lost', [0, 0])).moved === 1, 5000);
      assert.equal(await redis.llen(k.waiting), 1);
      // Promotion of a scheduled high task: into the high list.
      await q.enqueue('add', [4, 4], { priority: 'high', delayMs: 1 });
      await waitFor('promotion', async () => (await promote(redis, k)).moved === 1, 5000);
      assert.equal(await redis.llen(k.levelWaiting('high')), 2);
      assert.equal(await redis.llen(k.waiting), 1);
    },
    { priorities: WEIGHTS },
  ));

test('a worker drains every level, taking urgent work first, and leaves no key; other levels are a configuration mismatch', () =>
  withQueue(
    redis,
    async (q) => {
      const where = await seed(q, { high: 30, normal: 30, low: 30 });
      const rec = recorder();
      const w = new InlineWorker({ queue: q, tasks: [FIXTURES], concurrency: 1, handleSignals: false, successHandler: rec.successHandler });
      const plain = new Queue({ name: q.name, redis: REDIS_URL });
      const other = new Queue({ name: q.name, redis: REDIS_URL, priorities: { high: 5, normal: 5 } });
      try {
        await runUntil(w, '90 outcomes', async () => {
          if (rec.outcomes.length === 1) {
            await assert.rejects(plain.enqueue('add', [1, 1]), ConfigMismatchError);
            await assert.rejects(other.enqueue('add', [1, 1]), ConfigMismatchError);
          }
          return rec.outcomes.length >= 90;
        });
      } finally {
        await plain.close();
        await other.close();
      }
      assert.equal(rec.outcomes.length, 90);
      const first30 = rec.outcomes.slice(0, 30).map((o) => where.get(o.id)!.level);
      assert.ok(first30.filter((l) => l === 'high').length >= 17, `high's share of the first 30: ${first30}`);
      // Left at most: the sweep lock, which expires one sweep interval after it was taken.
      const left = (await queueKeysNow(redis, q)).filter((key) => !key.endsWith(':sweep'));
      assert.deepEqual(left, [], 'no level list, counter, epoch or record left');
    },
    { priorities: WEIGHTS },
  ));

test('bad options are refused with typed errors before anything is written', () =>
  withQueue(
    redis,
    async (q) => {
      const cases: [object, RegExp][] = [
        [{ priority: 'urgent' }, /Expected `priority` to be one of high, normal, low, got `"urgent"`/],
        [{ atFront: 'yes' }, /Expected `atFront` to be a boolean, got `string`/],
        [{ atFront: true, delayMs: 5 }, /Expected `atFront` without `delayMs` or `runAt`/],
      ];
      for (const [options, message] of cases) await assert.rejects(q.enqueue('add', [1], options), message);
      const plain = new Queue({ name: `${q.name}-plain`, redis: REDIS_URL });
      await assert.rejects(plain.enqueue('add', [1], { priority: 'high' }), /Expected no `priority` on a queue without `priorities`/);
      await plain.close();
      for (const [options, message] of [
        [{ priorities: { only: 1 } }, /2 to 10 levels, got 1/],
        [{ priorities: { high: 0, low: 1 } }, /weight of level high to be an integer from 1 to 100, got `0`/],
        [{ priorities: { High: 1, low: 1 } }, /priority level name/],
        [{ priorityOrder: 'strict' }, /Expected `priorities` with `priorityOrder`/],
        [{ priorities: WEIGHTS, priorityOrder: 'fifo' }, /'weighted' or 'strict'/],
      ] as [object, RegExp][])
        assert.throws(() => new Queue({ name: 'x', ...options }), message);
      assert.deepEqual(await queueKeysNow(redis, q), []);
    },
    { priorities: WEIGHTS },
  ));

test('delayed status shows each level with its waiting count and the bound, read from the configuration record', () =>
  withQueue(
    redis,
    async (q) => {
      await seed(q, { high: 3, normal: 2, low: 1 });
      const { queueStatus } = await import('../src/index.ts');
      const { renderStatus } = await import('../src/cli/render.ts');
      // A status reader made without `priorities` (the CLI) finds them in the record.
      const reader = new Queue({ name: q.name, redis: REDIS_URL });
      try {
        const s = await queueStatus(reader);
        assert.equal(s.waiting, 6);
        assert.deepEqual(s.levels, {
          order: 'weighted',
          defaultLevel: 'normal',
          levels: [
            { name: 'high', weight: 6, waiting: 3, headBound: 2 },
            { name: 'normal', weight: 3, waiting: 2, headBound: 4 },
            { name: 'low', weight: 1, waiting: 1, headBound: 10 },
          ],
        });
        const text = renderStatus(s).join('\n');
        assert.match(text, /high\s+3 waiting\s+weight 6\s+≤ 2 dispatches/);
        assert.match(text, /low\s+1 waiting\s+weight 1\s+≤ 10 dispatches/);
        console.log(text);
      } finally {
        await reader.close();
      }
      assert.equal(await q.waiting(), 6);
    },
    { priorities: WEIGHTS },
  ));

test('kill -9 of a worker holding tasks of two levels: recovery puts each back into its own level, nothing is lost', () =>
  withQueue(
    redis,
    async (q) => {
      const ledger = ledgerFile();
      const filler = await q.enqueue('add', [0, 0]); // the queue is not empty, so the next pushes go to their levels
      const high = await record.with({ priority: 'high' }).delay(q, ledger, 30_000);
      const low = await record.with({ priority: 'low' }).delay(q, ledger, 30_000);
      const victim = workerProcess(q, { KIND: 'inline', CONCURRENCY: '3', LEASE_MS: '1000', PRIORITIES: JSON.stringify(WEIGHTS) });
      try {
        await waitFor(
          'both long tasks to start and the filler to finish',
          () =>
            readLedger(ledger).filter((l) => l.event === 'start').length === 2 &&
            victim.events.some((e) => e.event === 'success') &&
            victim.events.some((e) => e.event === 'registered'),
        );
        const registered = victim.events.find((e) => e.event === 'registered');
        assert.ok(registered);
        victim.proc.kill('SIGKILL');
        await victim.exited;
        const workerId = String(registered.workerId);
        await waitFor(
          'the lease to end and recovery',
          async () => (await recover(redis, q.keys, workerId, 'lost', [0, 0])).removed,
          10_000,
        );
        const ids = async (list: string) => (await redis.lrange(list, 0, -1)).map((e) => idOf(Buffer.from(e)));
        assert.deepEqual(await ids(q.keys.levelWaiting('high')), [high]);
        assert.deepEqual(await ids(q.keys.levelWaiting('low')), [low]);
        assert.deepEqual(await ids(q.keys.worker(workerId)), []);
        const finished = victim.events.filter((e) => e.event === 'success').map((e) => e.id);
        assert.deepEqual(finished, [filler], 'the filler ran before the kill');
      } finally {
        victim.proc.kill('SIGKILL');
      }
    },
    { priorities: WEIGHTS },
  ));
