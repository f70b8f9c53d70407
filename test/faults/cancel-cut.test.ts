// Scenario 23: a cancel sent while the worker running the task is cut off from Redis. The worker reaches Redis
// through a proxy; while its child spins in `while (true) {}`, the proxy drops all traffic (shorter than the
// lease), the test cancels the task from its own connection, then the proxy resets the worker's connections.
// Must hold: the request waits in Redis (nothing is sent to the worker), the worker hears of it with its first
// lease renewal after it reconnects, kills the child's process group and reports `cancelled` (a waiter of the
// kept result gets `CancelledError`); the task never runs again, and the worker keeps working. (On a loaded
// machine the cut may cost the worker its lease: it then stops the run itself, and the sweep finishes the
// dropped entry as cancelled. The report says which; the outcome and the bound are the same.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasRedisServer } from '../../scripts/redis-server.mjs';
import { CancelledError } from '../../src/index.ts';
import { isAlive, waitFor } from '../helpers.ts';
import { inScenario, Scenario } from './scenario.ts';
import { TcpProxy } from './proxy.ts';
import { report } from './report.ts';

const skip = hasRedisServer() ? false : 'redis-server is not installed';
const LEASE = 6000;
const KILL_GRACE = 300;
const CUT_MS = 2500;

test('23. a cancel sent while the owning worker is cut off from Redis reaches it after it reconnects', {
  skip,
  timeout: 120_000,
}, async () => {
  await inScenario(Scenario.create('cancel during a network cut'), async (s) => {
    const proxy = await TcpProxy.start(s.redis.port);
    try {
      const worker = await s.worker({ name: 'worker', concurrency: 1, leaseMs: LEASE, killGraceMs: KILL_GRACE, redisUrl: proxy.url });
      const queue = s.queue();
      const id = await queue.enqueue('loopForever', [s.ledgerDir], { timeoutMs: 120_000, keepResult: { ttlMs: 60_000 } });
      const outcome = queue.result(id, { timeoutMs: 60_000 }).then(
        () => 'succeeded',
        (err: unknown) => (err instanceof CancelledError ? 'cancelled' : String(err)),
      );
      const start = await waitFor('the child to start the spin', () => s.ledger().find((e) => e.event === 'start' && e.id === id), 30_000);
      proxy.blackhole();
      const cutAt = Date.now();
      assert.equal(await queue.cancel(id), 'stopping', 'found running: the request waits for the worker');
      // The cut lasts CUT_MS (a fault of that length, not a wait for something): the spin goes on meanwhile.
      await sleep(CUT_MS - (Date.now() - cutAt));
      assert.ok(isAlive(start.pid), 'the worker could not hear the cancel while cut off');
      proxy.reset();
      const resetAt = Date.now();
      // Bound: a renewal every leaseMs/3 after it reconnected, then the kill grace, + 3 s for reconnecting on a loaded machine.
      const bound = LEASE / 3 + KILL_GRACE + 3000;
      await waitFor('the spinning child to be killed', () => !isAlive(start.pid), bound, 20);
      const killedMs = Date.now() - resetAt;
      assert.equal(await outcome, 'cancelled');
      // The worker works on, and the task never ran again.
      const next = await queue.enqueue('work', [s.ledgerDir, 50], { keepResult: { ttlMs: 60_000 } });
      assert.equal(await queue.result(next, { timeoutMs: 30_000 }), 50);
      const starts = s.ledger().filter((e) => e.event === 'start' && e.id === id).length;
      const residue = (await s.stopAllAndCheckResidue()).filter((k) => !/:results?(:|$)/.test(k));
      report('23. cancel during a network cut of the owning worker', {
        'cut (ms)': CUT_MS,
        'child killed ms after the connections came back': killedMs,
        bound: bound,
        'runs of the task': starts,
        'lease lost': worker.messages.some((m) => m.ev === 'leaseLost') ? 'yes' : 'no',
        residue: residue.join(' ') || 'none',
      });
      assert.equal(starts, 1);
      assert.deepEqual(residue, []);
    } finally {
      await proxy.close();
    }
  });
});
