// Scenario 4 in CI: the soak's short form (1 000 tasks, 15 s of kill -9 every 200 ms). The full form is
// `npm run soak` (test/faults/soak.ts: 10 000 tasks, 60 s).
import { test } from 'node:test';
import { hasRedisServer } from '../../scripts/redis-server.mjs';
import { report } from './report.ts';
import { checkSoak, runSoak } from './soak-lib.ts';

const skip = hasRedisServer() ? false : 'redis-server is not installed';

test('4. soak (short form): 1 000 tasks, something killed -9 every 200 ms for 15 s, restarted, then drained', {
  skip,
  timeout: 300_000,
}, async () => {
  const result = await runSoak({ tasks: 1000, chaosMs: 15_000, killEveryMs: 200, drainMs: 180_000 });
  report('4. soak (CI: 1 000 tasks, 15 s)', result.figures);
  checkSoak(result);
});
