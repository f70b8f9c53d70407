// taskContext().progress(value): in a child and in-process, the latest value shows in queue.task(id) and
// queueStatus() with the worker's next lease renewal, without a Redis command per call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InlineWorker, PreforkedWorker, queueStatus } from '../src/index.ts';
import { progressing } from './fixtures/tasks.ts';
import { FIXTURES, useInspector, ledgerFile, readLedger, runUntil, withQueue } from './helpers.ts';

const redis = useInspector();

for (const kind of ['preforked', 'inline'] as const) {
  test(`${kind}: the latest progress is in the lookup and the status; a bad value throws in the task`, () =>
    withQueue(redis, async (q) => {
      const ledger = ledgerFile();
      const id = await progressing.delay(q, ledger, 1000);
      const options = { queue: q, tasks: [FIXTURES], handleSignals: false, leaseMs: 600, shutdownTimeoutMs: 0 };
      const w = kind === 'inline' ? new InlineWorker(options) : new PreforkedWorker({ ...options, concurrency: 1 });
      await runUntil(w, 'the progress to show', async () => {
        if (!readLedger(ledger).some((l) => l.event === 'start')) return false;
        const found = await q.task(id);
        // The reports stream in over IPC: a renewal may carry one from the middle; wait for the last.
        if (found.state !== 'running' || (found.progress as { done?: number } | undefined)?.done !== 1000) return false;
        assert.deepEqual(found.progress, { done: 1000, of: 1000 });
        const status = await queueStatus(q);
        assert.deepEqual(status.running.find((r) => r.id === id)?.progress, { done: 1000, of: 1000 });
        return true;
      });
      assert.ok(
        readLedger(ledger).some((l) => l.event === 'refused'),
        'a function as progress is refused',
      );
    }));
}
