// Scenario 11: clock skew. A worker whose clock runs 30 s ahead and a sweeper whose clock runs 30 s behind
// (Debian's faketime): leases are measured on the Redis clock and on each process's monotonic clock, so no
// task may be put back early (no lease loss, no second run) and none may be stranded (a killed worker's tasks
// still come back within lease + sweep + 1 s).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasRedisServer } from '../../scripts/redis-server.mjs';
import { faketimeProblem } from './faketime.ts';
import { recoveryTimes, report } from './report.ts';
import { inScenario, Scenario } from './scenario.ts';
import { waitFor } from '../helpers.ts';
import { percentile, tally } from './ledger.ts';
import { redisNow } from '../helpers.ts';

const LEASE = 1500;
const SWEEP = 500;
const BOUND = LEASE + SWEEP + 1000;

const skip = !hasRedisServer() ? 'redis-server is not installed' : faketimeProblem();

test('11. worker 30 s ahead, sweeper 30 s behind: no early requeue, nothing stranded', { skip, timeout: 120_000 }, async () => {
  await inScenario(Scenario.create('clock skew'), async (s) => {
    const ahead = await s.worker({ name: 'ahead', concurrency: 2, leaseMs: LEASE, sweepMs: SWEEP, wrapper: ['faketime', '-f', '+30s'] });
    const sweeper = await s.worker({ name: 'behind-sweeper', kind: 'sweeper', sweepMs: SWEEP, wrapper: ['faketime', '-f', '-30s'] });
    const behind = await s.worker({ name: 'behind', concurrency: 2, leaseMs: LEASE, sweepMs: SWEEP, wrapper: ['faketime', '-f', '-30s'] });
    const queue = s.queue();
    // Phase 1: runs longer than a lease, on skewed workers swept by skewed sweepers: nothing may be put back.
    const ids = await queue.enqueueMany(Array.from({ length: 12 }, () => ({ name: 'work', args: [s.ledgerDir, 2000] })));
    const events = await s.drained(ids, 60_000);
    const t = tally(ids, events);
    const early = [ahead, sweeper, behind].flatMap((p) => p.messages.filter((m) => m.ev === 'leaseLost' || m.ev === 'requeue')).length;
    // Phase 2: the worker that runs ahead dies with tasks in flight; a normal-clock worker (not sweeping) reruns
    // them once the skewed sweepers put them back. Recovery is timed on the normal clocks (test and rerun).
    behind.signal('SIGTERM');
    await behind.exited;
    const more = await queue.enqueueMany(Array.from({ length: 6 }, () => ({ name: 'work', args: [s.ledgerDir, 6000] })));
    await waitFor(
      'the ahead worker to run two',
      () => s.ledger().filter((e) => e.event === 'start' && e.ppid === ahead.nodePid && more.includes(e.id)).length >= 2,
      20_000,
    );
    const normal = await s.worker({ name: 'normal', concurrency: 6, leaseMs: LEASE, sweepMs: 0 });
    // ...and the normal worker's children to be up and running the other four (so reruns find a free, warm slot;
    // the ahead worker's runs last 6 s, longer than the normal worker takes to start).
    await waitFor(
      'the normal worker to run, while the ahead worker still runs',
      () => {
        const events = s.ledger();
        const ended = new Set(events.filter((e) => e.event === 'end').map((e) => `${e.id}#${e.attempt}`));
        const aheadRunning = events.some(
          (e) => e.event === 'start' && e.ppid === ahead.nodePid && more.includes(e.id) && !ended.has(`${e.id}#${e.attempt}`),
        );
        return aheadRunning && events.some((e) => e.event === 'start' && e.ppid === normal.nodePid && more.includes(e.id));
      },
      40_000,
    );
    const aheadId = ahead.workerIds.at(-1)!;
    const killedAt = await ahead.kill9();
    const redis = s.client();
    const held = (await redis.lrange(s.key(`worker:${aheadId}`), 0, -1)).map((e) => e.split('|')[4]!);
    const leaseLeft = Number(await redis.zscore(s.key('workers'), aheadId)) - (await redisNow(redis));
    // Recovery by the skewed sweepers: until the dead worker's list is empty (its tasks moved back), on our clock.
    await waitFor(
      'the skewed sweepers to put the tasks back',
      async () => (await redis.llen(s.key(`worker:${aheadId}`))) === 0,
      20_000,
      10,
    );
    const sweptMs = Date.now() - killedAt;
    const after = await s.drained(more, 60_000);
    const recovery = recoveryTimes(
      after.filter((e) => e.ppid === normal.nodePid),
      new Map(held.map((id) => [id, killedAt] as const)),
    );
    const t2 = tally(more, after);
    const residue = await s.stopAllAndCheckResidue();
    report('11. clock skew ±30 s', {
      'tasks (runs 2 s, lease 1.5 s)': ids.length,
      'early requeues / lease losses': early,
      'duplicate starts': t.duplicateStarts,
      outcomes: JSON.stringify(t.byOutcome),
      'tasks held by the killed skewed worker': held.length,
      'lease left in Redis at the kill ms': leaseLeft,
      'put back by the skewed sweepers ms after the kill': sweptMs,
      'run again ms after the kill (p99)': percentile(recovery, 99),
      'recovery bound ms': BOUND,
      lost: t.lost.length + t2.lost.length,
      residue: residue.join(' ') || 'none',
    });
    assert.equal(early, 0, 'no lease lost and nothing put back early');
    assert.equal(t.duplicateStarts, 0);
    assert.deepEqual(t.byOutcome, { success: ids.length });
    assert.ok(held.length >= 1);
    assert.equal(recovery.length, held.length, 'nothing stranded');
    assert.ok(sweptMs <= BOUND, `put back within ${BOUND} ms (${sweptMs})`);
    assert.deepEqual(t2.lost, []);
    assert.deepEqual(residue, []);
  });
});
