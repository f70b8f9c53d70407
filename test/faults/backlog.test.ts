// Scenario 6: recovery under a backlog of 100 000 waiting tasks. A worker is killed -9 with tasks in flight;
// the tasks it held come back and run again within lease + sweep interval + 1 s, ahead of the backlog.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasRedisServer } from '../../scripts/redis-server.mjs';
import { recoveryTimes, report } from './report.ts';
import { inScenario, Scenario } from './scenario.ts';
import { waitFor } from '../helpers.ts';
import { percentile } from './ledger.ts';

const LEASE = 1500;
const SWEEP = 500;
const BOUND = LEASE + SWEEP + 1000;
const skip = hasRedisServer() ? false : 'redis-server is not installed';

test('6. recovery under a backlog of 100 000 waiting tasks', { skip, timeout: 120_000 }, async () => {
  await inScenario(Scenario.create('backlog recovery'), async (s) => {
    const queue = s.queue();
    const started = performance.now();
    for (let i = 0; i < 10; i++)
      await queue.enqueueMany(Array.from({ length: 10_000 }, () => ({ name: 'work', args: [s.ledgerDir, 200] })));
    const enqueueMs = performance.now() - started;
    const redis = s.client();
    const backlog = await redis.llen(s.key('waiting'));
    const healthy = await s.worker({ name: 'healthy', concurrency: 4, leaseMs: LEASE, sweepMs: SWEEP });
    const victim = await s.worker({ name: 'victim', concurrency: 4, leaseMs: LEASE, sweepMs: SWEEP });
    await waitFor(
      'the victim to run four tasks',
      () =>
        new Set(
          s
            .ledger()
            .filter((e) => e.event === 'start' && e.ppid === victim.pid)
            .map((e) => e.id),
        ).size >= 4,
      20_000,
    );
    // Killed while a run of it is under way (started, not ended: its entry is in the list), not in the moment
    // between one batch's releases and the next fetch, when it may hold nothing.
    await waitFor(
      'a run of the victim to be under way',
      () => {
        const mine = s.ledger().filter((e) => e.ppid === victim.pid);
        const ended = new Set(mine.filter((e) => e.event === 'end').map((e) => `${e.id}#${e.attempt}`));
        return mine.some((e) => e.event === 'start' && !ended.has(`${e.id}#${e.attempt}`));
      },
      20_000,
      5,
    );
    const killedAt = await victim.kill9();
    // Every registration the victim had (a loaded machine can make it lose its lease and register anew).
    const lists = await Promise.all(victim.workerIds.map((id) => redis.lrange(s.key(`worker:${id}`), 0, -1)));
    const held = lists.flat().map((e) => e.split('|')[4]!);
    const interrupted = new Map(held.map((id) => [id, killedAt] as const));
    await waitFor('the tasks the victim held to run again', () => recoveryTimes(s.ledger(), interrupted).length === held.length, 20_000);
    const recovery = recoveryTimes(s.ledger(), interrupted);
    const rerunBy = s
      .ledger()
      .filter((e) => e.event === 'start' && interrupted.has(e.id) && e.t > killedAt)
      .map((e) => e.ppid);
    const left = await redis.llen(s.key('waiting'));
    report('6. recovery under a 100 000 backlog', {
      backlog,
      'enqueue of 100 000 ms': Math.round(enqueueMs),
      'tasks held by the killed worker': held.length,
      'recovery p50 ms': percentile(recovery, 50),
      'recovery p99 ms': percentile(recovery, 99),
      'recovery bound ms': BOUND,
      'rerun by the other worker': rerunBy.filter((pid) => pid !== victim.pid).length,
      'still waiting when recovered': left,
    });
    assert.equal(backlog, 100_000);
    assert.ok(held.length >= 1);
    assert.ok(percentile(recovery, 100) <= BOUND, `recovered within ${BOUND} ms (${percentile(recovery, 100)})`);
    assert.ok(healthy.alive);
  });
});
