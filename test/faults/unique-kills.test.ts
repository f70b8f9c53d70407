// Scenario 22: unique keys and kept results under kill -9 at every failpoint of a run. Tasks hold a unique key
// until they finish (`unique: { mode: 'until-finish' }`) and keep their result; a victim worker (or each of
// its children) is killed after it took tasks, while a child runs one, after the handler but before the
// release, and in the child after the task but before its answer. A healthy worker (which also sweeps) runs
// what the victim held. Must hold: every task ends (success, or a final failure for the crash loop), every
// unique key is released by the finish of the task's last run (orphaned locks 0), every task's outcome is
// readable by `queue.result()` (no wait times out), and the queue holds nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasRedisServer } from '../../scripts/redis-server.mjs';
import { ResultTimeoutError } from '../../src/index.ts';
import { waitFor } from '../helpers.ts';
import { inScenario, Scenario } from './scenario.ts';
import { tally } from './ledger.ts';
import { report } from './report.ts';

const skip = hasRedisServer() ? false : 'redis-server is not installed';
const LEASE = 1500;
const SWEEP = 500;
const TASKS = 8;

type Point = 'after-dequeue' | 'child-running' | 'before-release' | 'child-before-reply';

async function run(point: Point): Promise<void> {
  await inScenario(Scenario.create(`unique keys, kill at ${point}`), async (s) => {
    const victim = await s.worker({
      name: 'victim',
      concurrency: 2,
      leaseMs: LEASE,
      sweepMs: SWEEP,
      ...(point === 'child-running' ? {} : { failpoint: point }),
    });
    const queue = s.queue({ maxAttempts: 3 });
    const redis = s.client();
    const keys = Array.from({ length: TASKS }, (_, i) => `key-${i}`);
    const ids: string[] = [];
    for (const key of keys) {
      const { id, duplicate } = await queue.enqueueUnique('work', [s.ledgerDir, 300], {
        unique: { key },
        keepResult: { ttlMs: 600_000 },
      });
      assert.equal(duplicate, false);
      ids.push(id);
    }
    if (point === 'child-running') {
      await waitFor(
        'a child of the victim to start a task',
        () => s.ledger().some((e) => e.event === 'start' && e.ppid === victim.pid),
        30_000,
      );
      await victim.kill9();
    } else if (point !== 'child-before-reply') {
      await waitFor('the victim to hit its failpoint', () => !victim.alive, 30_000);
    }
    // The healthy worker starts after the fault, so the victim held tasks when it hit it.
    const healthy = await s.worker({ name: 'healthy', concurrency: 2, leaseMs: LEASE, sweepMs: SWEEP });
    const started = Date.now();
    // Each key goes with the finish of its task's last run: success, or the final failure of a crash loop.
    await waitFor(
      'every unique key to be released',
      async () => (await redis.exists(...keys.map((k) => s.keys[0]!.unique(k)))) === 0,
      90_000,
      100,
    );
    const releasedMs = Date.now() - started;
    const outcomes: string[] = [];
    for (const id of ids) {
      const got = await queue.result(id, { timeoutMs: 5000 }).then(
        () => 'ok',
        (err: unknown) => (err instanceof ResultTimeoutError ? 'timed out' : `failed:${(err as { reason?: string }).reason}`),
      );
      outcomes.push(got);
    }
    const t = tally(ids, s.ledger());
    const residue = (await s.stopAllAndCheckResidue()).filter((k) => !/:results?(:|$)/.test(k));
    const counts = Object.fromEntries([...new Set(outcomes)].map((o) => [o, outcomes.filter((x) => x === o).length]));
    report(`22. unique keys, kill -9 at ${point}`, {
      tasks: TASKS,
      'victim signal': victim.exit?.signal ?? 'alive (its children died)',
      'keys released after the fault (ms)': releasedMs,
      'orphaned keys': await redis.exists(...keys.map((k) => s.keys[0]!.unique(k))),
      outcomes: JSON.stringify(counts),
      'duplicate starts': t.duplicateStarts,
      residue: residue.join(' ') || 'none',
    });
    assert.ok(!outcomes.includes('timed out'), `every outcome is readable: ${JSON.stringify(counts)}`);
    if (point === 'child-before-reply') {
      // The victim's children die before every answer; tasks the healthy worker ran succeeded.
      assert.ok(
        outcomes.every((o) => o === 'ok' || o === 'failed:crashed'),
        JSON.stringify(counts),
      );
    } else {
      assert.deepEqual(counts, { ok: TASKS });
    }
    assert.ok(healthy.alive || healthy.exit?.code === 0);
    assert.deepEqual(residue, []);
  });
}

test('22a. unique keys: the victim killed -9 after it took tasks (failpoint after-dequeue)', { skip, timeout: 150_000 }, () =>
  run('after-dequeue'),
);
test('22b. unique keys: the victim killed -9 while its child runs a task', { skip, timeout: 150_000 }, () => run('child-running'));
test(
  '22c. unique keys: the victim killed -9 after the handler, before the release (failpoint before-release)',
  {
    skip,
    timeout: 150_000,
  },
  () => run('before-release'),
);
test(
  "22d. unique keys: the victim's children die after the task, before the answer (failpoint child-before-reply)",
  {
    skip,
    timeout: 150_000,
  },
  () => run('child-before-reply'),
);
