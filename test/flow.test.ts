// limit() and semaphore() inside tasks (src/flow.ts), on real Redis with real workers: a refused limit puts the
// task back to run when the key next allows it (uncounted: not a failure, not an attempt, the worker's slots
// free for other tasks); the limit's bound holds across two worker processes; a semaphore never has more than
// n holders, in children too, and a run's slots come back whatever its ending; nothing is left in Redis but
// limit keys living out their GCRA TTL. Kill -9 of holders: test/faults/semaphore-kills.test.ts. The scripts
// on both stores: test/conformance/flow-cases.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { ForkedWorker, InlineWorker, limit, PreforkedWorker, Queue, semaphore, StateError } from '../src/index.ts';
import { memoryStore, recordOutcomes } from '../src/testing.ts';
import { add } from './fixtures/tasks.ts';
import { guarded, keeps, limited, swallows } from './fixtures/flow-tasks.ts';
import { busiest, flowLedger, mostAtOnce } from './flow-ledger.ts';
import {
  inspector,
  ledgerFile,
  ON_CLUSTER,
  queueKeysNow,
  REDIS_URL,
  recorder,
  runUntil,
  waitFor,
  withQueue,
  workerProcess,
} from './helpers.ts';
import { monitor } from './monitor.ts';
import { scriptSha } from '../src/scripts.ts';

const FLOW_TASKS = new URL('./fixtures/flow-tasks.ts', import.meta.url).href;
const TASKS = new URL('./fixtures/tasks.ts', import.meta.url).href;

let redis: Redis;
before(() => {
  redis = inspector();
});
after(async () => {
  await redis.quit();
});

/** The queue's keys other than those of a live or drained queue's own bookkeeping. */
async function flowKeys(q: Queue): Promise<string[]> {
  return (await queueKeysNow(redis, q)).filter((k) => /:(limit|sem|holds):/.test(k));
}

test('a refused limit() puts the task back to run when the key next allows it: uncounted (maxAttempts 1 is enough), and other tasks run meanwhile', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const rec = recorder();
    const worker = new InlineWorker({ queue: q, tasks: [FLOW_TASKS, TASKS], concurrency: 4, handleSignals: false, ...rec });
    const put: number[] = [];
    worker.on('limited', (_task, delayMs) => put.push(delayMs));
    let retries = 0;
    worker.on('retry', () => retries++);
    // 1 call per 700 ms on one key: three tasks pass at about 0, 700 and 1400 ms.
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await limited.with({ maxAttempts: 1 }).delay(q, ledger, 'api', 1, 700, 1, 0));
    const other = await add.delay(q, 2, 3);
    await runUntil(worker, 'every task to finish', () => rec.outcomes.length === 4, 30_000);
    assert.deepEqual(
      rec.outcomes.filter((o) => !o.ok),
      [],
      'no failure: a put-back is not one',
    );
    assert.equal(retries, 0, 'no retry either');
    assert.equal(rec.byId(other)?.result, 5);
    const passes = flowLedger(ledger).filter((l) => l.event === 'pass');
    assert.deepEqual(passes.map((l) => l.id).sort(), [...ids].sort(), 'each passed once');
    const times = passes.map((l) => l.ms).sort((a, b) => a - b);
    for (let i = 1; i < times.length; i++) {
      const gap = (times[i] as number) - (times[i - 1] as number);
      // GCRA spaces passes by the interval on Redis' clock; the stamps come a little after (margin 100 ms).
      assert.ok(gap >= 700 - 100, `passes ${gap} ms apart, interval 700 ms`);
    }
    assert.ok(put.length >= 2, `tasks gave way ${put.length} times`);
    for (const ms of put) assert.ok(ms >= 1 && ms <= 1400, `put back for ${ms} ms, at most two intervals`);
    // The later passes ran again: their attempt counts runs, yet maxAttempts 1 did not fail them.
    assert.ok(
      passes.some((l) => l.attempt > 0),
      'a task that gave way passed on a later run',
    );
    assert.ok(
      times.at(-1)! - times[0]! <= 1400 + 1500,
      `no longer than needed (+1.5 s for a loaded machine): ${times.at(-1)! - times[0]!} ms`,
    );
    // Only the limit's keys may be left (no semaphore or holds key), living out their GCRA times (700 ms after the
    // last pass or turn: they may be gone already).
    const left = await flowKeys(q);
    assert.ok(
      left.every((k) => k.endsWith('}:limit:api') || k.endsWith('}:limit-line:api')),
      `only the limit's keys are left: ${left.join(', ')}`,
    );
    for (const key of left) {
      const ttl = await redis.pttl(key);
      assert.ok(ttl === -2 || (ttl > 0 && ttl <= 1400), `the limit's keys live out their GCRA times only (${ttl} ms)`);
    }
  }));

test('limit() keeps its bound across two worker processes (children): at most limit·T/perMs + burst passes in any window T', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const rate = { limit: 10, perMs: 1000, burst: 2 };
    const n = 30;
    await q.enqueueMany(
      Array.from({ length: n }, () => ({ name: 'limited', args: [ledger, 'shared', rate.limit, rate.perMs, rate.burst, 0] })),
    );
    const env = { KIND: 'preforked', CONCURRENCY: '3', TASKS: './flow-tasks.ts' };
    const workers = [workerProcess(q, env), workerProcess(q, env)];
    try {
      await waitFor('every task to pass', () => flowLedger(ledger).filter((l) => l.event === 'pass').length === n, 60_000);
    } finally {
      for (const w of workers) w.proc.kill('SIGKILL');
    }
    const passes = flowLedger(ledger).filter((l) => l.event === 'pass');
    assert.equal(new Set(passes.map((l) => l.id)).size, n, 'each task passed once');
    assert.equal(new Set(passes.map((l) => l.pid)).size > 1, true, 'passes came from several child processes');
    const times = passes.map((l) => l.ms);
    const margin = 150; // each stamp comes a little after its call was let through
    for (const windowMs of [100, 500, 1000, 2000]) {
      const bound = Math.floor((rate.limit * (windowMs + margin)) / rate.perMs) + rate.burst;
      const seen = busiest(times, windowMs);
      console.log(`# window ${windowMs} ms: at most ${seen} passes (bound ${bound} with the ${margin} ms margin)`);
      assert.ok(seen <= bound, `${seen} passes within ${windowMs} ms, bound ${bound}`);
    }
    const failures = workers.flatMap((w) => w.events).filter((e) => e.event === 'failure');
    assert.deepEqual(failures, [], 'no failure');
  }));

test('semaphore(): never more than n holders (children of a PreforkedWorker), slots back at the run end whatever it is, no key left', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const rec = recorder();
    const worker = new PreforkedWorker({ queue: q, tasks: [FLOW_TASKS], concurrency: 4, handleSignals: false, ...rec });
    const n = 2;
    for (let i = 0; i < 8; i++) await guarded.delay(q, ledger, 'erp', n, 150, 50);
    // Runs that end holding a slot (returned, threw): the slot comes back, or the `guarded` ones could not all run.
    const kept = await keeps.delay(q, 'solo', 'return');
    const threw = await keeps.with({ maxAttempts: 1 }).delay(q, 'solo', 'throw');
    const crashed = await keeps.with({ maxAttempts: 1 }).delay(q, 'solo', 'exit');
    const after = [await keeps.delay(q, 'solo', 'return')];
    await runUntil(worker, 'every task to finish', () => rec.outcomes.length === 12, 60_000);
    const lines = flowLedger(ledger);
    assert.equal(lines.filter((l) => l.event === 'rel').length, 8, 'all 8 held and gave back');
    const most = mostAtOnce(lines);
    console.log(`# semaphore of ${n}: at most ${most} holders at once (8 tasks on 4 children)`);
    assert.equal(most, n, `never more than ${n}, and ${n} were used`);
    assert.equal(rec.byId(kept)?.result, 'kept');
    assert.equal(rec.byId(threw)?.reason, 'thrown');
    assert.equal(rec.byId(crashed)?.reason, 'crashed');
    assert.equal(rec.byId(after[0]!)?.result, 'kept', 'a later task got the slot the ended runs held');
    assert.deepEqual(await flowKeys(q), [], 'no semaphore or holds key left');
  }));

test('limit() and semaphore() outside a task run by a worker throw StateError; bad input throws InvalidOptionError; a swallowed refusal ends as the task returns', () =>
  withQueue(redis, async (q) => {
    await assert.rejects(limit('k', { limit: 1, perMs: 1000 }), StateError);
    await assert.rejects(semaphore('s', 1), StateError);
    await assert.rejects(limit('', { limit: 1, perMs: 1000 }), /Expected the limit key to be a string of 1 to 200 characters, got `""`/);
    await assert.rejects(limit('k', { limit: 0, perMs: 1000 }), /Expected `limit` to be an integer from 1 to 1,000,000, got `0`/);
    await assert.rejects(limit('k', { limit: 1, perMs: 1.5 }), /Expected `perMs` to be an integer/);
    await assert.rejects(semaphore('s', 0), /Expected the semaphore size to be an integer from 1 to 1,000,000, got `0`/);
    await assert.rejects(semaphore('s', 1, { retryAfterMs: -1 }), /Expected `retryAfterMs` to be an integer/);
    const rec = recorder();
    const worker = new InlineWorker({ queue: q, tasks: [FLOW_TASKS], concurrency: 1, handleSignals: false, ...rec });
    const first = await swallows.delay(q, 'once');
    const second = await swallows.delay(q, 'once');
    await runUntil(worker, 'both tasks', () => rec.outcomes.length === 2, 30_000);
    assert.equal(rec.byId(first)?.result, 'passed');
    assert.equal(rec.byId(second)?.result, 'refused limit true', 'the task caught the refusal and returned: it finished');
  }));

for (const kind of ['inline', 'forked', 'preforked'] as const) {
  test(`limit() and semaphore() on the memory store (${kind} worker): put back and run later, n holders at most, no key left`, async () => {
    const store = memoryStore(`flow-${kind}-${Date.now()}`);
    const queue = new Queue({ name: 'jobs', redis: store.url });
    const Kind = { inline: InlineWorker, forked: ForkedWorker, preforked: PreforkedWorker }[kind];
    const worker = new Kind({ queue, tasks: [FLOW_TASKS], concurrency: 3, handleSignals: false });
    const outcomes = recordOutcomes(worker);
    const ledger = ledgerFile();
    // The three limited tasks call limit() together (however slowly their children start): two are refused.
    const passes = [];
    for (let i = 0; i < 3; i++) passes.push(await limited.delay(queue, ledger, 'api', 1, 200, 1, 3));
    const holders = [];
    for (let i = 0; i < 4; i++) holders.push(await guarded.delay(queue, ledger, 'erp', 1, 50, 50));
    const running = worker.run();
    try {
      await store.drain(queue, { timeoutMs: 30_000 });
      for (const id of [...passes, ...holders]) assert.equal((await outcomes.of(id)).status, 'succeeded');
      const lines = flowLedger(ledger);
      assert.ok(
        lines.some((l) => l.event === 'pass' && l.attempt > 0),
        'a limited task ran again later',
      );
      assert.equal(mostAtOnce(lines), 1, 'one holder at a time');
    } finally {
      await worker.close();
      await running;
      await queue.close();
    }
    const client = store.connect();
    assert.deepEqual(
      (await client.keys('*')).filter((k) => /:(sem|holds):/.test(k)),
      [],
    );
    await client.quit();
  });
}

test(
  'cost: limit() is one script call, semaphore() two (take, give back), a refused call one more (the put-back)',
  { skip: ON_CLUSTER ? 'MONITOR needs a single Redis' : false },
  () =>
    withQueue(redis, async (q) => {
      const ledger = ledgerFile();
      const names = ['limit', 'sem-acquire', 'sem-release', 'put-back'] as const;
      const bySha = new Map<string, string>(names.map((n) => [scriptSha(n), n]));
      const calls: Record<string, number> = {};
      const mon = await monitor(REDIS_URL, (args) => {
        const name = args[0]?.toLowerCase() === 'evalsha' ? bySha.get(args[1] ?? '') : undefined;
        if (name) calls[name] = (calls[name] ?? 0) + 1;
      });
      const rec = recorder();
      const worker = new InlineWorker({ queue: q, tasks: [FLOW_TASKS], concurrency: 1, handleSignals: false, ...rec });
      try {
        await limited.delay(q, ledger, 'c', 1, 60_000, 1, 0);
        await guarded.delay(q, ledger, 'erp', 1, 0, 100);
        await runUntil(worker, 'both tasks', () => rec.outcomes.length === 2, 30_000);
        const refused = await limited.delay(q, ledger, 'c', 1, 60_000, 1, 0);
        const again = new InlineWorker({ queue: q, tasks: [FLOW_TASKS], concurrency: 1, handleSignals: false });
        const put: string[] = [];
        again.on('limited', (task) => put.push(task.id));
        await runUntil(again, 'the put-back', () => put.length === 1, 30_000);
        assert.deepEqual(put, [refused]);
        await waitFor('the put-back to reach Redis', () => calls['put-back'] === 1, 5000);
      } finally {
        mon.close();
      }
      console.log(`# script calls: ${JSON.stringify(calls)} (2 limit() calls, 1 semaphore() with its release, 1 put-back)`);
      assert.deepEqual(calls, { limit: 2, 'sem-acquire': 1, 'sem-release': 1, 'put-back': 1 });
    }),
);
