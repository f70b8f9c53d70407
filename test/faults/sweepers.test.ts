// Scenarios 3 and 5: the sweeper under faults. A sweeper killed -9 in the middle of a sweep (failpoint
// mid-sweep, restarted each time); four sweepers at once on a 10 ms interval while leases run out: every lost
// task is put back exactly once. Mass orphaning: 10 000 tasks held by 100 dead registrations are all back
// within two sweeps, with no script error and no script call over 50 ms (SLOWLOG).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Sweeper } from '../../src/index.ts';
import { decodeEntry } from '../../src/payload.ts';
import { hasRedisServer } from '../../scripts/redis-server.mjs';
import { inScenario, quiet, Scenario } from './scenario.ts';
import { report } from './report.ts';
import { waitFor } from '../helpers.ts';
import { sweeperKill } from './kill-scenarios.ts';
import { percentile, tally } from './ledger.ts';
import { parseEntries, seedOrphans } from './seed.ts';

const skip = hasRedisServer() ? false : 'redis-server is not installed';

function countBy<T>(values: readonly T[]): Map<T, number> {
  const counts = new Map<T, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

test('3a. a sweeper killed -9 mid-sweep, again and again: each lost task is put back exactly once', { skip, timeout: 240_000 }, () =>
  inScenario(Scenario.create('sweeper kill mid-sweep'), (s) =>
    sweeperKill(s, '3a. sweeper kill -9 mid-sweep', { perWorker: 20, waitMs: 150_000, minKills: 4 }),
  ),
);

test('3b. four sweepers at once on a 10 ms interval while leases run out: each task put back exactly once', {
  skip,
  timeout: 120_000,
}, async () => {
  await inScenario(Scenario.create('four sweepers'), async (s) => {
    const redis = s.client();
    const sweepers = await Promise.all([1, 2, 3, 4].map(() => s.worker({ kind: 'sweeper', sweepMs: 10 })));
    // Leases that run out one after another while the four sweep.
    const orphans = await seedOrphans(
      s,
      redis,
      50,
      20,
      (i) => 200 + i * 20,
      () => [s.ledgerDir, 5],
    );
    await waitFor('every task to be back in the queue', async () => (await redis.llen(s.key('waiting'))) >= orphans.taskIds.length, 30_000);
    await waitFor('every dead registration to be removed', async () => (await redis.zcard(s.key('workers'))) === 0, 30_000, 100);
    const waiting = parseEntries(await redis.lrange(s.key('waiting'), 0, -1));
    const copies = countBy(waiting.map((e) => e.id));
    await Promise.all([s.worker({ concurrency: 4, sweepMs: 0 }), s.worker({ concurrency: 4, sweepMs: 0 })]);
    const events = await s.drained(orphans.taskIds, 60_000);
    const t = tally(orphans.taskIds, events);
    const alive = sweepers.filter((p) => p.alive).length;
    const residue = await s.stopAllAndCheckResidue();
    report('3b. four sweepers, 10 ms interval', {
      'orphaned tasks': orphans.taskIds.length,
      'tasks put back': waiting.length,
      'put back more than once': [...copies.values()].filter((n) => n > 1).length,
      'cutoffs after recovery': [...new Set(waiting.map((e) => e.cutoffs))].join(','),
      lost: t.lost.length,
      'duplicate starts': t.duplicateStarts,
      'tasks with >1 outcome': t.duplicateOutcomes.length,
      residue: residue.join(' ') || 'none',
    });
    assert.equal(alive, 4);
    assert.equal(waiting.length, orphans.taskIds.length, 'no task put back twice');
    assert.equal(copies.size, orphans.taskIds.length);
    assert.deepEqual(new Set(waiting.map((e) => `${e.attempt}|${e.cutoffs}|${e.reason}`)), new Set(['1|1|lost']));
    assert.deepEqual(t.lost, []);
    assert.equal(t.duplicateStarts, 0);
    assert.deepEqual(t.duplicateOutcomes, []);
    assert.deepEqual(residue, []);
  });
});

test('5. mass orphaning: 10 000 tasks of 100 dead registrations back within two sweeps, no script over 50 ms', {
  skip,
  timeout: 120_000,
}, async () => {
  await inScenario(Scenario.create('mass orphaning', ['--slowlog-log-slower-than', '50000']), async (s) => {
    const queue = new Queue({ name: s.queueName, redis: s.url });
    const sweeper = new Sweeper({ queue, intervalMs: 1000, handleSignals: false, logger: quiet });
    try {
      const redis = s.client();
      const figures: Record<string, string | number> = {};
      // Two shapes: 100 registrations × 100 entries, then 10 × 1000 (a full recover.lua batch each).
      for (const [workers, perWorker] of [
        [100, 100],
        [10, 1000],
      ] as const) {
        await redis.del(s.key('waiting'));
        const orphans = await seedOrphans(
          s,
          redis,
          workers,
          perWorker,
          () => -10_000,
          (id) => [s.ledgerDir, 10, id.length],
        );
        await redis.slowlog('RESET');
        const sweeps: { ms: number; recovered: number }[] = [];
        while (sweeps.length < 5 && (await redis.zcard(s.key('workers'))) > 0) {
          const started = performance.now();
          const result = await sweeper.sweep();
          sweeps.push({ ms: performance.now() - started, recovered: result.recovered });
          // The lock holds for the interval: the next sweep waits for it, as a sweeper on its timer would.
          await waitFor('the sweep lock to pass', async () => (await redis.exists(s.key('sweep'))) === 0, 5000);
        }
        const slow = (await redis.call('SLOWLOG', 'GET', '128')) as unknown[];
        const raw = await redis.lrange(s.key('waiting'), 0, -1);
        const waiting = parseEntries(raw);
        const decoded = raw.filter((e) => decodeEntry(e, 1_048_576).ok).length;
        const label = `${workers}×${perWorker}`;
        figures[`${label}: orphaned tasks`] = orphans.taskIds.length;
        figures[`${label}: sweeps until all back`] = sweeps.filter((x) => x.recovered > 0).length;
        figures[`${label}: tasks back`] = new Set(waiting.map((e) => e.id)).size;
        figures[`${label}: sweep ms (whole sweep)`] = Math.round(
          percentile(
            sweeps.map((x) => x.ms),
            100,
          ),
        );
        figures[`${label}: SLOWLOG entries ≥ 50 ms`] = slow.length;
        figures[`${label}: registrations left`] = await redis.zcard(s.key('workers'));
        assert.ok(sweeps.filter((x) => x.recovered > 0).length <= 2, 'all back within two sweeps');
        assert.equal(waiting.length, orphans.taskIds.length);
        assert.equal(new Set(waiting.map((e) => e.id)).size, orphans.taskIds.length, 'each task back exactly once');
        assert.equal(decoded, orphans.taskIds.length, 'every entry put back is intact');
        assert.deepEqual(new Set(waiting.map((e) => `${e.attempt}|${e.cutoffs}|${e.reason}`)), new Set(['1|1|lost']));
        assert.deepEqual(slow, [], 'no script call took 50 ms or more');
        assert.equal(await redis.zcard(s.key('workers')), 0);
        assert.equal(await redis.exists(s.key('info')), 0);
      }
      await redis.del(s.key('waiting'));
      figures.residue = (await s.residue(redis)).join(' ') || 'none';
      report('5. mass orphaning', figures);
      assert.equal(figures.residue, 'none');
    } finally {
      await sweeper.close();
      await queue.close();
    }
  });
});
