// taskContext().progress(value): in a child and in-process, the latest value shows in queue.task(id) and
// queueStatus() with the worker's next lease renewal, without a Redis command per call.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { InlineWorker, PreforkedWorker, queueStatus } from '../src/index.ts';
import { progressing } from './fixtures/tasks.ts';
import { FIXTURES, inspector, ledgerFile, readLedger, runUntil, withQueue } from './helpers.ts';

let redis: Redis;
before(() => {
  redis = inspector();
});
after(async () => {
  await redis.quit();
});

for (const kind of ['preforked', 'inline'] as const) {
  test(`${kind}: the latest progress is in the lookup and the status; 1,000 calls cost no Redis command; a bad value throws in the task`, () =>
    withQueue(redis, async (q) => {
      const ledger = ledgerFile();
      const id = await progressing.delay(q, ledger, 1000);
      const options = { queue: q, tasks: [FIXTURES], handleSignals: false, leaseMs: 600, shutdownTimeoutMs: 0 };
      const w = kind === 'inline' ? new InlineWorker(options) : new PreforkedWorker({ ...options, concurrency: 1 });
      let commandsDuringCalls = -1;
      await runUntil(w, 'the progress to show', async () => {
        if (!readLedger(ledger).some((l) => l.event === 'start')) return false;
        const found = await q.task(id);
        // The reports stream in over IPC: a renewal may carry one from the middle; wait for the last.
        if (found.state !== 'running' || (found.progress as { done?: number } | undefined)?.done !== 1000) return false;
        assert.deepEqual(found.progress, { done: 1000, of: 1000 });
        const status = await queueStatus(q);
        assert.deepEqual(status.running.find((r) => r.id === id)?.progress, { done: 1000, of: 1000 });
        // Renewals (leaseMs / 3) are the only writes the worker makes while the task runs: count them.
        const stats = (await redis.info('commandstats')).match(/cmdstat_evalsha:calls=(\d+)/)?.[1];
        commandsDuringCalls = Number(stats);
        return true;
      });
      assert.ok(commandsDuringCalls < 1000, `evalsha calls so far: ${commandsDuringCalls}`);
      assert.ok(
        readLedger(ledger).some((l) => l.event === 'refused'),
        'a function as progress is refused',
      );
    }));
}
