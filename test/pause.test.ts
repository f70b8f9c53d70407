// queue.pause() / resume() from any process: workers finish what they run, take nothing new within one lease
// renewal, and take again after resume; the CLI does the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InlineWorker, Queue } from '../src/index.ts';
import { cooperative, record } from './fixtures/tasks.ts';
import { runCli } from './cli-support.ts';
import { FIXTURES, useInspector, ledgerFile, queueKeysNow, readLedger, recorder, waitFor, withQueue } from './helpers.ts';

const redis = useInspector();

/** Resolves once the worker renewed its lease `n` more times (its facts in `info` carry the renewal time). */
async function renewals(q: Queue, workerId: string, n: number): Promise<void> {
  const at = async () => Number(((await redis.hget(q.keys.info, workerId)) ?? '0').split(' ')[0]);
  let seen = await at();
  for (let i = 0; i < n; i++) {
    const before = seen;
    seen = await waitFor(
      `renewal ${i + 1}`,
      async () => {
        const now = await at();
        return now > before ? now : 0;
      },
      10_000,
    );
  }
}

test('pause: the running task finishes, nothing new is taken; resume: the waiting tasks run; the key goes', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const rec = recorder();
    const w = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, leaseMs: 600, successHandler: rec.successHandler });
    const running = w.run();
    try {
      await waitFor('registration', () => w.workerId !== '');
      const long = await record.delay(q, ledger, 800);
      await waitFor('the long task to start', () => readLedger(ledger).some((l) => l.id === long && l.event === 'start'));
      const other = new Queue({ name: q.name, redis: q.redisSource });
      await other.pause();
      assert.equal(await other.isPaused(), true);
      await other.close();
      // Two renewals after the pause (at most leaseMs / 3 apart), the worker surely knows.
      await renewals(q, w.workerId, 2);
      const queued = [await record.delay(q, ledger, 1), await record.delay(q, ledger, 1)];
      await waitFor('the running task to finish while paused', () => rec.byId(long));
      await renewals(q, w.workerId, 3);
      assert.equal(await q.waiting(), 2, 'nothing taken while paused');
      assert.deepEqual(
        readLedger(ledger).filter((l) => queued.includes(l.id)),
        [],
      );
      await q.resume();
      await waitFor('the waiting tasks to run after resume', () => queued.every((id) => rec.byId(id)), 10_000);
    } finally {
      await w.close();
      await running;
    }
    assert.deepEqual(
      (await queueKeysNow(redis, q)).filter((k) => !k.endsWith(':sweep')),
      [],
    );
  }));

test('delayed pause / delayed resume', () =>
  withQueue(redis, async (q) => {
    const paused = await runCli(['pause', '--queue', q.name]);
    assert.deepEqual([paused.code, paused.stdout], [0, `paused ${q.name}\n`]);
    assert.equal(await q.isPaused(), true);
    const ledger = ledgerFile();
    const id = await cooperative.delay(q, ledger);
    const rec = recorder();
    const w = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, leaseMs: 600, shutdownTimeoutMs: 0 });
    w.on('start', (t) => rec.outcomes.push({ id: t.id, name: t.name, ok: true, attempt: 0 }));
    const running = w.run();
    try {
      await waitFor('registration', () => w.workerId !== '');
      await renewals(q, w.workerId, 2);
      assert.equal(rec.outcomes.length, 0, 'a worker that starts on a paused queue takes nothing');
      const resumed = await runCli(['resume', '--queue', q.name]);
      assert.deepEqual([resumed.code, resumed.stdout], [0, `resumed ${q.name}\n`]);
      await waitFor('the task to start', () => rec.byId(id), 10_000);
    } finally {
      await w.close();
      await running;
    }
  }));
