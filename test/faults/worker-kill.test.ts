// Scenario 1: a worker parent is killed (kill -9) at each point of a task's life: after it took entries
// (before it started them), while the child runs, after the child finished and the handler ran but before the
// release. Another worker (which also sweeps) must run every task; nothing is lost; a duplicate outcome only
// where the kill came between handler and release.
import { test } from 'node:test';
import { hasRedisServer } from '../../scripts/redis-server.mjs';
import { inScenario, Scenario } from './scenario.ts';
import { workerKill, type KillPoint } from './kill-scenarios.ts';

const skip = hasRedisServer() ? false : 'redis-server is not installed';

const run = (point: KillPoint) =>
  inScenario(Scenario.create(`worker kill at ${point}`), (s) =>
    workerKill(s, point, `1. worker kill -9 ${point}`, { tasks: 16, waitMs: 15_000 }),
  );

test('1a. worker parent kill -9 after dequeue (failpoint after-dequeue)', { skip, timeout: 120_000 }, () => run('after-dequeue'));
test('1b. worker parent kill -9 while its child runs the task', { skip, timeout: 120_000 }, () => run('child-running'));
test('1c. worker parent kill -9 after the handler, before the release (failpoint before-release)', { skip, timeout: 120_000 }, () =>
  run('before-release'),
);
