// The kill -9 scenarios that run both on one Redis (worker-kill, child-faults and sweepers .test.ts) and on a
// Redis Cluster with a partitioned queue (cluster.test.ts). Each takes the scenario to run in, the title its
// figures are reported under, and what differs between the two runs (task counts, waits).
import assert from 'node:assert/strict';
import { isAlive, waitFor } from '../helpers.ts';
import { recoveryTimes, report } from './report.ts';
import type { BaseScenario } from './scenario.ts';
import type { Proc } from './proc.ts';
import { percentile, tally } from './ledger.ts';
import { parseEntries, seedOrphans } from './seed.ts';

const LEASE = 1500;
const SWEEP = 500;
const BOUND = LEASE + SWEEP + 1000;

export type KillPoint = 'after-dequeue' | 'child-running' | 'before-release';

/**
 * Scenario 1: a worker parent is killed (kill -9) at one point of a task's life: after it took entries
 * (before it started them), while the child runs, after the child finished and the handler ran but before the
 * release. Another worker (which also sweeps) must run every task; nothing is lost; a duplicate outcome only
 * where the kill came between handler and release.
 */
export async function workerKill(
  s: BaseScenario,
  point: KillPoint,
  title: string,
  options: { tasks: number; waitMs: number },
): Promise<void> {
  const healthy = await s.worker({ name: 'healthy', concurrency: 2, leaseMs: LEASE, sweepMs: SWEEP });
  const victim = await s.worker({
    name: 'victim',
    concurrency: 2,
    leaseMs: LEASE,
    sweepMs: SWEEP,
    ...(point === 'child-running' ? {} : { failpoint: point }),
  });
  const queue = s.queue();
  const ids = await queue.enqueueMany(Array.from({ length: options.tasks }, () => ({ name: 'work', args: [s.ledgerDir, 300] })));

  if (point === 'child-running') {
    await waitFor(
      'a child of the victim to start a task',
      () => s.ledger().some((e) => e.event === 'start' && e.ppid === victim.pid),
      options.waitMs,
    );
    await victim.kill9();
  } else {
    await waitFor('the victim to hit its failpoint', () => !victim.alive, options.waitMs);
    assert.equal(victim.exit?.signal, 'SIGKILL');
  }
  const killedAt = victim.exit!.t;
  // What the dead worker held: its in-flight lists, read before the sweeper can recover them (the lease still holds).
  // Every registration the victim had (a loaded machine can make it lose its lease and register anew).
  const held = await Promise.all(victim.workerIds.map((id) => s.entries(s.client(), (k) => k.worker(id))));
  const heldIds = held.flat().map((entry) => entry.split('|')[4]!);
  assert.ok(heldIds.length >= 1, 'the victim died holding at least one task');

  await s.drained(ids, 60_000);
  // A task whose handler ran before the kill already has its outcome: drained() does not wait for its rerun.
  const heldAt = new Map(heldIds.map((id) => [id, killedAt] as const));
  const events = await waitFor(
    'every task the victim held to run again (or finish) after the kill',
    () => {
      const now = s.ledger();
      return recoveryTimes(now, heldAt).length >= heldIds.length ? now : undefined;
    },
    60_000,
  ).catch(() => s.ledger());
  const t = tally(ids, events);
  const recovery = recoveryTimes(events, heldAt);
  const victimOutcomes = events.filter((e) => e.pid === victim.pid && (e.event === 'ok' || e.event === 'fail'));
  const residue = await s.stopAllAndCheckResidue();
  report(title, {
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
  });

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
  assert.deepEqual(residue, [], 'a drained queue holds only its epochs and sweep locks');
  assert.ok(healthy.alive || healthy.exit?.code === 0);
}

/** Scenario 2a: the children of two runs killed -9 mid-task: each task is put back (crashed) and runs again, once. */
export async function childKill(s: BaseScenario, title: string, options: { waitMs: number }): Promise<void> {
  const worker = await s.worker({ concurrency: 2 });
  const queue = s.queue();
  const ids = await queue.enqueueMany(Array.from({ length: 6 }, () => ({ name: 'work', args: [s.ledgerDir, 800] })));
  const kills = new Map<string, number>();
  // Kill the child of each of the first two runs we see.
  for (let n = 0; n < 2; n++) {
    const victim = await waitFor(
      'a run to kill',
      () => s.ledger().find((e) => e.event === 'start' && e.attempt === 0 && !kills.has(e.id) && isAlive(e.pid)),
      options.waitMs,
    );
    process.kill(victim.pid, 'SIGKILL');
    kills.set(victim.id, Date.now());
  }
  const events = await s.drained(ids, 60_000);
  const t = tally(ids, events);
  const recovery = recoveryTimes(events, kills);
  const requeues = worker.messages.filter((m) => m.ev === 'requeue');
  const alive = worker.alive;
  const residue = await s.stopAllAndCheckResidue();
  report(title, {
    tasks: ids.length,
    'children killed': kills.size,
    lost: t.lost.length,
    'duplicate starts': t.duplicateStarts,
    'duplicate outcomes': t.duplicateOutcomes.length,
    'outcomes/task': JSON.stringify(t.outcomesPerTask),
    'requeued (crashed)': requeues.length,
    'recovery p50 ms': percentile(recovery, 50),
    'recovery p99 ms': percentile(recovery, 99),
    residue: residue.join(' ') || 'none',
  });
  assert.deepEqual(t.lost, []);
  assert.equal(t.duplicateStarts, kills.size, 'each killed run ran again exactly once');
  assert.deepEqual(t.duplicateOutcomes, []);
  assert.deepEqual(t.byOutcome, { success: ids.length });
  assert.deepEqual(
    requeues.map((m) => m.why),
    ['crashed', 'crashed'],
  );
  // Put back at once; the rerun waits for a free slot (the pool boots a new child for the dead one, seconds
  // on a loaded 2-core machine), so this bound is looser than the lease bound.
  assert.ok(percentile(recovery, 100) <= 10_000, `a crashed run runs again soon (${percentile(recovery, 100)} ms)`);
  assert.ok(alive, 'the worker survives');
  assert.deepEqual(residue, []);
}

/**
 * Scenario 3a: 5 dead registrations holding `perWorker` entries each (in every partition), swept by a sweeper
 * armed with the mid-sweep failpoint and restarted each time it dies, until none is left: each task is put
 * back exactly once, then runs once.
 */
export async function sweeperKill(
  s: BaseScenario,
  title: string,
  options: { perWorker: number; waitMs: number; minKills: number },
): Promise<void> {
  const redis = s.client();
  const orphans = await seedOrphans(
    s,
    redis,
    5,
    options.perWorker,
    () => -10_000,
    () => [s.ledgerDir, 10],
  );
  const sweepers: Proc[] = [];
  // Restart the sweeper (armed with the failpoint) until the dead registrations are gone.
  await waitFor(
    'every dead registration to be swept',
    async () => {
      if ((await s.registrations(redis)) === 0) return true;
      if (!sweepers.some((p) => p.alive)) sweepers.push(s.start({ kind: 'sweeper', sweepMs: 200, failpoint: 'mid-sweep' }));
      return false;
    },
    options.waitMs,
    50,
  );
  const killedMidSweep = sweepers.filter((p) => p.exit?.signal === 'SIGKILL').length;
  const waiting = parseEntries(await s.entries(redis, (k) => k.waiting));
  const copies = new Map<string, number>();
  for (const e of waiting) copies.set(e.id, (copies.get(e.id) ?? 0) + 1);
  // Now run them: each exactly once.
  await s.worker({ concurrency: 4 });
  const events = await s.drained(orphans.taskIds, 60_000);
  const t = tally(orphans.taskIds, events);
  const residue = await s.stopAllAndCheckResidue();
  report(title, {
    'orphaned tasks': orphans.taskIds.length,
    'sweepers killed mid-sweep': killedMidSweep,
    'tasks put back': waiting.length,
    'put back more than once': [...copies.values()].filter((n) => n > 1).length,
    'cutoffs after recovery': [...new Set(waiting.map((e) => e.cutoffs))].join(','),
    lost: t.lost.length,
    'duplicate starts': t.duplicateStarts,
    residue: residue.join(' ') || 'none',
  });
  assert.ok(killedMidSweep >= options.minKills, `the failpoint fired (${killedMidSweep} sweepers killed mid-sweep)`);
  assert.equal(waiting.length, orphans.taskIds.length);
  assert.equal(copies.size, orphans.taskIds.length, 'each task is back exactly once');
  assert.deepEqual(new Set(waiting.map((e) => `${e.attempt}|${e.cutoffs}|${e.reason}`)), new Set(['1|1|lost']));
  assert.deepEqual(t.lost, []);
  assert.equal(t.duplicateStarts, 0);
  assert.deepEqual(residue, []);
}
