// Scenario 4 in CI: the soak's short form (1 000 tasks, 15 s of kill -9 every 200 ms). The full form is
// `npm run soak` (test/faults/soak.ts: 10 000 tasks, 60 s).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasRedisServer, report } from './harness.ts';
import { runSoak } from './soak-lib.ts';

const skip = hasRedisServer() ? false : 'redis-server is not installed';

test('4. soak (short form): 1 000 tasks, something killed -9 every 200 ms for 15 s, restarted, then drained', { skip, timeout: 300_000 }, async () => {
  const result = await runSoak({ tasks: 1000, chaosMs: 15_000, killEveryMs: 200, drainMs: 180_000 });
  report('4. soak (CI: 1 000 tasks, 15 s)', result.figures);
  assert.equal(result.lost, 0, 'no acknowledged task is lost');
  assert.equal(result.sameAttemptTwice, 0, 'no entry leased to two runs at once');
  assert.ok(result.duplicateStarts <= result.cutOffRuns, `duplicate starts (${result.duplicateStarts}) ≤ runs cut off (${result.cutOffRuns})`);
  assert.ok(result.cutOffRuns <= result.interruptionBudget, `runs cut off (${result.cutOffRuns}) ≤ what the kills could cut (${result.interruptionBudget})`);
  // Recovery is reported, not bounded here: with a kill every 200 ms on 2 cores, a cut-off run often waits for a
  // replacement worker to boot (the lease bound itself is checked by scenarios 1, 6 and 11).
  assert.deepEqual(result.residue, [], 'a drained queue holds only its epoch');
});
