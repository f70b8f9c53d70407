// Unique tasks: the key is taken by the script that enqueues and released by the one that finishes (or when
// the task starts, for until-start); reruns keep it; concurrent producers create one task per key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InlineWorker, Queue } from '../src/index.ts';
import { cooperative, fail, record } from './fixtures/tasks.ts';
import {
  FIXTURES,
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

// The sweeper's own keys: its lock, the watch of removed registrations and the lock of that watch's last check.
const noSweep = (keys: string[]) => keys.filter((k) => !/:(sweep|retired|retired-check)$/.test(k));

test('8 producers enqueueing the same 1,000 keys at once create 1,000 tasks; every other call says duplicate with the holder id', () =>
  withQueue(redis, async (q) => {
    const producers = Array.from({ length: 8 }, () => new Queue({ name: q.name, redis: q.redisSource }));
    try {
      await Promise.all(producers.map((p) => p.isPaused())); // connected
      // Each producer sends its 1,000 enqueues 100 at a time (a loaded cluster answers 8,000 at once too slowly).
      const replies = await Promise.all(
        producers.map(async (p) => {
          const out: { id: string; duplicate: boolean }[] = [];
          for (let from = 0; from < 1000; from += 100)
            out.push(
              ...(await Promise.all(
                Array.from({ length: 100 }, (_, j) => p.enqueueUnique('add', [from + j, 0], { unique: { key: `k${from + j}` } })),
              )),
            );
          return out;
        }),
      );
      const created = replies.flat().filter((r) => !r.duplicate);
      console.log(`unique: 8 producers x 1,000 keys: tasks created ${created.length}, waiting ${await q.waiting()}`);
      assert.equal(created.length, 1000);
      assert.equal(await q.waiting(), 1000);
      for (let i = 0; i < 1000; i++) {
        const ids = new Set(replies.map((r) => r[i]?.id));
        assert.equal(ids.size, 1, `key k${i}: every producer got the same id`);
      }
    } finally {
      await Promise.all(producers.map((p) => p.close()));
    }
  }));

test('until-finish: a duplicate while waiting or running; the key goes with success, failure and cancel; a new one after', () =>
  withQueue(
    redis,
    async (q) => {
      const ledger = ledgerFile();
      const first = await q.enqueueUnique('cooperative', [ledger], { unique: { key: 'job' } });
      assert.equal(first.duplicate, false);
      assert.deepEqual(await q.enqueueUnique('cooperative', [ledger], { unique: { key: 'job' } }), { id: first.id, duplicate: true });
      assert.equal(await cooperative.with({ unique: { key: 'job' } }).delay(q, ledger), first.id, 'delay gives the holder id');
      const failing = await fail.with({ unique: { key: 'bad' } }).delay(q, 'no');
      const later = await record.with({ unique: { key: 'later' }, delayMs: 60_000 }).delay(q, ledger, 1);
      assert.equal(await q.cancel(later), 'removed');
      assert.equal(await redis.exists(q.keys.unique('later')), 0, 'a removed task frees its key');
      const rec = recorder();
      const w = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, leaseMs: 600, errorHandler: rec.errorHandler });
      let cancelled = false;
      await runUntil(w, 'the failure, and the running task cancelled', async () => {
        if (!cancelled && readLedger(ledger).length > 0 && (await q.task(first.id)).state === 'running') {
          const again = await q.enqueueUnique('cooperative', [ledger], { unique: { key: 'job' } });
          assert.deepEqual(again, { id: first.id, duplicate: true }, 'running: still held');
          cancelled = (await q.cancel(first.id)) === 'stopping';
        }
        return rec.outcomes.length === 2;
      });
      assert.deepEqual(rec.outcomes.map((o) => o.reason).sort(), ['cancelled', 'thrown']);
      assert.deepEqual(noSweep(await queueKeysNow(redis, q)), ['delayed:{' + q.name + '}:dead'], 'no unique key is left');
      assert.equal((await q.enqueueUnique('cooperative', [ledger], { unique: { key: 'job' } })).duplicate, false, 'free again');
      assert.notEqual(failing, '');
      await assert.rejects(q.enqueueMany([{ name: 'add', args: [1, 2], unique: { key: 'x' } }]), /Expected no `unique` in enqueueMany/);
      await assert.rejects(q.enqueue('add', [1, 2], { unique: { key: '', mode: 'until-finish' } }), /unique.key/);
    },
    { deadLetters: 5 },
  ));

test('until-start frees the key once the task starts; for-ttl holds it after the task finished, for forMs', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const s = await q.enqueueUnique('cooperative', [ledger], { unique: { key: 's', mode: 'until-start' } });
    assert.equal((await q.enqueueUnique('cooperative', [ledger], { unique: { key: 's', mode: 'until-start' } })).duplicate, true);
    const t = await q.enqueueUnique('record', [ledger, 1], { unique: { key: 't', mode: 'for-ttl', forMs: 60_000 } });
    const rec = recorder();
    const w = new InlineWorker({
      queue: q,
      tasks: [FIXTURES],
      handleSignals: false,
      concurrency: 2,
      shutdownTimeoutMs: 0,
      successHandler: rec.successHandler,
    });
    await runUntil(
      w,
      'the start of s, the end of t',
      async () => (await redis.exists(q.keys.unique('s'))) === 0 && rec.byId(t.id) !== undefined,
    );
    assert.equal((await q.task(s.id)).state, 'waiting', 'the stop put s back; its key stays free');
    assert.equal((await q.enqueueUnique('add', [1, 2], { unique: { key: 's', mode: 'until-start' } })).duplicate, false, 'started: free');
    assert.deepEqual(await q.enqueueUnique('add', [1, 2], { unique: { key: 't', mode: 'for-ttl', forMs: 60_000 } }), {
      id: t.id,
      duplicate: true,
    });
    const ttl = await redis.pttl(q.keys.unique('t'));
    assert.ok(ttl > 50_000 && ttl <= 60_000, `ttl ${ttl}`);
  }));

test('kill -9 of the worker mid-run: the rerun keeps the key (no duplicate meanwhile), its finish releases it: no orphaned lock', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const { id } = await q.enqueueUnique('record', [ledger, 1500], { unique: { key: 'once' } });
    const victim = workerProcess(q, { LEASE_MS: '1000', SWEEP_MS: '200' });
    try {
      await waitFor('the first start', () => readLedger(ledger).some((l) => l.event === 'start'));
      victim.proc.kill('SIGKILL');
      await victim.exited;
      assert.deepEqual(
        await q.enqueueUnique('record', [ledger, 1], { unique: { key: 'once' } }),
        { id, duplicate: true },
        'held while cut off',
      );
      const rec = recorder();
      const rescuer = new InlineWorker({
        queue: q,
        tasks: [FIXTURES],
        handleSignals: false,
        sweepIntervalMs: 200,
        successHandler: rec.successHandler,
      });
      await runUntil(rescuer, 'the rerun to finish', () => rec.byId(id) !== undefined);
      assert.equal(rec.byId(id)?.attempt, 1, 'ran again after the kill');
      assert.equal(await redis.exists(q.keys.unique('once')), 0, 'released by the finish of the rerun');
      // Left: the killed worker's registration, removed by a sweep 5 s after its lease ended; no lock, no entry.
      assert.deepEqual(
        (await queueKeysNow(redis, q)).filter((k) => /:(unique:|waiting$|worker:|scheduled$)/.test(k)),
        [],
      );
    } finally {
      victim.proc.kill('SIGKILL');
    }
  }));
