// One Ctrl-C that reaches a worker twice (terminal + launcher) is one request to stop; a deliberate second
// signal, after the repeat window, stops at once. The helper on a fake clock, then real worker processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPEAT_WINDOW_MS, stopSignalListener, type StopRequest } from '../src/signals.ts';
import { record } from './fixtures/tasks.ts';
import { useInspector, ledgerFile, readLedger, waitFor, withQueue, workerProcess } from './helpers.ts';

const redis = useInspector();

test('stopSignalListener: first stop, same signal within the window a repeat, after it or another signal stop-now', () => {
  let now = 0;
  const seen: [StopRequest, NodeJS.Signals, number][] = [];
  const listener = stopSignalListener((request, signal, since) => seen.push([request, signal, since]), { now: () => now });
  listener('SIGINT');
  now = 35;
  listener('SIGINT');
  now = 999;
  listener('SIGINT');
  now = 1000;
  listener('SIGINT');
  assert.deepEqual(seen, [
    ['stop', 'SIGINT', 0],
    ['repeat', 'SIGINT', 35],
    ['repeat', 'SIGINT', 999],
    ['stop-now', 'SIGINT', 1000],
  ]);

  const other: StopRequest[] = [];
  const second = stopSignalListener((request) => other.push(request), { now: () => 0 });
  second('SIGTERM');
  second('SIGINT');
  assert.deepEqual(other, ['stop', 'stop-now'], 'the other signal is never a copy');
  assert.throws(
    () => stopSignalListener(() => undefined, { repeatWindowMs: -1 }),
    /Expected `repeatWindowMs` to be a number of ms, 0 or more, got `-1`/,
  );
});

test('a worker process: SIGINT twice within 10 ms is one stop; the running task finishes; exit 0', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const id = await record.delay(q, ledger, 1500);
    const w = workerProcess(q, { SHUTDOWN_MS: '30000' });
    try {
      await waitFor('the start', () => readLedger(ledger).some((l) => l.event === 'start'));
      w.proc.kill('SIGINT');
      await sleep(10);
      w.proc.kill('SIGINT');
      assert.equal(await w.exited, 0);
      assert.ok(
        w.events.some((e) => e.event === 'success' && e.id === id),
        JSON.stringify(w.events),
      );
      assert.ok(!w.events.some((e) => e.event === 'requeue'), 'put back');
      assert.equal(readLedger(ledger).filter((l) => l.event === 'end').length, 1);
      assert.equal(await redis.llen(q.keys.waiting), 0);
    } finally {
      w.proc.kill('SIGKILL');
    }
  }));

test('a worker process: a second SIGINT after the window stops at once and puts the running task back', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    await record.delay(q, ledger, 30_000);
    const w = workerProcess(q, { SHUTDOWN_MS: '60000', LEASE_MS: '60000' });
    try {
      await waitFor('the start', () => readLedger(ledger).some((l) => l.event === 'start'));
      const first = performance.now();
      w.proc.kill('SIGINT');
      // The window is measured in the worker from when it got the first signal, which is after we sent it.
      await sleep(REPEAT_WINDOW_MS + 300);
      w.proc.kill('SIGINT');
      assert.equal(await w.exited, 0);
      // Stop now: not the 30 s task, not the 60 s shutdown time. Bound: the window, the kill grace (300 ms), 5 s margin.
      assert.ok(performance.now() - first < REPEAT_WINDOW_MS + 300 + 300 + 5000, `took ${Math.round(performance.now() - first)} ms`);
      assert.ok(
        w.events.some((e) => e.event === 'requeue' && e.why === 'stopped'),
        JSON.stringify(w.events),
      );
      assert.ok(!w.events.some((e) => e.event === 'success'));
      assert.equal(await redis.llen(q.keys.waiting), 1, 'put back');
    } finally {
      w.proc.kill('SIGKILL');
    }
  }));
