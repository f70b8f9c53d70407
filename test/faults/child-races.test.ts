// Scenario 21: answers racing kills, in child processes: an answer that comes after the timeout began, a task that shuts
// down cleanly on SIGTERM at a stop, a lease lost under a task that ignores SIGTERM, tasks that end exactly at
// their timeout, and a worker whose children are still loading. Each run must end with exactly one outcome,
// no slot may be lost, and no child may outlive what the worker decided.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { PreforkedWorker } from '../../src/index.ts';
import { FIXTURES, inspector, isAlive, ledgerFile, readLedger, recorder, runUntil, waitFor, withQueue } from '../helpers.ts';
import { report } from './report.ts';
import { add, record, trapTerm } from '../fixtures/tasks.ts';

const redis = inspector();
after(() => redis.quit());
const SLOW_MODULE = new URL('../fixtures/slow-module.ts', import.meta.url).href;

test('an answer that comes after the timeout began settles the run as a timeout; the child that trapped SIGTERM is killed; the slot serves the next task', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const rec = recorder();
    const late = await trapTerm.timeout(500).delay(q, ledger, 60_000, 50, true);
    const next = await add.delay(q, 2, 3);
    const w = new PreforkedWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, killGraceMs: 300, ...rec });
    await runUntil(w, 'both outcomes', () => rec.outcomes.length >= 2, 30_000);
    assert.equal(rec.byId(late)?.reason, 'timeout');
    assert.equal(rec.byId(next)?.result, 5, 'the slot was not lost');
    const pid = readLedger(ledger).find((l) => l.event === 'start')!.pid;
    assert.ok(
      readLedger(ledger).some((l) => l.event === 'term'),
      'the task saw SIGTERM and answered',
    );
    await waitFor('the child that trapped SIGTERM to be gone', () => !isAlive(pid), 5000);
    assert.equal(rec.outcomes.length, 2, 'one outcome each');
    report('21a. an answer after the timeout began (task traps SIGTERM, answers, stays alive)', {
      outcome: rec.byId(late)?.reason ?? 'none',
      'child alive after': isAlive(pid),
      'next task on the slot': String(rec.byId(next)?.result),
    });
  }));

test('a task that finishes on SIGTERM at a stop is reported done, not put back (no second run)', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const rec = recorder();
    const id = await trapTerm.delay(q, ledger, 60_000, 50, false);
    const w = new PreforkedWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, killGraceMs: 2000, shutdownTimeoutMs: 0, ...rec });
    const running = w.run();
    await waitFor('the start', () => readLedger(ledger).some((l) => l.event === 'start'), 30_000);
    await w.close();
    await running;
    report('21b. a task that finishes on SIGTERM at a stop', {
      outcome: rec.outcomes.map((o) => (o.ok ? 'success' : o.reason)).join(','),
      'put back': w.counts.requeued,
    });
    assert.deepEqual(
      rec.outcomes.map((o) => [o.id, o.ok, o.result]),
      [[id, true, 60_000]],
    );
    assert.equal(await redis.llen(q.keys.waiting), 0, 'not put back');
    assert.equal(w.counts.requeued, 0);
  }));

test('a lost lease ends a run at once with SIGKILL, even one that ignores SIGTERM', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    await trapTerm.delay(q, ledger, 60_000, 60_000, true);
    const w = new PreforkedWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, killGraceMs: 5000, leaseMs: 1500 });
    const running = w.run();
    try {
      await waitFor('the start', () => readLedger(ledger).some((l) => l.event === 'start'), 30_000);
      const pid = readLedger(ledger).find((l) => l.event === 'start')!.pid;
      const lost = new Promise<number>((resolve) => w.once('leaseLost', () => resolve(performance.now())));
      // Take the registration away: the next renewal (within leaseMs / 3) is refused.
      await redis.zrem(q.keys.workers, w.workerId);
      const lostAt = await lost;
      await waitFor('the child to die', () => !isAlive(pid), 5000, 5);
      const ms = performance.now() - lostAt;
      report('21c. lease lost under a task that ignores SIGTERM (kill grace 5 s)', { 'child dead after the loss ms': Math.round(ms) });
      // Promise: at once (a SIGKILL, no grace). Margin for a loaded machine: 1 s (the grace here is 5 s).
      assert.ok(ms < 1000, `the child died ${ms.toFixed(0)} ms after the lease was lost`);
    } finally {
      await w.close();
      await running;
    }
  }));

test('tasks that end exactly at their timeout each get one outcome, and no slot is stranded', { timeout: 180_000 }, () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const rec = recorder();
    const ids = await q.enqueueMany(
      Array.from({ length: 100 }, () => ({ name: 'record', args: [ledger, 100], options: { timeoutMs: 100 } })),
    );
    const w = new PreforkedWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, concurrency: 4, killGraceMs: 200, ...rec });
    await runUntil(w, '100 outcomes', () => rec.outcomes.length >= 100, 120_000);
    assert.deepEqual(new Set(rec.outcomes.map((o) => o.id)), new Set(ids), 'one outcome each');
    assert.equal(rec.outcomes.length, 100);
    assert.ok(rec.outcomes.every((o) => o.ok || o.reason === 'timeout'));
    report('21d. 100 tasks of 100 ms with a 100 ms timeout, 4 children', {
      success: rec.outcomes.filter((o) => o.ok).length,
      timeout: rec.outcomes.filter((o) => !o.ok).length,
      'left waiting': await redis.llen(q.keys.waiting),
    });
    assert.equal(await redis.llen(q.keys.waiting), 0);
    void record;
  }),
);

test('a worker holds no task it cannot start: while its children load, the tasks stay in the queue', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const ids = await q.enqueueMany(Array.from({ length: 12 }, () => ({ name: 'stamp', args: [ledger, 300] })));
    process.env.SLOW_MODULE_MS = '1500';
    const w = new PreforkedWorker({ queue: q, tasks: [SLOW_MODULE], handleSignals: false, concurrency: 6 });
    const running = w.run();
    const samples: [number, number, number][] = [];
    try {
      await waitFor(
        'every task to run',
        async () => {
          const held = w.workerId ? await redis.llen(q.keys.worker(w.workerId)) : 0;
          const runningChildren = new Set(readLedger(ledger).map((l) => l.pid)).size;
          samples.push([held, runningChildren, performance.now()]);
          return readLedger(ledger).length >= ids.length;
        },
        60_000,
        10,
      );
    } finally {
      delete process.env.SLOW_MODULE_MS;
      await w.close();
      await running;
    }
    // A task taken is handed to a ready child in the same turn of the event loop; a sample can fall between the
    // take and the child's first ledger line (IPC, then the task starts: milliseconds, more on a loaded machine).
    // Taking tasks for children still loading shows as the worker holding more than started for as long as the
    // modules load (1.5 s): the longest such stretch is what must stay short.
    const ahead = samples.filter(([held, ready]) => held > ready).length;
    let longest = 0;
    let since: number | undefined;
    for (const [held, ready, at] of samples) {
      if (held > ready) since ??= at;
      else since = undefined;
      if (since !== undefined) longest = Math.max(longest, at - since);
    }
    report('21e. 6 children loading for 1.5 s, 12 tasks waiting', {
      samples: samples.length,
      'samples holding more than started': ahead,
      'longest stretch holding more than started ms': Math.round(longest),
    });
    assert.ok(
      longest < 500,
      `the worker held more tasks than children had started for ${Math.round(longest)} ms on end (${ahead} of ${samples.length} samples)`,
    );
    assert.ok(samples.length > 50, 'sampled through the load');
  }));
