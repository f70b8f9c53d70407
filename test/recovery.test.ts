// Kills, signals and outages on real processes: what comes back, how fast, and what never runs twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InlineWorker, PreforkedWorker, Queue, Sweeper } from '../src/index.ts';
import { decodeEntry } from '../src/payload.ts';
import { startRedis } from '../scripts/redis-server.mjs';
import { add, block, killParent, record } from './fixtures/tasks.ts';
import {
  FIXTURES,
  useInspector,
  workerProcess,
  isAlive,
  ledgerFile,
  readLedger,
  recorder,
  runUntil,
  waitFor,
  withQueue,
} from './helpers.ts';

const redis = useInspector();

test('kill -9 of a worker: its task is back within 5 s with default settings, runs again, and the orphaned child dies', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const id = await record.delay(q, ledger, 4000);
    const victim = workerProcess(q);
    try {
      const first = await waitFor('the first start', () => readLedger(ledger).find((l) => l.event === 'start'));
      victim.proc.kill('SIGKILL');
      await victim.exited;
      const killedAt = Date.now();
      const rec = recorder();
      const rescuer = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, successHandler: rec.successHandler });
      let restartedAt = 0;
      rescuer.on('start', () => (restartedAt ||= Date.now()));
      await runUntil(rescuer, 'the task to finish elsewhere', () => rec.outcomes.length >= 1);
      const recovery = restartedAt - killedAt;
      console.log(`recovery after kill -9: ${recovery} ms`);
      assert.ok(recovery <= 5000, `recovered in ${recovery} ms`);
      assert.equal(rec.byId(id)?.ok, true);
      assert.equal(rec.byId(id)?.attempt, 1);
      await waitFor('the orphaned child to die', () => !isAlive(first.pid), 5000);
      const starts = readLedger(ledger).filter((l) => l.event === 'start');
      assert.equal(starts.length, 2, 'ran twice: once cut off, once to the end');
      assert.equal(readLedger(ledger).filter((l) => l.event === 'end' && l.pid === first.pid).length, 0, 'the orphan never finished');
    } finally {
      victim.proc.kill('SIGKILL');
    }
  }));

test('a task that blocks its event loop for three lease lengths is not taken for dead: it runs once', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const rec = recorder();
    // Three lease lengths of 1.5 s: a shorter lease (500 ms was used) can run out on a loaded machine because the
    // worker's own renewals are late, which is not what this test is about.
    const id = await block.delay(q, ledger, 4500);
    const lost: string[] = [];
    const w = new PreforkedWorker({
      queue: q,
      tasks: [FIXTURES],
      handleSignals: false,
      leaseMs: 1500,
      sweepIntervalMs: 100,
      successHandler: rec.successHandler,
    });
    w.on('leaseLost', (why) => lost.push(why));
    await runUntil(w, 'the task to finish', () => rec.outcomes.length >= 1);
    assert.equal(rec.byId(id)?.result, 4500);
    assert.equal(readLedger(ledger).filter((l) => l.event === 'start').length, 1);
    assert.deepEqual(lost, []);
  }));

// The worker's own event loop blocked by an in-process task: no renewal goes out, and when the task returns the
// lease's bound has passed. The outcome waits for the lease's verdict and, the lease lost, is not written (before,
// it was written at once, though the task could already be running elsewhere): the task is put back and runs again.
test('an in-process task that blocks the worker past its lease: the lease is lost, its outcome is not written, the task runs again', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const rec = recorder();
    const id = await block.delay(q, ledger, 2000);
    const lost: string[] = [];
    const w = new InlineWorker({
      queue: q,
      tasks: [FIXTURES],
      handleSignals: false,
      // Renewals every 200 ms, trusted for 540 ms after one is sent: a 2 s block is well past that.
      leaseMs: 600,
      sweepIntervalMs: 100,
      successHandler: rec.successHandler,
      errorHandler: rec.errorHandler,
    });
    w.on('leaseLost', (why) => lost.push(why));
    await runUntil(w, 'the task to run again', () => readLedger(ledger).filter((l) => l.event === 'start').length >= 2);
    const ledgerLines = readLedger(ledger);
    assert.ok(ledgerLines.filter((l) => l.event === 'end').length >= 1, 'the first run finished');
    assert.ok(lost.length >= 1, 'the worker lost its lease');
    assert.deepEqual(
      rec.outcomes.filter((o) => o.id === id && o.ok),
      [],
      'no success written for a run whose lease was lost',
    );
  }));

test('SIGTERM: running tasks get the shutdown time, then go back to the queue at once (no sweep needed)', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const id = await record.delay(q, ledger, 20_000);
    const w = workerProcess(q, { SHUTDOWN_MS: '300', LEASE_MS: '60000' });
    await waitFor('the start', () => readLedger(ledger).length > 0);
    w.proc.kill('SIGTERM');
    assert.equal(await w.exited, 0);
    // The lease is a minute long: only the worker itself can have put the task back this soon.
    const waiting = await redis.lrange(q.keys.waiting, 0, -1);
    assert.equal(waiting.length, 1);
    const decoded = decodeEntry(waiting[0]!, 1e6);
    // It had started, so the stop cut it off: counted (reason 'stopped'), so no run of stops can loop it for ever.
    assert.ok(
      decoded.ok && decoded.task.id === id && decoded.task.attempt === 1 && decoded.task.cutoffs === 1 && decoded.task.reason === 'stopped',
    );
    assert.equal(await redis.zcard(q.keys.workers), 0);
    assert.ok(w.events.some((e) => e.event === 'requeue' && e.why === 'stopped'));
    assert.ok(!w.events.some((e) => e.event === 'success'), 'an interrupted task is never reported as done');
  }));

test("Ctrl-C to the worker's process group stops it in good order and never releases the interrupted task as done", () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    await record.delay(q, ledger, 20_000);
    const w = workerProcess(q, { SHUTDOWN_MS: '200', LEASE_MS: '60000' }, true);
    await waitFor('the start', () => readLedger(ledger).length > 0);
    process.kill(-w.proc.pid!, 'SIGINT');
    assert.equal(await w.exited, 0);
    assert.equal(await redis.llen(q.keys.waiting), 1);
    assert.equal(readLedger(ledger).filter((l) => l.event === 'end').length, 0);
    assert.ok(!w.events.some((e) => e.event === 'success'));
  }));

test('a second signal stops at once, without waiting for the shutdown time', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    await record.delay(q, ledger, 20_000);
    const w = workerProcess(q, { SHUTDOWN_MS: '60000', LEASE_MS: '60000' });
    await waitFor('the start', () => readLedger(ledger).length > 0);
    w.proc.kill('SIGTERM');
    w.proc.kill('SIGINT');
    assert.equal(await w.exited, 0);
    assert.equal(await redis.llen(q.keys.waiting), 1, 'put back');
  }));

test('a task that kills its worker: its child dies with it, and the sweeper puts the task back as lost', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const id = await killParent.delay(q, ledger);
    const w = workerProcess(q, { LEASE_MS: '1000' });
    const start = await waitFor('the start', () => readLedger(ledger).find((l) => l.event === 'start'));
    await w.exited;
    await waitFor('the child to die with its parent', () => !isAlive(start.pid), 5000);
    const sweeper = new Sweeper({ queue: q, intervalMs: 100, handleSignals: false });
    const sweeping = sweeper.run();
    try {
      const [entry] = await waitFor('the task back in the queue', async () => {
        const list = await redis.lrange(q.keys.waiting, 0, -1);
        return list.length > 0 ? list : undefined;
      });
      const decoded = decodeEntry(entry!, 1e6);
      assert.ok(decoded.ok);
      assert.equal(decoded.task.id, id);
      assert.equal(decoded.task.cutoffs, 1);
      assert.equal(decoded.task.reason, 'lost');
    } finally {
      await sweeper.close();
      await sweeping;
    }
  }));

test('Redis going away: close() still resolves; Redis coming back: the worker resumes by itself and reports the lost data', async () => {
  const server = await startRedis();
  const q = new Queue({ name: 'outage', redis: server.url });
  const rec = recorder();
  const w = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, leaseMs: 1000, successHandler: rec.successHandler });
  const dataLoss: string[] = [];
  w.on('dataLoss', (previous) => dataLoss.push(previous));
  const running = w.run();
  let restarted: Awaited<ReturnType<typeof startRedis>> | undefined;
  try {
    const before = await add.delay(q, 1, 1);
    await waitFor('the first result', () => rec.byId(before));
    await server.crash();
    restarted = await startRedis([], server.port);
    // The restarted server has no data (no persistence): the worker must notice, re-register and go on.
    const producer = new Queue({ name: 'outage', redis: restarted.url });
    const after_ = await add.delay(producer, 2, 2);
    await waitFor('the task after the restart', () => rec.byId(after_));
    await producer.close();
    assert.equal(rec.byId(after_)?.result, 4);
    await waitFor('the data loss to be reported', () => dataLoss.length > 0);
    await restarted.crash();
    const closing = Date.now();
    await w.close();
    await running;
    console.log(`close() with Redis gone took ${Date.now() - closing} ms`);
  } finally {
    await w.close();
    await q.close();
    await restarted?.crash().catch(() => undefined);
  }
});
