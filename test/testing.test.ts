// delayed-queue/testing: the memory store under real workers of every kind, its fake clock (run later, retries'
// backoff, repeating schedules, leases), drain and recorded outcomes, and the typed error for what it does not
// do. The store's operations themselves are checked against Redis by test/store-conformance.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { ForkedWorker, InlineWorker, InvalidOptionError, PreforkedWorker, Queue, queueStatus, type Worker } from '../src/index.ts';
import { MEMORY_SCRIPTS } from '../src/memory/scripts.ts';
import { fire } from '../src/store-time.ts';
import { memoryStore, NotSupportedByMemoryStoreError, recordOutcomes, type TestStore } from '../src/testing.ts';
import { add, fail, flaky, record } from './fixtures/testing-tasks.ts';
import { ledgerFile, readLedger, waitFor } from './helpers.ts';

const TASKS = new URL('./fixtures/testing-tasks.ts', import.meta.url).href;
const KINDS = { inline: InlineWorker, forked: ForkedWorker, preforked: PreforkedWorker } as const;

function setup(kind: keyof typeof KINDS = 'inline', store: TestStore = memoryStore(`t-${randomBytes(4).toString('hex')}`)) {
  const queue = new Queue({ name: 'jobs', redis: store.url });
  const worker: Worker = new KINDS[kind]({ queue, tasks: [TASKS], handleSignals: false, concurrency: 2, errorHandler: () => undefined });
  const outcomes = recordOutcomes(worker);
  const running = worker.run();
  const stop = async () => {
    await worker.close();
    await running;
    await queue.close();
  };
  return { store, queue, worker, outcomes, stop };
}

for (const kind of Object.keys(KINDS) as (keyof typeof KINDS)[]) {
  test(`a ${kind} worker runs tasks on the memory store: results, failures, drain, and no key left after it stops`, {
    timeout: 60_000,
  }, async () => {
    const { store, queue, outcomes, stop } = setup(kind);
    try {
      const ok = await add.delay(queue, 2, 3);
      const bad = await fail.delay(queue, 'boom');
      const many = await queue.enqueueMany([1, 2, 3].map((n) => ({ name: 'add', args: [n, n] })));
      await store.drain(queue, { timeoutMs: 30_000 });
      assert.deepEqual(await outcomes.of(ok), { status: 'succeeded', task: (await outcomes.of(ok)).task, result: 5 });
      const failed = await outcomes.of(bad);
      assert.ok(failed.status === 'failed' && failed.failure.reason === 'thrown' && failed.failure.message === 'boom');
      assert.deepEqual(await Promise.all(many.map(async (id) => ((await outcomes.of(id)) as { result: unknown }).result)), [2, 4, 6]);
      assert.deepEqual(store.pending(queue), { waiting: 0, running: 0, due: 0 });
    } finally {
      await stop();
    }
    // A drained queue whose workers left holds no key (as on Redis: the epoch goes with the last worker) but the
    // sweep lock, which expires.
    const client = store.connect();
    assert.deepEqual(
      (await client.keys('*')).filter((k) => !k.endsWith(':sweep')),
      [],
    );
    await client.quit();
  });
}

test('the fake clock: a task for later runs once the clock passes its due time, not before', async () => {
  const { store, queue, outcomes, stop } = setup();
  try {
    const later = await add.with({ delayMs: 3_600_000 }).delay(queue, 1, 1);
    const at = await add.with({ runAt: new Date(store.clock.now() + 86_400_000) }).delay(queue, 2, 2);
    await store.drain(queue);
    assert.equal(await queue.scheduledCount(), 2, 'both wait for their due time');
    assert.equal(outcomes.all.length, 0);
    store.clock.advance(3_600_000);
    assert.equal(((await outcomes.of(later)) as { result: unknown }).result, 2);
    assert.equal(await queue.scheduledCount(), 1);
    store.clock.advance(86_400_000);
    assert.equal(((await outcomes.of(at)) as { result: unknown }).result, 4);
    await store.drain(queue);
  } finally {
    await stop();
  }
});

test("the fake clock drives retries' backoff: each retry waits for the clock, then the task succeeds", async () => {
  const { store, queue, worker, outcomes, stop } = setup();
  const retries: number[] = [];
  worker.on('retry', (_task, _failure, delayMs) => retries.push(delayMs));
  try {
    const id = await flaky.with({ retries: 3, backoff: { type: 'fixed', delayMs: 600_000 } }).delay(queue, 2);
    await waitFor('the first retry', () => retries.length === 1, 10_000);
    await store.drain(queue);
    assert.equal(await queue.scheduledCount(), 1, 'the retry waits 10 minutes on the store clock');
    store.clock.advance(600_000);
    await waitFor('the second retry', () => retries.length === 2, 10_000);
    store.clock.advance(600_000);
    const done = await outcomes.of(id);
    assert.ok(done.status === 'succeeded' && done.result === 2, JSON.stringify(done));
    assert.deepEqual(retries, [600_000, 600_000]);
  } finally {
    await stop();
  }
});

test('the fake clock fires a repeating schedule: one occurrence per advanced period', async () => {
  const { store, queue, outcomes, stop } = setup();
  try {
    const { nextDueAt } = await queue.schedule('hourly', { everyMs: 3_600_000, task: add, args: [20, 22] });
    assert.equal(nextDueAt.getTime() % 3_600_000, 0);
    await store.drain(queue);
    assert.equal(outcomes.all.length, 0, 'nothing before the first due time');
    store.clock.advance(nextDueAt.getTime() - store.clock.now());
    await waitFor('the first occurrence', () => outcomes.all.length === 1, 10_000);
    store.clock.advance(3_600_000);
    await waitFor('the second occurrence', () => outcomes.all.length === 2, 10_000);
    assert.deepEqual(
      outcomes.all.map((o) => [o.task.id, (o as { result: unknown }).result]),
      [
        [`cron:hourly:${nextDueAt.getTime()}`, 42],
        [`cron:hourly:${nextDueAt.getTime() + 3_600_000}`, 42],
      ],
    );
    assert.equal(await queue.unschedule('hourly'), true);
  } finally {
    await stop();
  }
});

test('advancing the clock without renewals ends the leases: the worker learns it lost its lease', async () => {
  const { store, queue, worker, stop } = setup();
  const lost: string[] = [];
  worker.on('leaseLost', (_id, why) => lost.push(why));
  try {
    await waitFor('a registration', () => worker.workerId !== '', 10_000);
    store.clock.advance(60_000);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(lost, [], 'advance keeps live leases by default');
    store.clock.advance(3_600_000, { renewals: false });
    await waitFor('the lease loss', () => lost.length > 0, 30_000);
    const ledger = ledgerFile();
    const id = await record.delay(queue, ledger, 0);
    await store.drain(queue, { timeoutMs: 30_000 });
    assert.deepEqual(
      readLedger(ledger).map((l) => [l.id, l.event]),
      [
        [id, 'start'],
        [id, 'end'],
      ],
      'the worker registered again and runs tasks',
    );
  } finally {
    await stop();
  }
});

test('what the memory store does not do fails with NotSupportedByMemoryStoreError, having written nothing', async () => {
  const store = memoryStore(`t-${randomBytes(4).toString('hex')}`);
  const replicated = new Queue({ name: 'jobs', redis: store.url, waitForReplicas: 1 });
  const queue = new Queue({ name: 'jobs', redis: store.url });
  const isNotSupported = (what: RegExp) => (err: unknown) =>
    err instanceof NotSupportedByMemoryStoreError && err.code === 'ERR_NOT_SUPPORTED_BY_MEMORY_STORE' && what.test(err.operation);
  try {
    await assert.rejects(add.delay(replicated, 1, 2), isNotSupported(/WAIT/));
    assert.equal(await queue.waiting(), 0);
    const client = store.connect() as unknown as { xadd(...args: unknown[]): Promise<unknown> };
    await assert.rejects(client.xadd('stream', '*', 'f', 'v'), isNotSupported(/the Redis command XADD/));
    // A script added to lua/ without a memory implementation (another branch's new feature) fails by name.
    const scripts = MEMORY_SCRIPTS as Record<string, unknown>;
    const kept = scripts.fire;
    delete scripts.fire;
    try {
      const request = { id: 's', spec: '{}', due: 0, next: 1, holdMs: undefined, entries: [], lastId: '' };
      await assert.rejects(fire(queue.redis, queue.keys, request), isNotSupported(/^the script fire\.lua$/));
    } finally {
      scripts.fire = kept;
    }
  } finally {
    await replicated.close();
    await queue.close();
  }
});

test('memory:// URLs: a bad name is refused at once; without delayed-queue/testing loaded the error says what to import', () => {
  assert.throws(() => new Queue({ name: 'jobs', redis: 'memory://no spaces' }), InvalidOptionError);
  const code = `import { Queue } from './src/index.ts';
    try { await new Queue({ name: 'jobs', redis: 'memory://' }).waiting(); } catch (err) { console.log(err.name, err.message); }`;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: new URL('..', import.meta.url).pathname,
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.match(run.stdout, /^InvalidOptionError .*import something from 'delayed-queue\/testing'/m, run.stderr);
});

test('queueStatus and dead letters read the memory store as they read Redis (one process: the status of its own queues)', async () => {
  const store = memoryStore(`t-${randomBytes(4).toString('hex')}`);
  const queue = new Queue({ name: 'jobs', redis: store.url, deadLetters: 5, partitions: 2 });
  const worker = new InlineWorker({ queue, tasks: [TASKS], handleSignals: false, errorHandler: () => undefined });
  const outcomes = recordOutcomes(worker);
  const running = worker.run();
  try {
    const bad = await fail.delay(queue, 'kept');
    await add.with({ delayMs: 60_000 }).delay(queue, 1, 1);
    await outcomes.of(bad);
    await store.drain(queue);
    const status = await queueStatus(queue);
    assert.equal(status.partitions, 2);
    assert.equal(status.waiting, 0);
    assert.equal(status.scheduled, 1);
    assert.equal(status.deadLetters, 1);
    assert.equal(status.recentDead[0]?.id, bad);
    assert.equal(status.workersAlive, 1);
    assert.equal(status.workers[0]?.kind, 'inline', "the worker's facts read back");
  } finally {
    await worker.close();
    await running;
    await queue.close();
  }
});
