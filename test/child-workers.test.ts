// ForkedWorker and PreforkedWorker: tasks in child processes, hard timeouts, crashes, recycling.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { ForkedWorker, InvalidOptionError, ModuleLoadError, PreforkedWorker, type Queue } from '../src/index.ts';
import { add, allocate, exitNow, grandchild, pid, spin } from './fixtures/tasks.ts';
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
  workerProcess,
} from './helpers.ts';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

let redis: Redis;
before(() => {
  redis = inspector();
});
after(async () => {
  await redis.quit();
});

type Options = ConstructorParameters<typeof PreforkedWorker>[0];
function preforked(q: Queue, rec: ReturnType<typeof recorder>, extra: Partial<Options> = {}) {
  return new PreforkedWorker({
    queue: q,
    tasks: [FIXTURES],
    handleSignals: false,
    killGraceMs: 300,
    successHandler: rec.successHandler,
    errorHandler: rec.errorHandler,
    ...extra,
  });
}

test('preforked: tasks run in long-lived children, not in the worker process', () =>
  withQueue(redis, async (q) => {
    const rec = recorder();
    const ids = [await pid.delay(q), await pid.delay(q), await add.delay(q, 1, 2)];
    await runUntil(preforked(q, rec), 'three outcomes', () => rec.outcomes.length >= 3);
    const pids = ids.slice(0, 2).map((id) => rec.byId(id)?.result);
    assert.ok(
      pids.every((p) => typeof p === 'number' && p !== process.pid),
      `child pids ${pids}`,
    );
    assert.equal(pids[0], pids[1], 'one child, reused');
    assert.equal(rec.byId(ids[2]!)?.result, 3);
  }));

test('forked: a fresh child process for every task', () =>
  withQueue(redis, async (q) => {
    const rec = recorder();
    const ids = [await pid.delay(q), await pid.delay(q), await pid.delay(q)];
    const w = new ForkedWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, successHandler: rec.successHandler });
    await runUntil(w, 'three outcomes', () => rec.outcomes.length >= 3);
    const pids = ids.map((id) => rec.byId(id)?.result);
    assert.equal(new Set(pids).size, 3, `pids ${pids}`);
    assert.ok(!pids.includes(process.pid));
  }));

test('a busy loop is stopped at its timeout, the handler is told the signal, and the worker goes on', () =>
  withQueue(redis, async (q) => {
    const child = await withRoomToStart(300, async (timeoutMs) => {
      const rec = recorder();
      const ledger = ledgerFile();
      const stuck = await spin.timeout(timeoutMs).delay(q, ledger);
      const next = await add.delay(q, 2, 2);
      await runUntil(preforked(q, rec), 'two outcomes', () => rec.outcomes.length >= 2);
      const failure = rec.byId(stuck);
      assert.equal(failure?.reason, 'timeout');
      assert.equal(failure?.signal, 'SIGTERM');
      assert.equal(rec.byId(next)?.result, 4);
      return readLedger(ledger)[0]?.pid;
    });
    assert.equal(isAlive(child), false, 'the looping child is gone');
  }));

test('the timeout kills the whole process group, grandchildren included', () =>
  withQueue(redis, async (q) => {
    const grandchildPid = await withRoomToStart(500, async (timeoutMs) => {
      const rec = recorder();
      const ledger = ledgerFile();
      const id = await grandchild.timeout(timeoutMs).delay(q, ledger);
      await runUntil(preforked(q, rec), 'the timeout', () => rec.outcomes.length >= 1);
      assert.equal(rec.byId(id)?.reason, 'timeout');
      const line = existsSync(ledger)
        ? readFileSync(ledger, 'utf8')
            .split('\n')
            .find((l) => l.startsWith('grandchild '))
        : undefined;
      return line === undefined ? undefined : Number(line.split(' ')[1]);
    });
    assert.ok(grandchildPid > 0);
    await waitFor('the grandchild to be gone', () => !isAlive(grandchildPid));
  }));

test("kill -9 of the worker while its child spins: the child's watchdog kills the orphan's group at once", () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    await spin.timeout(60_000).delay(q, ledger);
    const victim = workerProcess(q);
    try {
      const child = (await waitFor('the spin to start', () => readLedger(ledger)[0])).pid;
      victim.proc.kill('SIGKILL');
      await victim.exited;
      const killedAt = performance.now();
      // The main thread never yields: only the watchdog can end it (it sees the parent's pipe close).
      // Dead or a zombie: the orphan's new parent (init, or a subreaper) reaps it when it gets to it.
      await waitFor('the orphaned child to die', () => !isAlive(child) || isZombie(child), 5000, 5);
      console.log(`orphan gone ${Math.round(performance.now() - killedAt)} ms after its worker's kill -9`);
    } finally {
      victim.proc.kill('SIGKILL');
    }
  }));

/** How many watchdog shells (`sh -c … delayed-queue-watchdog <pid>`) are in the process group `group`. */
function watchdogsIn(group: number): number {
  let n = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgrp === group && readFileSync(`/proc/${entry}/cmdline`, 'latin1').includes('delayed-queue-watchdog')) n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}

test("a child's parent-death watchdog is one shell in the child's process group, and it goes with the child", () =>
  withQueue(redis, async (q) => {
    const rec = recorder();
    const id = await pid.delay(q);
    let child = 0;
    let seen = 0;
    // While the worker runs: its child (the group leader) has exactly one watchdog beside it, not a thread.
    await runUntil(
      preforked(q, rec, { concurrency: 1 }),
      "the child's watchdog shell",
      () => {
        child = Number(rec.byId(id)?.result ?? 0);
        if (child > 0) seen = watchdogsIn(child);
        return seen > 0;
      },
      15_000,
    );
    assert.equal(seen, 1, 'one watchdog per child');
    // The worker closed: the child and its watchdog are gone (the group is killed when the child exits).
    await waitFor('the watchdog to be gone with its child', () => watchdogsIn(child) === 0, 5000);
  }));

test('a child that exits before answering is a crash: put back, then failed after maxAttempts', () =>
  withQueue(redis, async (q) => {
    const rec = recorder();
    const ledger = ledgerFile();
    const id = await exitNow.with({ maxAttempts: 2 }).delay(q, ledger, 1);
    const zero = await exitNow.with({ maxAttempts: 1 }).delay(q, ledger, 0);
    const requeued: string[] = [];
    const w = preforked(q, rec);
    w.on('requeue', (task, why) => requeued.push(`${task.id}:${why}`));
    await runUntil(w, 'two failures', () => rec.outcomes.length >= 2);
    const failure = rec.byId(id);
    assert.equal(failure?.reason, 'crashed');
    assert.equal(failure?.exitCode, 1);
    assert.equal(failure?.attempt, 1);
    assert.deepEqual(requeued, [`${id}:crashed`]);
    assert.equal(readLedger(ledger).filter((l) => l.id === id).length, 2, 'ran exactly maxAttempts times');
    assert.equal(rec.byId(zero)?.reason, 'crashed', 'exit(0) without an answer is a crash too');
    assert.equal(rec.byId(zero)?.exitCode, 0);
  }));

test('a child that runs out of heap is a crash, and the worker survives', () =>
  withQueue(redis, async (q) => {
    const rec = recorder();
    const id = await allocate.with({ maxAttempts: 1 }).delay(q);
    const next = await add.delay(q, 1, 1);
    await runUntil(preforked(q, rec, { childExecArgv: ['--max-old-space-size=64'] }), 'two outcomes', () => rec.outcomes.length >= 2);
    assert.equal(rec.byId(id)?.reason, 'crashed');
    assert.equal(rec.byId(next)?.result, 2);
  }));

test('a child that died while idle is replaced before it is used: no task is lost or failed', () =>
  withQueue(redis, async (q) => {
    const rec = recorder();
    const w = preforked(q, rec);
    const running = w.run();
    try {
      const first = await pid.delay(q);
      const childPid = (await waitFor('the first result', () => rec.byId(first)))?.result as number;
      process.kill(childPid, 'SIGKILL');
      await waitFor('the idle child to be gone', () => !isAlive(childPid));
      const second = await pid.delay(q);
      const result = await waitFor('the second result', () => rec.byId(second));
      assert.equal(result.ok, true);
      assert.notEqual(result.result, childPid);
      assert.equal(rec.outcomes.filter((o) => !o.ok).length, 0);
    } finally {
      await w.close();
      await running;
    }
  }));

test('children are recycled after maxTasksPerChild tasks and past maxRssBytes', () =>
  withQueue(redis, async (q) => {
    const rec = recorder();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await pid.delay(q));
    await runUntil(preforked(q, rec, { maxTasksPerChild: 2 }), 'four outcomes', () => rec.outcomes.length >= 4);
    const pids = ids.map((id) => rec.byId(id)?.result);
    assert.equal(pids[0], pids[1]);
    assert.equal(pids[2], pids[3]);
    assert.notEqual(pids[1], pids[2]);
    const rec2 = recorder();
    const more = [await pid.delay(q), await pid.delay(q)];
    await runUntil(preforked(q, rec2, { maxRssBytes: 1 }), 'two outcomes', () => rec2.outcomes.length >= 2);
    assert.notEqual(rec2.byId(more[0]!)?.result, rec2.byId(more[1]!)?.result);
  }));

test('an unknown task name fails that task only', () =>
  withQueue(redis, async (q) => {
    const rec = recorder();
    const unknown = await q.enqueue('notDefinedAnywhere', []);
    const next = await add.delay(q, 3, 3);
    await runUntil(preforked(q, rec), 'two outcomes', () => rec.outcomes.length >= 2);
    assert.equal(rec.byId(unknown)?.reason, 'unknown-task');
    assert.equal(rec.byId(next)?.result, 6);
  }));

test('child workers refuse task handles and modules that do not load', () =>
  withQueue(redis, async (q) => {
    assert.throws(() => new PreforkedWorker({ queue: q, tasks: [add as never] }), InvalidOptionError);
    const w = new PreforkedWorker({ queue: q, tasks: ['./test/fixtures/broken-module.ts'], handleSignals: false });
    await assert.rejects(w.run(), ModuleLoadError);
    const f = new ForkedWorker({ queue: q, tasks: ['./test/fixtures/empty-module.ts'], handleSignals: false });
    await assert.rejects(f.run(), /defines no task/);
  }));
