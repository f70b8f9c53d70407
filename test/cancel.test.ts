// queue.task(id) and queue.cancel(id) from any process: where a task is, and a cancel that stops even a
// `while (true) {}` in a child, cannot be lost to a dead worker, and leaves nothing in Redis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CancelledError, InlineWorker, PreforkedWorker, Queue } from '../src/index.ts';
import { runScript } from '../src/scripts.ts';
import { cancelRequest, recover, requeue, retry } from '../src/store.ts';
import { CANCELLED } from '../src/decide.ts';
import { add, cooperative, fail, record, spin } from './fixtures/tasks.ts';
import {
  FIXTURES,
  useInspector,
  isAlive,
  ledgerFile,
  queueKeysNow,
  readLedger,
  recorder,
  runUntil,
  waitFor,
  withQueue,
  workerProcess,
} from './helpers.ts';
import { runCli } from './cli-support.ts';

const redis = useInspector();

test('queue.task(id): scheduled, waiting, running (where, since when), failed (dead letter), unknown', () =>
  withQueue(
    redis,
    async (q) => {
      const later = await add.with({ delayMs: 60_000 }).delay(q, 1, 2);
      const waiting = await add.delay(q, 3, 4);
      const s = await q.task(later);
      assert.equal(s.state, 'scheduled');
      assert.ok(s.state === 'scheduled' && s.name === 'add' && s.dueAt.getTime() > Date.now() + 50_000);
      assert.deepEqual(await q.task(waiting), { id: waiting, name: 'add', attempt: 0, partition: 0, state: 'waiting' });
      assert.deepEqual(await q.task('nobody.1'), { state: 'unknown', id: 'nobody.1' });
      await q.cancel(waiting);
      const ledger = ledgerFile();
      const running = await cooperative.delay(q, ledger);
      const failing = await fail.delay(q, 'no');
      const rec = recorder();
      const w = new InlineWorker({
        queue: q,
        tasks: [FIXTURES],
        handleSignals: false,
        leaseMs: 600,
        concurrency: 2,
        shutdownTimeoutMs: 0,
        errorHandler: rec.errorHandler,
      });
      await runUntil(w, 'the task to run and the other to fail', async () => {
        const r = await q.task(running);
        return r.state === 'running' && r.since !== null && rec.outcomes.length === 1;
      });
      // Stopped: the running task went back to waiting (the lookup reads it there).
      assert.equal((await q.task(running)).state, 'waiting');
      const f = await q.task(failing);
      assert.ok(f.state === 'failed' && f.reason === 'thrown' && f.message === 'no' && f.name === 'fail', JSON.stringify(f));
      await assert.rejects(q.task('a|b'), /Expected a task id/);
    },
    { deadLetters: 10 },
  ));

test('queue.task(id, { maxScan }) reads at most maxScan entries of the waiting list per call; more.cursor reads on and misses nothing pushed meanwhile', () =>
  withQueue(redis, async (q) => {
    // Pushed first, so it is the oldest: the far end of a read from the newest end.
    const first = await add.delay(q, 0, 0);
    for (let i = 1; i < 5; i++) await add.delay(q, i, i);
    const stopped = await q.task(first, { maxScan: 2 });
    assert.equal(stopped.state, 'unknown');
    assert.ok(stopped.state === 'unknown' && stopped.more, 'it says it stopped');
    assert.deepEqual(stopped.more.partitions, [0]);
    // Two more pushes between the calls shift the entries the next call reads: read twice, never skipped.
    await add.delay(q, 5, 5);
    await add.delay(q, 6, 6);
    const reads: string[] = [];
    let answer = stopped as Awaited<ReturnType<Queue['task']>>;
    while (answer.state === 'unknown' && answer.more) {
      reads.push(answer.more.cursor);
      answer = await q.task(first, { maxScan: 2, cursor: answer.more.cursor });
    }
    assert.deepEqual(answer, { id: first, name: 'add', attempt: 0, partition: 0, state: 'waiting' });
    assert.deepEqual(reads, ['-.2.-', '-.4.-', '-.6.-'], 'two entries a call: 7 waiting, found in the 4th call');
    // Read to the end without it: no more to read, a plain unknown.
    assert.deepEqual(await q.task('nobody.2', { maxScan: 1000 }), { state: 'unknown', id: 'nobody.2' });
    await assert.rejects(q.task(first, { maxScan: 0 }), /Expected `maxScan` to be a whole number from 1, got `0`/);
    await assert.rejects(
      q.task(first, { maxScan: 2, cursor: 'nonsense' }),
      /Expected `cursor` to be the `more.cursor` of an earlier lookup/,
    );
  }));

test('a running task reports its worker, host, pid and start time', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const id = await cooperative.delay(q, ledger);
    const w = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, leaseMs: 600, shutdownTimeoutMs: 0 });
    const before = Date.now();
    await runUntil(w, 'the lookup to show the run with its start', async () => {
      const r = await q.task(id);
      if (r.state !== 'running' || r.since === null) return false;
      assert.equal(r.workerId, w.workerId);
      assert.equal(r.pid, process.pid);
      assert.equal(r.cancelling, false);
      assert.ok(Math.abs(r.since.getTime() - before) < 5000, `since ${r.since.toISOString()}`);
      return true;
    });
  }));

test('cancel of a waiting and of a scheduled task removes them: they never run; unknown ids are not-found; nothing is left', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const a = await record.delay(q, ledger, 1);
    const b = await record.with({ delayMs: 200 }).delay(q, ledger, 1);
    const c = await record.delay(q, ledger, 1);
    assert.equal(await q.cancel(a), 'removed');
    assert.equal(await q.cancel(b), 'removed');
    assert.equal(await q.cancel(a), 'not-found', 'twice: nothing to do');
    assert.equal(await q.cancel('never.1'), 'not-found');
    const rec = recorder();
    const w = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, successHandler: rec.successHandler });
    await runUntil(w, 'c to run', () => rec.outcomes.length === 1);
    assert.equal(await redis.zcard(q.keys.scheduled), 0, 'b is gone from the scheduled set');
    assert.deepEqual(
      readLedger(ledger)
        .filter((l) => l.event === 'start')
        .map((l) => l.id),
      [c],
    );
    assert.deepEqual(await queueKeysNow(redis, q), [], 'no cancel request, no entry left');
  }));

test('cancel of a `while (true) {}` task in a child, from another process: killed within leaseMs/3 + killGraceMs, failed as cancelled, never retried', async () => {
  const leaseMs = 1500;
  const killGraceMs = 300; // the fixture worker's
  const latencies: number[] = [];
  await withQueue(redis, async (q) => {
    const victim = workerProcess(q, { LEASE_MS: String(leaseMs) });
    try {
      for (let i = 0; i < 3; i++) {
        const ledger = ledgerFile();
        const id = await spin.delay(q, ledger);
        const start = await waitFor('the spin to start', () => readLedger(ledger).find((l) => l.event === 'start'));
        const other = new Queue({ name: q.name, redis: q.redisSource });
        const sent = Date.now();
        const result = await other.cancel(id);
        await other.close();
        assert.equal(result, 'stopping');
        const failed = await waitFor('the failure event', () => victim.events.find((e) => e.event === 'failure' && e.id === id), 10_000, 5);
        latencies.push(Date.now() - sent);
        assert.equal(failed.reason, 'cancelled');
        await waitFor('the child to be gone', () => !isAlive(start.pid), 5000);
        await waitFor('the run to be finished in Redis', async () => (await q.task(id)).state === 'unknown', 5000);
      }
      // Bound: one renewal period + the kill grace + 1.5 s for a loaded 2-core machine (load 5+).
      const bound = leaseMs / 3 + killGraceMs + 1500;
      const sorted = [...latencies].sort((x, y) => x - y);
      console.log(`cancel latency (leaseMs ${leaseMs}, killGraceMs ${killGraceMs}): p50 ${sorted[1]} ms, max ${sorted[2]} ms`);
      assert.ok((sorted[2] as number) <= bound, `cancel took ${sorted[2]} ms, over ${bound}`);
    } finally {
      victim.proc.kill('SIGTERM');
      await victim.exited;
    }
    assert.equal(victim.events.filter((e) => e.event === 'start').length, 3, 'each task started once: never retried');
    const left = (await queueKeysNow(redis, q)).filter((key) => !key.endsWith(':sweep'));
    assert.deepEqual(left, [], 'the cancel requests are gone with the runs');
  });
});

test('InlineWorker: cancel aborts the task signal (cooperative); the task fails as cancelled', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const id = await cooperative.delay(q, ledger);
    const rec = recorder();
    const w = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, leaseMs: 600, errorHandler: rec.errorHandler });
    // Cancelled once (a second poll could find the run just finished, and its request consumed: 'not-found').
    let sent = false;
    await runUntil(w, 'the cancelled failure', async () => {
      if (!sent && readLedger(ledger).some((l) => l.event === 'start') && (await q.task(id)).state === 'running') {
        sent = true;
        assert.equal(await q.cancel(id), 'stopping');
      }
      return rec.outcomes.length === 1;
    });
    assert.equal(rec.byId(id)?.reason, 'cancelled');
    await waitFor('the task to see the abort', () => readLedger(ledger).some((l) => l.event === 'aborted'), 5000);
    assert.deepEqual(await queueKeysNow(redis, q), []);
  }));

test('a worker killed -9 after a cancel does not bring the task back: the sweep finishes it as cancelled, outcome and unique key included', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    // It keeps its result and holds a unique key until it finishes: the sweep must write both ends.
    const { id } = await q.enqueueUnique('spin', [ledger], { unique: { key: 'only-one' }, keepResult: { ttlMs: 60_000 } });
    const waiter = q.result(id, { timeoutMs: 120_000 });
    waiter.catch(() => undefined);
    const victim = workerProcess(q, { LEASE_MS: '60000' });
    try {
      const start = await waitFor('the spin to start', () => readLedger(ledger).find((l) => l.event === 'start'));
      // Frozen: it cannot hear the cancel (its next renewal is 20 s away anyway), then killed.
      victim.proc.kill('SIGSTOP');
      assert.equal(await q.cancel(id), 'stopping');
      const seen = await q.task(id);
      assert.ok(seen.state === 'running' && seen.cancelling, JSON.stringify(seen));
      victim.proc.kill('SIGKILL');
      await victim.exited;
      await waitFor('the orphaned child to die', () => !isAlive(start.pid), 5000);
      // Expire the dead worker's lease now rather than in 60 s (what the clock would do).
      const [workerId] = await redis.zrange(q.keys.workers, 0, 0);
      await redis.zadd(q.keys.workers, 1, workerId as string);
      const rec = recorder();
      const rescuer = new PreforkedWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, sweepIntervalMs: 100 });
      let cancelled = 0;
      rescuer.on('recovered', (report) => (cancelled += report.cancelled));
      rescuer.on('start', () => rec.outcomes.push({ id: 'started', name: '', ok: true, attempt: 0 }));
      await runUntil(rescuer, 'the sweep to drop the cancelled task', () => cancelled === 1);
      assert.equal(rec.outcomes.length, 0, 'the cancelled task never started again');
      assert.equal(readLedger(ledger).filter((l) => l.event === 'start').length, 1);
      await assert.rejects(waiter, (err: unknown) => err instanceof CancelledError && err.reason === 'cancelled');
      assert.equal(await redis.exists(q.keys.unique('only-one')), 0, 'the key was released with the drop');
      assert.equal((await q.enqueueUnique('add', [1, 2], { unique: { key: 'only-one' } })).duplicate, false);
      // Left: the sweep lock (one interval), the watch of the removed registration (by design, minutes) and the
      // lock of its last check (10 s, there when a sweep looked at it: a matter of timing), the kept outcome (its
      // TTL) and the new task with its key.
      const left = (await queueKeysNow(redis, q)).filter(
        (key) => !/:(sweep|retired|retired-check|waiting|results|result:.*|unique:only-one)$/.test(key),
      );
      assert.deepEqual(left, [], 'no cancel request, no entry');
    } finally {
      victim.proc.kill('SIGKILL');
    }
  }));

test('a cancel request is honoured by every put-back: requeue, retry and recovery drop the entry instead', () =>
  withQueue(redis, async (q) => {
    const k = q.keys;
    const list = k.worker('w1');
    const entry = (id: string) => `1|0|0||${id}|add|1000|3|[1,2]`;
    await redis.lpush(list, entry('a'), entry('b'), entry('c'), entry('d'));
    for (const id of ['a', 'b', 'c']) await runScript(redis, 'cancel', [k.cancel, k.scheduled, k.waiting], ['request', id, 60_000]);
    assert.ok((await redis.pttl(k.cancel)) > 50_000, 'the request hash expires by itself');
    assert.equal(await runScript(redis, 'requeue', [list, k.waiting, k.cancel], [entry('a'), 1, 'crashed']), 2);
    assert.equal(((await runScript(redis, 'retry', [list, k.scheduled, k.waiting, k.cancel], [entry('b'), 0])) as number[])[0], 2);
    await redis.zadd(k.workers, 1, 'w1');
    const moved = await runScript(
      redis,
      'recover',
      [k.workers, list, k.waiting, k.info, k.epoch, k.retired, k.cancel],
      ['w1', 1000, 'lost', 0, 0],
    );
    assert.deepEqual(moved, [1, 0, 1, 1], 'd put back, c dropped');
    assert.deepEqual(await redis.lrange(k.waiting, 0, -1), ['1|1|1|lost|d|add|1000|3|[1,2]']);
    assert.equal(await redis.exists(k.cancel), 0, 'every request was consumed');
    // renew.lua answers with the running ids that have a request, and only those.
    await redis.zadd(k.workers, Date.now() + 60_000, 'w2');
    await redis.set(k.epoch, 'e');
    await runScript(redis, 'cancel', [k.cancel, k.scheduled, k.waiting], ['request', 'x', 60_000]);
    const renewed = (await runScript(
      redis,
      'renew',
      [k.workers, k.epoch, k.info, k.cancel, k.paused],
      ['w2', 5000, 'e', '{}', 'x', 'y'],
    )) as unknown[];
    assert.deepEqual([renewed[0], renewed[2], ...renewed.slice(3)], [1, 0, 'x'], 'renewed, not paused, x has a request');
    assert.equal(await runScript(redis, 'cancel', [k.cancel, k.scheduled, k.waiting], ['forget', 'x']), 1);
    assert.equal(await runScript(redis, 'cancel', [k.cancel, k.scheduled, k.waiting], ['forget', 'x']), 0);
  }));

test('a put-back that drops a cancelled task writes what its finish would: the cancelled outcome, the unique key released', () =>
  withQueue(redis, async (q) => {
    const k = q.keys;
    const list = k.worker('w1');
    // Each keeps its result for 60 s and holds its unique key until it finishes.
    const entry = (id: string) => `1|0|0||${id}|add|1000|3|f=0;k=60000;u=f${id}-key|[1,2]`;
    for (const id of ['a', 'b', 'c', 'd']) await redis.set(k.unique(`${id}-key`), id);
    await redis.lpush(list, entry('a'), entry('b'), entry('c'), entry('d'));
    for (const id of ['a', 'b', 'c']) await cancelRequest(redis, k, id, 60_000);
    assert.equal(await requeue(redis, list, k, entry('a'), 'crashed'), 'cancelled');
    assert.equal((await retry(redis, list, k, entry('b'), 0)).status, 'cancelled');
    await redis.zadd(k.workers, 1, 'w1');
    // recover.lua not keyed: c needs its keys named, so it stays in the list and comes back; d goes back.
    const keys = [k.workers, list, k.waiting, k.info, k.epoch, k.retired, k.cancel];
    assert.deepEqual(await runScript(redis, 'recover', keys, ['w1', 1000, 'lost', 0, 0]), [1, 1, 0, 0, entry('c')]);
    assert.equal(await redis.hexists(k.cancel, 'c'), 1, 'its request waits for the keyed call');
    // store.recover makes the keyed call itself.
    assert.deepEqual(await recover(redis, k, 'w1', 'lost', [0, 0]), { moved: 0, left: 0, removed: true, cancelled: 1 });
    for (const id of ['a', 'b', 'c']) {
      assert.equal(await redis.exists(k.unique(`${id}-key`)), 0, `${id}'s key released`);
      const kept = (await redis.get(k.result(id))) ?? '';
      assert.deepEqual(JSON.parse(kept.slice(kept.indexOf('|') + 1)), { ok: false, reason: 'cancelled', message: CANCELLED.message }, id);
      assert.ok((await redis.pttl(k.result(id))) > 50_000, `${id}'s outcome is kept for its TTL`);
    }
    assert.equal(await redis.get(k.unique('d-key')), 'd', 'd was put back: it keeps its key');
    assert.deepEqual(await redis.lrange(k.waiting, 0, -1), ['1|1|1|lost|d|add|1000|3|f=0;k=60000;u=fd-key|[1,2]']);
    assert.equal(await redis.exists(k.cancel), 0, 'every request was consumed');
    // A keyed call that does not name a pending entry's keys (bytes the client could not read) drops it
    // without those writes rather than looping.
    await redis.lpush(list, entry('e'));
    await redis.zadd(k.workers, 1, 'w1');
    await cancelRequest(redis, k, 'e', 60_000);
    // (ARGV[6]: the priority levels, none here; ARGV[7]: the outcome, which makes the call keyed.)
    const keyed = [...keys, k.results, k.config, k.dispatches];
    assert.deepEqual(await runScript(redis, 'recover', keyed, ['w1', 1000, 'lost', 0, 0, '', '{}']), [0, 0, 1, 1]);
    assert.equal(await redis.exists(k.result('e')), 0);
  }));

test('delayed task ID and delayed cancel ID: what the API says, as text or JSON; exit 1 for unknown / not-found, 2 for a bad id', () =>
  withQueue(redis, async (q) => {
    const id = await add.with({ delayMs: 60_000 }).delay(q, 1, 2);
    const shown = await runCli(['task', id, '--queue', q.name]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`^${id.replace('.', '\\.')} add \\(attempt 0\\): scheduled, due \\d{4}-`));
    const asJson = JSON.parse((await runCli(['task', id, '--queue', q.name, '--json'])).stdout) as Record<string, unknown>;
    assert.equal(asJson.state, 'scheduled');
    assert.equal(typeof asJson.dueAt, 'string');
    const cancelled = await runCli(['cancel', id, '--queue', q.name]);
    assert.deepEqual([cancelled.code, cancelled.stdout], [0, 'removed\n']);
    const again = await runCli(['cancel', id, '--queue', q.name]);
    assert.deepEqual([again.code, again.stdout], [1, 'not-found\n']);
    const gone = await runCli(['task', id, '--queue', q.name]);
    assert.equal(gone.code, 1);
    assert.match(gone.stdout, /unknown/);
    const bad = await runCli(['cancel', 'a|b', '--queue', q.name]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Expected a task id/);
    assert.equal((await runCli(['cancel', '--queue', q.name])).code, 2);
    assert.deepEqual(await queueKeysNow(redis, q), []);
  }));
