// Scenario 21: answers racing kills, in child processes: an answer that comes after the timeout began, a task that shuts
// down cleanly on SIGTERM at a stop, a lease lost under a task that ignores SIGTERM, tasks that end exactly at
// their timeout, a worker whose children are still loading, and an answer that came in time but was read late. Each run must end with exactly one outcome,
// no slot may be lost, and no child may outlive what the worker decided.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { PreforkedWorker } from '../../src/index.ts';
import {
  FIXTURES,
  inspector,
  isAlive,
  ledgerFile,
  readLedger,
  recorder,
  runUntil,
  waitFor,
  withQueue,
  withRoomToStart,
} from '../helpers.ts';
import { report } from './report.ts';
import { add, record, trapTerm } from '../fixtures/tasks.ts';
import { Child } from '../../src/child-process.ts';
import { inheritedExecArgv } from '../../src/child-pool.ts';
import { decide } from '../../src/decide.ts';
import type { RunOutcome } from '../../src/executor.ts';
import { decodeEntry, encodeEntry, type TaskEntry } from '../../src/payload.ts';

const redis = inspector();
after(() => redis.quit());
const SLOW_MODULE = new URL('../fixtures/slow-module.ts', import.meta.url).href;

test('an answer that comes after the timeout began settles the run as a timeout; the child that trapped SIGTERM is killed; the slot serves the next task', () =>
  withQueue(redis, async (q) => {
    const { ledger, rec, late, next, pid } = await withRoomToStart(500, async (timeoutMs) => {
      const ledger = ledgerFile();
      const rec = recorder();
      const late = await trapTerm.timeout(timeoutMs).delay(q, ledger, 60_000, 50, true);
      const next = await add.delay(q, 2, 3);
      const w = new PreforkedWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, killGraceMs: 300, ...rec });
      await runUntil(w, 'both outcomes', () => rec.outcomes.length >= 2, 30_000);
      assert.equal(rec.byId(late)?.reason, 'timeout');
      assert.equal(rec.byId(next)?.result, 5, 'the slot was not lost');
      const pid = readLedger(ledger).find((l) => l.event === 'start')?.pid;
      return pid === undefined ? undefined : { ledger, rec, late, next, pid };
    });
    assert.ok(
      readLedger(ledger).some((l) => l.event === 'term'),
      'the task saw SIGTERM and answered',
    );
    await waitFor('the child that trapped SIGTERM to be gone', () => !isAlive(pid), 5000);
    assert.equal(rec.outcomes.length, 2, 'one outcome each');
    report('21a. an answer after the timeout began (task traps SIGTERM, answers, stays alive)', {
      outcome: rec.byId(late)?.reason ?? 'none',
      'child alive after': isAlive(pid),
      'next task on the slot': String(rec.byId(next)?.result),
    });
  }));

test('a task that finishes on SIGTERM at a stop is reported done, not put back (no second run)', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const rec = recorder();
    const id = await trapTerm.delay(q, ledger, 60_000, 50, false);
    const w = new PreforkedWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, killGraceMs: 2000, shutdownTimeoutMs: 0, ...rec });
    const running = w.run();
    await waitFor('the start', () => readLedger(ledger).some((l) => l.event === 'start'), 30_000);
    await w.close();
    await running;
    report('21b. a task that finishes on SIGTERM at a stop', {
      outcome: rec.outcomes.map((o) => (o.ok ? 'success' : o.reason)).join(','),
      'put back': w.counts.requeued,
    });
    assert.deepEqual(
      rec.outcomes.map((o) => [o.id, o.ok, o.result]),
      [[id, true, 60_000]],
    );
    assert.equal(await redis.llen(q.keys.waiting), 0, 'not put back');
    assert.equal(w.counts.requeued, 0);
  }));

test('a lost lease ends a run at once with SIGKILL, even one that ignores SIGTERM', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    await trapTerm.delay(q, ledger, 60_000, 60_000, true);
    const w = new PreforkedWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, killGraceMs: 5000, leaseMs: 1500 });
    const running = w.run();
    try {
      await waitFor('the start', () => readLedger(ledger).some((l) => l.event === 'start'), 30_000);
      const pid = readLedger(ledger).find((l) => l.event === 'start')!.pid;
      const lost = new Promise<number>((resolve) => w.once('leaseLost', () => resolve(performance.now())));
      // Take the registration away: the next renewal (within leaseMs / 3) is refused.
      await redis.zrem(q.keys.workers, w.workerId);
      const lostAt = await lost;
      await waitFor('the child to die', () => !isAlive(pid), 5000, 5);
      const ms = performance.now() - lostAt;
      report('21c. lease lost under a task that ignores SIGTERM (kill grace 5 s)', { 'child dead after the loss ms': Math.round(ms) });
      // Promise: at once (a SIGKILL, no grace). Margin for a loaded machine: 1 s (the grace here is 5 s).
      assert.ok(ms < 1000, `the child died ${ms.toFixed(0)} ms after the lease was lost`);
    } finally {
      await w.close();
      await running;
    }
  }));

test('tasks that end exactly at their timeout each get one outcome, and no slot is stranded', { timeout: 180_000 }, () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const rec = recorder();
    const ids = await q.enqueueMany(
      Array.from({ length: 100 }, () => ({ name: 'record', args: [ledger, 100], options: { timeoutMs: 100 } })),
    );
    const w = new PreforkedWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, concurrency: 4, killGraceMs: 200, ...rec });
    await runUntil(w, '100 outcomes', () => rec.outcomes.length >= 100, 120_000);
    assert.deepEqual(new Set(rec.outcomes.map((o) => o.id)), new Set(ids), 'one outcome each');
    assert.equal(rec.outcomes.length, 100);
    assert.ok(rec.outcomes.every((o) => o.ok || o.reason === 'timeout'));
    report('21d. 100 tasks of 100 ms with a 100 ms timeout, 4 children', {
      success: rec.outcomes.filter((o) => o.ok).length,
      timeout: rec.outcomes.filter((o) => !o.ok).length,
      'left waiting': await redis.llen(q.keys.waiting),
    });
    assert.equal(await redis.llen(q.keys.waiting), 0);
    void record;
  }),
);

test('a worker holds no task it cannot start: while its children load, the tasks stay in the queue', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const ids = await q.enqueueMany(Array.from({ length: 12 }, () => ({ name: 'stamp', args: [ledger, 300] })));
    process.env.SLOW_MODULE_MS = '1500';
    const w = new PreforkedWorker({ queue: q, tasks: [SLOW_MODULE], handleSignals: false, concurrency: 6 });
    const running = w.run();
    const samples: [number, number, number][] = [];
    try {
      await waitFor(
        'every task to run',
        async () => {
          const held = w.workerId ? await redis.llen(q.keys.worker(w.workerId)) : 0;
          const runningChildren = new Set(readLedger(ledger).map((l) => l.pid)).size;
          samples.push([held, runningChildren, performance.now()]);
          return readLedger(ledger).length >= ids.length;
        },
        60_000,
        10,
      );
    } finally {
      delete process.env.SLOW_MODULE_MS;
      await w.close();
      await running;
    }
    // A task taken is handed to a ready child in the same turn of the event loop; a sample can fall between the
    // take and the child's first ledger line (IPC, then the task starts: milliseconds, more on a loaded machine).
    // Taking tasks for children still loading shows as the worker holding more than started for as long as the
    // modules load (1.5 s): the longest such stretch is what must stay short.
    const ahead = samples.filter(([held, ready]) => held > ready).length;
    let longest = 0;
    let since: number | undefined;
    for (const [held, ready, at] of samples) {
      if (held > ready) since ??= at;
      else since = undefined;
      if (since !== undefined) longest = Math.max(longest, at - since);
    }
    report('21e. 6 children loading for 1.5 s, 12 tasks waiting', {
      samples: samples.length,
      'samples holding more than started': ahead,
      'longest stretch holding more than started ms': Math.round(longest),
    });
    assert.ok(
      longest < 500,
      `the worker held more tasks than children had started for ${Math.round(longest)} ms on end (${ahead} of ${samples.length} samples)`,
    );
    assert.ok(samples.length > 50, 'sampled through the load');
  }));

/** One child as a `PreforkedWorker` of size 1 makes it, driven directly (no Redis) by the tests below. */
const CHILD_OPTIONS = {
  modules: [FIXTURES],
  size: 1,
  tasksPerChild: 100,
  maxRssBytes: Infinity,
  killGraceMs: 300,
  execArgv: inheritedExecArgv(),
};

/** A task as a worker hands it to a child. */
const entry = (id: string, name: string, args: unknown[], timeoutMs = 30_000) =>
  (decodeEntry(encodeEntry({ id, name, args, timeoutMs, maxAttempts: 3 }, 1e6), 1e6) as { ok: true; task: TaskEntry }).task;

// A child killed while idle (by the OOM killer, an operator, the chaos of the soak) just as the worker hands it a
// task: the task never reached the child, so the run must not count as a cut-off (three such and the task would
// fail as a poison pill having never run: seen once in a CI soak). The child writes a receipt (RECEIPT_FD) as it
// takes a run; the parent compares receipts with runs sent when the child dies.
test('a child killed while idle, just as a task is sent to it: the task never reached it, and the run is not a cut-off', async () => {
  const victims: number[] = [];
  // The race itself, made certain: SIGKILL the ready, idle child, then send it a task in the same tick.
  const outcomes: RunOutcome[] = [];
  for (let i = 0; i < 3; i++) {
    const child = new Child(CHILD_OPTIONS);
    await child.ready;
    victims.push(child.proc.pid!);
    process.kill(child.proc.pid!, 'SIGKILL');
    outcomes.push(await child.start(entry(`unreached-${i}`, 'add', [1, 2])));
  }
  // The control: a task that ends its own process did reach it, and counts.
  const control = new Child(CHILD_OPTIONS);
  await control.ready;
  const crashed = await control.start(entry('crasher', 'exitNow', [ledgerFile(), 7]));
  for (const outcome of outcomes) {
    assert.equal(outcome.kind, 'crashed');
    assert.equal((outcome as { started?: boolean }).started, false, 'the run never reached the child');
    const decision = decide(entry('x', 'add', [1, 2]), outcome);
    assert.deepEqual([decision.kind, (decision as { cutoff?: unknown }).cutoff], ['requeue', null], 'put back uncounted');
  }
  assert.equal(crashed.kind, 'crashed');
  assert.equal((crashed as { started?: boolean }).started, true, 'the control task reached its child');
  const counted = decide(entry('y', 'exitNow', []), crashed);
  assert.deepEqual(
    [counted.kind, (counted as { cutoff?: unknown }).cutoff],
    ['requeue', 'crashed'],
    'a crash after the task started counts',
  );
  report('21f. a child killed while idle as a task is sent to it (3 times), and a control task that exits its child', {
    'unreached runs counted as cut-offs': outcomes.filter(
      (o) =>
        decide(entry('z', 'add', []), o).kind !== 'requeue' || (decide(entry('z', 'add', []), o) as { cutoff?: unknown }).cutoff !== null,
    ).length,
    'control counted': (counted as { cutoff?: unknown }).cutoff === 'crashed',
    'victims gone': victims.every((pid) => !isAlive(pid)),
  });
});

// The worker's event loop busy (a loaded machine, a long synchronous stretch) while a child answers in time: when
// the loop runs again its timers come before it reads its pipes. The answer that is already there must win.
test('an answer that came before the timeout, read after it because the worker was busy, settles the run as done', async () => {
  const TIMEOUT_MS = 3000;
  const ledger = ledgerFile();
  const cue = `${ledger}.cue`;
  const task = entry('on-cue', 'answerOnCue', [ledger, cue], TIMEOUT_MS);
  const child = new Child(CHILD_OPTIONS);
  try {
    await child.ready;
    const started = performance.now();
    const outcome = child.start(task);
    await waitFor('the start', () => readLedger(ledger).some((l) => l.event === 'start'), 30_000);
    // From here this process is the busy worker: it reads nothing until the timeout has passed. Busy in an
    // immediate, so that the next thing the loop does is run its timers (then read its pipes).
    let answeredMs: number | undefined;
    const busyMs = await new Promise<number>((resolve) =>
      setImmediate(() => {
        writeFileSync(cue, '');
        while (performance.now() - started < TIMEOUT_MS + 500 || answeredMs === undefined) {
          if (answeredMs === undefined && readLedger(ledger).some((l) => l.event === 'answered')) answeredMs = performance.now() - started;
          if (performance.now() - started > 30_000) break;
        }
        resolve(performance.now() - started);
      }),
    );
    const settled = await outcome;
    report('21g. an answer in time, read after the timeout (the worker busy)', {
      'timeout ms': TIMEOUT_MS,
      'answered after ms': answeredMs ?? -1,
      'worker busy until ms': busyMs,
      outcome: settled.kind,
    });
    assert.ok(answeredMs !== undefined && answeredMs < TIMEOUT_MS, `the child answered in time (${answeredMs} ms): the premise`);
    // Before: 'timeout' (the timer fired first, the answer then counted as late), and the task would run again.
    assert.equal(settled.kind, 'success');
    assert.equal((settled as { value?: unknown }).value, 'on time');
    assert.ok(isAlive(child.proc.pid!), 'the child was not stopped: it serves the next task');
  } finally {
    child.kill('SIGKILL');
  }
});
