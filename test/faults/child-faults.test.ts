// Scenarios 2 and 14: faults inside the child process that runs a task. A child killed mid-task; a child that
// calls process.exit before it returns; one that dies after the task finished but before it answered
// (failpoint child-before-reply); a task that kills its own worker; a task that leaves a grandchild and hangs;
// a task that loops forever; one that allocates until its heap limit; one that throws a non-Error. Each task
// reaches exactly one terminal outcome, the worker survives (except the one a task kills, which a supervisor
// restarts), and a crash loop stops at maxAttempts.
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { hasRedisServer } from '../../scripts/redis-server.mjs';
import { inScenario, Scenario } from './scenario.ts';
import { isAlive, waitFor } from '../helpers.ts';
import { report } from './report.ts';
import type { Proc } from './proc.ts';
import { childKill } from './kill-scenarios.ts';
import { histories, tally } from './ledger.ts';

const skip = hasRedisServer() ? false : 'redis-server is not installed';

test('2a. a child killed -9 mid-task: the task is put back (crashed) and runs again, once', { skip, timeout: 90_000 }, () =>
  inScenario(Scenario.create('child kill mid-task'), (s) => childKill(s, '2a. child kill -9 mid-task', { waitMs: 15_000 })),
);

test('2b/14. exit(0), exit(1), a grandchild that hangs, a loop, a heap blow-up, a non-Error throw: one outcome each', {
  skip,
  timeout: 120_000,
}, async () => {
  await inScenario(Scenario.create('child misbehaviour'), async (s) => {
    const spec = { concurrency: 2, childExecArgv: ['--max-old-space-size=64'], killGraceMs: 300 };
    const workers = [await s.worker(spec), await s.worker(spec)];
    const queue = s.queue({ maxAttempts: 3 });
    const d = s.ledgerDir;
    const bad = {
      exit0: await queue.enqueue('exitWith', [d, 0]),
      exit1: await queue.enqueue('exitWith', [d, 1]),
      grandchild: await queue.enqueue('spawnAndHang', [d], { timeoutMs: 1500 }),
      loop: await queue.enqueue('loopForever', [d], { timeoutMs: 1500 }),
      heap: await queue.enqueue('allocateForever', [d], { timeoutMs: 60_000 }),
      nonError: await queue.enqueue('throwNonError', [d]),
    };
    const good = await queue.enqueueMany(Array.from({ length: 10 }, () => ({ name: 'work', args: [d, 100] })));
    const ids = [...Object.values(bad), ...good];
    const events = await s.drained(ids, 90_000);
    const t = tally(ids, events);
    const byId = histories(events);
    const outcome = (id: string) =>
      byId
        .get(id)!
        .outcomes.map((e) => (e.event === 'ok' ? 'success' : `failed:${e.extra}`))
        .join(',');
    const starts = (id: string) => byId.get(id)!.starts.length;
    const grandchildPid = Number(events.find((e) => e.event === 'grandchild' && e.id === bad.grandchild)?.extra);
    await waitFor('the grandchild to be gone', () => !isAlive(grandchildPid), 5000);
    const residue = await s.stopAllAndCheckResidue();
    const rows: Record<string, string> = {};
    for (const [what, id] of Object.entries(bad)) rows[what] = `${outcome(id)} after ${starts(id)} start(s)`;
    report('2b/14. child exits, hangs, loops, blows its heap, throws a non-Error', {
      ...rows,
      'good tasks': `${good.filter((id) => outcome(id) === 'success').length}/${good.length} success`,
      lost: t.lost.length,
      'tasks with >1 outcome': t.duplicateOutcomes.length,
      'grandchild left alive': isAlive(grandchildPid),
      'workers alive': workers.filter((w) => w.alive).length,
      residue: residue.join(' ') || 'none',
    });
    assert.deepEqual(t.lost, []);
    assert.deepEqual(t.duplicateOutcomes, [], 'exactly one terminal outcome per task');
    assert.equal(outcome(bad.exit0), 'failed:crashed');
    assert.equal(outcome(bad.exit1), 'failed:crashed');
    assert.equal(starts(bad.exit0), 3, 'the crash loop stops at maxAttempts');
    assert.equal(starts(bad.exit1), 3);
    assert.equal(outcome(bad.grandchild), 'failed:timeout');
    assert.equal(starts(bad.grandchild), 1);
    assert.equal(outcome(bad.loop), 'failed:timeout');
    assert.equal(starts(bad.loop), 1);
    assert.equal(outcome(bad.heap), 'failed:crashed');
    assert.equal(starts(bad.heap), 3);
    assert.equal(outcome(bad.nonError), 'failed:thrown');
    assert.equal(starts(bad.nonError), 1);
    for (const id of good) assert.equal(outcome(id), 'success');
    assert.ok(!isAlive(grandchildPid), 'the timeout killed the whole process group, grandchild included');
    assert.equal(workers.filter((w) => w.alive).length, 0, 'stopped in good order at the end');
    for (const w of workers) assert.equal(w.exit?.code, 0, `${w.name} survived every task and stopped cleanly`);
    assert.deepEqual(residue, []);
  });
});

test('2c. the child dies after the task finished, before it answered (failpoint child-before-reply): crash loop stops at maxAttempts', {
  skip,
  timeout: 90_000,
}, async () => {
  await inScenario(Scenario.create('child dies before reply'), async (s) => {
    const worker = await s.worker({ concurrency: 2, failpoint: 'child-before-reply' });
    const queue = s.queue({ maxAttempts: 3 });
    const ids = await queue.enqueueMany(Array.from({ length: 2 }, () => ({ name: 'work', args: [s.ledgerDir, 50] })));
    const events = await s.drained(ids, 60_000);
    const t = tally(ids, events);
    const byId = histories(events);
    const residue = await s.stopAllAndCheckResidue();
    report('2c. child dies before its reply (every run)', {
      tasks: ids.length,
      'runs per task': ids.map((id) => byId.get(id)!.starts.length).join(','),
      'finished runs per task': ids.map((id) => byId.get(id)!.ends.length).join(','),
      outcomes: JSON.stringify(t.byOutcome),
      'tasks with >1 outcome': t.duplicateOutcomes.length,
      residue: residue.join(' ') || 'none',
    });
    assert.deepEqual(t.lost, []);
    assert.deepEqual(t.duplicateOutcomes, []);
    assert.deepEqual(t.byOutcome, { 'failed:crashed': 2 });
    for (const id of ids) assert.equal(byId.get(id)!.starts.length, 3);
    assert.equal(worker.exit?.code, 0);
    assert.deepEqual(residue, []);
  });
});

test('2d. a task that kills its own worker: restarted workers give up after maxAttempts with reason lost', {
  skip,
  timeout: 120_000,
}, async () => {
  await inScenario(Scenario.create('task kills its parent'), async (s) => {
    const supervise = { on: true };
    try {
      const spec = { concurrency: 1, leaseMs: 1000, sweepMs: 300 };
      const workers: Proc[] = [await s.worker(spec), await s.worker(spec)];
      // A supervisor: a worker that died is started again (as systemd or a container runtime would).
      let restarts = 0;
      const supervisor = (async () => {
        while (supervise.on) {
          for (let i = 0; i < workers.length; i++) {
            if (!workers[i]!.alive && supervise.on) {
              workers[i] = s.start(spec);
              restarts++;
            }
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      const queue = s.queue({ maxAttempts: 3 });
      const killer = await queue.enqueue('killOwnParent', [s.ledgerDir]);
      const good = await queue.enqueueMany(Array.from({ length: 6 }, () => ({ name: 'work', args: [s.ledgerDir, 100] })));
      const ids = [killer, ...good];
      const events = await s.drained(ids, 90_000);
      supervise.on = false;
      await supervisor;
      const t = tally(ids, events);
      const h = histories(events).get(killer)!;
      const residue = await s.stopAllAndCheckResidue();
      report('2d. task kills its own worker', {
        'runs of the killer task': h.starts.length,
        'its outcome': h.outcomes.map((e) => `${e.event}:${e.extra}`).join(','),
        'workers killed (restarted)': restarts,
        'good tasks': JSON.stringify(t.byOutcome),
        lost: t.lost.length,
        'tasks with >1 outcome': t.duplicateOutcomes.length,
        residue: residue.join(' ') || 'none',
      });
      assert.deepEqual(t.lost, []);
      assert.deepEqual(t.duplicateOutcomes, []);
      assert.equal(h.starts.length, 3, 'run maxAttempts times, then failed without running');
      assert.equal(h.outcomes.length, 1);
      assert.equal(h.outcomes[0]!.extra, 'lost');
      assert.ok(restarts >= 3);
      assert.equal(t.byOutcome.success, good.length);
      assert.deepEqual(residue, []);
    } finally {
      supervise.on = false;
    }
  });
});

test('2e. children killed -9 while they load: the worker starts new ones and keeps going', { skip, timeout: 60_000 }, async () => {
  await inScenario(Scenario.create('children killed while loading'), async (s) => {
    const worker = await s.worker({ concurrency: 1 });
    const childrenOf = (pid: number) => {
      try {
        return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return [];
      }
    };
    // The ready child runs a task that makes its pool start a new one; kill each new child as it appears.
    const queue = s.queue();
    const first = await queue.enqueue('exitWith', [s.ledgerDir, 0], { maxAttempts: 1 });
    await s.drained([first], 20_000);
    const seen = new Set<number>();
    await waitFor(
      'three children killed while loading',
      () => {
        for (const pid of childrenOf(worker.pid)) {
          if (seen.has(pid)) continue;
          seen.add(pid);
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
        return seen.size >= 3 || !worker.alive;
      },
      20_000,
      5,
    );
    const ids = await queue.enqueueMany(Array.from({ length: 2 }, () => ({ name: 'work', args: [s.ledgerDir, 50] })));
    const done = await Promise.race([
      s.drained(ids, 20_000).then(
        () => true,
        () => false,
      ),
      worker.exited.then(() => false),
    ]);
    const fatal = worker.messages.find((m) => m.ev === 'fatal');
    report('2e. children killed while loading', {
      'children killed while loading': seen.size,
      'worker gave up': fatal ? String(fatal.message) : 'no',
      'later tasks done': done,
    });
    assert.equal(fatal, undefined, 'the worker does not give up');
    assert.ok(done);
  });
});

test('2f. the first child killed -9 while it loads, at worker start: the worker starts another and registers', {
  skip,
  timeout: 60_000,
}, async () => {
  await inScenario(Scenario.create('first child killed while loading'), async (s) => {
    const worker = s.start({ concurrency: 1 });
    const childrenOf = (pid: number) => {
      try {
        return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return [];
      }
    };
    const killed = await waitFor(
      'the first child to appear',
      () => {
        const [first] = childrenOf(worker.pid);
        if (first === undefined) return undefined;
        process.kill(first, 'SIGKILL');
        return first;
      },
      30_000,
      2,
    );
    const outcome = await Promise.race([
      worker.waitFor('registered', 30_000).then(() => 'registered'),
      worker.exited.then(() => 'exited'),
    ]).catch((err: Error) => err.message);
    const fatal = worker.messages.find((m) => m.ev === 'fatal');
    report('2f. first child killed while loading', {
      'child killed': killed,
      'worker then': outcome,
      fatal: fatal ? String(fatal.message) : 'none',
    });
    assert.equal(outcome, 'registered', `the worker goes on (${fatal ? String(fatal.message) : outcome})`);
  });
});
