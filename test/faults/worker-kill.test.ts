// Scenario 1: a worker parent is killed (kill -9) at each point of a task's life: after it took entries
// (before it started them), while the child runs, after the child finished and the handler ran but before the
// release. Another worker (which also sweeps) must run every task; nothing is lost; a duplicate outcome only
// where the kill came between handler and release.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasRedisServer, recoveryTimes, report, Scenario, until } from './harness.ts';
import { percentile, tally } from './ledger.ts';

const LEASE = 1500;
const SWEEP = 500;
const BOUND = LEASE + SWEEP + 1000;
const skip = hasRedisServer() ? false : 'redis-server is not installed';

type Point = 'after-dequeue' | 'child-running' | 'before-release';

async function workerKill(point: Point): Promise<void> {
  const s = await Scenario.create(`worker kill at ${point}`);
  try {
    const healthy = await s.worker({ name: 'healthy', concurrency: 2, leaseMs: LEASE, sweepMs: SWEEP });
    const victim = await s.worker({ name: 'victim', concurrency: 2, leaseMs: LEASE, sweepMs: SWEEP, ...(point === 'child-running' ? {} : { failpoint: point }) });
    const victimId = victim.workerIds[0]!;
    const queue = s.queue();
    const ids = await queue.enqueueMany(Array.from({ length: 16 }, () => ({ name: 'work', args: [s.ledgerDir, 300] })));

    if (point === 'child-running') {
      await until('a child of the victim to start a task', 15_000, () => s.ledger().some((e) => e.event === 'start' && e.ppid === victim.pid));
      await victim.kill9();
    } else {
      await until('the victim to hit its failpoint', 15_000, () => !victim.alive);
      assert.equal(victim.exit?.signal, 'SIGKILL');
    }
    const killedAt = victim.exit!.t;
    // What the dead worker held: its in-flight list, read before the sweeper can recover it (the lease still holds).
    const redis = s.client();
    const held = await redis.lrange(s.key(`worker:${victimId}`), 0, -1);
    const heldIds = held.map((entry) => entry.split('|')[4]!);
    assert.ok(heldIds.length >= 1, 'the victim died holding at least one task');

    const events = await s.drained(ids, 60_000);
    const t = tally(ids, events);
    const interrupted = new Map(heldIds.map((id) => [id, killedAt] as const));
    const recovery = recoveryTimes(events, interrupted);
    const victimOutcomes = events.filter((e) => e.pid === victim.pid && (e.event === 'ok' || e.event === 'fail'));
    const residue = await s.stopAllAndCheckResidue();
    const figures = {
      tasks: ids.length,
      'held by the victim': heldIds.length,
      lost: t.lost.length,
      'duplicate starts': t.duplicateStarts,
      'duplicate outcomes': t.duplicateOutcomes.length,
      'same attempt started twice': t.sameAttemptTwice.length,
      'outcomes/task': JSON.stringify(t.outcomesPerTask),
      'recovery p50 ms': percentile(recovery, 50),
      'recovery p99 ms': percentile(recovery, 99),
      'recovery bound ms': BOUND,
      residue: residue.join(' ') || 'none',
    };
    report(`1. worker kill -9 ${point}`, figures);

    assert.deepEqual(t.lost, [], 'no acknowledged task is lost');
    assert.deepEqual(t.sameAttemptTwice, [], 'no entry is leased to two runs at once');
    assert.ok(t.duplicateStarts <= heldIds.length, `duplicate starts (${t.duplicateStarts}) ≤ runs cut off (${heldIds.length})`);
    assert.equal(recovery.length, heldIds.length, 'every task the victim held ran again (or finished) after the kill');
    assert.ok(percentile(recovery, 100) <= BOUND, `recovery ${percentile(recovery, 100)} ms ≤ ${BOUND} ms`);
    assert.deepEqual(t.byOutcome, { success: ids.length });
    if (point === 'before-release') {
      // The handler ran for the task whose release was not sent: that one, and only that one, may be reported twice.
      assert.ok(victimOutcomes.length >= 1, 'the victim reported the outcome it did not release');
      assert.ok(t.duplicateOutcomes.length <= 1);
      for (const id of t.duplicateOutcomes) assert.ok(heldIds.includes(id));
    } else {
      assert.deepEqual(t.duplicateOutcomes, [], 'no duplicate outcome without a kill between handler and release');
    }
    assert.deepEqual(residue, [], 'a drained queue holds only its epoch');
    assert.ok(healthy.alive || healthy.exit?.code === 0);
  } finally {
    await s.cleanup();
  }
}

test('1a. worker parent kill -9 after dequeue (failpoint after-dequeue)', { skip, timeout: 120_000 }, () => workerKill('after-dequeue'));
test('1b. worker parent kill -9 while its child runs the task', { skip, timeout: 120_000 }, () => workerKill('child-running'));
test('1c. worker parent kill -9 after the handler, before the release (failpoint before-release)', { skip, timeout: 120_000 }, () => workerKill('before-release'));
