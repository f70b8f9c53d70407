import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { InlineWorker, ModuleLoadError, type Queue } from '../src/index.ts';
import { add, cooperative, echo, fail, record, throwString } from './fixtures/tasks.ts';
import {
  FIXTURES,
  ON_CLUSTER,
  REDIS_URL,
  dropQueue,
  inspector,
  ledgerFile,
  queueKeysNow,
  readLedger,
  recorder,
  runUntil,
  testQueue,
} from './helpers.ts';

let redis: Redis;
before(() => {
  redis = inspector();
});
after(async () => {
  await redis.quit();
});

function worker(q: Queue, rec: ReturnType<typeof recorder>, extra: Partial<ConstructorParameters<typeof InlineWorker>[0]> = {}) {
  return new InlineWorker({
    queue: q,
    tasks: [FIXTURES],
    handleSignals: false,
    successHandler: rec.successHandler,
    errorHandler: rec.errorHandler,
    ...extra,
  });
}

test('each outcome reaches the right handler, and the worker keeps going', async () => {
  const q = testQueue();
  const rec = recorder();
  try {
    const ok = await add.delay(q, 2, 3);
    const thrown = await fail.delay(q, 'boom');
    const nonError = await throwString.delay(q);
    const unknown = await q.enqueue('noSuchTask', [1]);
    const complex = await echo.delay(q, { a: [1, 'two', null], b: { c: true } });
    const ids = [ok, thrown, nonError, unknown, complex];
    await runUntil(worker(q, rec), 'five outcomes', () => rec.outcomes.length >= 5);
    assert.deepEqual(rec.byId(ok), { id: ok, name: 'add', ok: true, result: 5, attempt: 0 });
    assert.equal(rec.byId(thrown)?.reason, 'thrown');
    assert.equal(rec.byId(thrown)?.message, 'boom');
    assert.equal(rec.byId(nonError)?.reason, 'thrown');
    assert.match(rec.byId(nonError)?.message ?? '', /non-Error value was thrown: just a string/);
    assert.equal(rec.byId(unknown)?.reason, 'unknown-task');
    assert.match(rec.byId(unknown)?.message ?? '', /noSuchTask/);
    assert.deepEqual(rec.byId(complex)?.result, { a: [1, 'two', null], b: { c: true } });
    assert.equal(rec.outcomes.length, 5, 'one outcome per task');
    assert.deepEqual(new Set(rec.outcomes.map((o) => o.id)), new Set(ids));
    // Clean: with the tasks done and the worker gone nothing is left (but maybe the sweep lock, which expires).
    const left = (await queueKeysNow(redis, q)).filter((k) => k !== q.keys.sweepLock);
    assert.deepEqual(left, []);
  } finally {
    await dropQueue(redis, q);
    await q.close();
  }
});

test('corrupt entries written straight into Redis fail as bad-payload after one attempt; good tasks are unaffected', async () => {
  const q = testQueue({ maxPayloadBytes: 4096 });
  const rec = recorder();
  try {
    const bad = [
      'not an entry',
      '1|0|0||x1|add|1000|3|{not json',
      '1|0|0||x2|add|1000|3|{"an":"object"}',
      '1|0|0||x3|__proto__|1000|3|[]',
      `1|0|0||x4|add|1000|3|["${'y'.repeat(5000)}"]`,
      '9|0|0||x5|add|1000|3|[]',
    ];
    await redis.lpush(q.keys.waiting, ...bad);
    const good = await add.delay(q, 1, 1);
    await runUntil(worker(q, rec), 'all outcomes', () => rec.outcomes.length >= bad.length + 1);
    assert.equal(rec.byId(good)?.result, 2);
    const failures = rec.outcomes.filter((o) => !o.ok);
    assert.equal(failures.length, bad.length);
    assert.ok(
      failures.every((f) => f.reason === 'bad-payload'),
      JSON.stringify(failures),
    );
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(await redis.llen(q.keys.waiting), 0);
  } finally {
    await dropQueue(redis, q);
    await q.close();
  }
});

test("the in-process timeout aborts the task's signal and fails it with reason timeout", async () => {
  const q = testQueue();
  const rec = recorder();
  const ledger = ledgerFile();
  try {
    const id = await cooperative.timeout(200).delay(q, ledger);
    const after_ = await add.delay(q, 1, 1);
    await runUntil(worker(q, rec), 'two outcomes', () => rec.outcomes.length >= 2);
    assert.equal(rec.byId(id)?.reason, 'timeout');
    assert.match(rec.byId(id)?.message ?? '', /200 ms/);
    assert.deepEqual(
      readLedger(ledger).map((l) => l.event),
      ['start', 'aborted'],
    );
    assert.equal(rec.byId(after_)?.result, 2);
  } finally {
    await dropQueue(redis, q);
    await q.close();
  }
});

test('concurrency: N tasks run at once', async () => {
  const q = testQueue();
  const rec = recorder();
  const ledger = ledgerFile();
  try {
    for (let i = 0; i < 8; i++) await record.delay(q, ledger, 300);
    await runUntil(worker(q, rec, { concurrency: 8 }), 'eight outcomes', () => rec.outcomes.length >= 8);
    const events = readLedger(ledger).map((l) => l.event);
    assert.deepEqual(events.slice(0, 8), Array(8).fill('start'), 'all eight started before any ended');
  } finally {
    await dropQueue(redis, q);
    await q.close();
  }
});

test('task handles can be passed instead of modules', async () => {
  const q = testQueue();
  const rec = recorder();
  try {
    const id = await add.delay(q, 20, 22);
    await runUntil(
      new InlineWorker({ queue: q, tasks: [add], handleSignals: false, successHandler: rec.successHandler }),
      'one outcome',
      () => rec.outcomes.length >= 1,
    );
    assert.equal(rec.byId(id)?.result, 42);
  } finally {
    await dropQueue(redis, q);
    await q.close();
  }
});

test('failed tasks are kept in the dead-letter list only when asked, and it stays bounded', async () => {
  const q = testQueue({ deadLetters: 2 });
  const rec = recorder();
  try {
    for (const m of ['one', 'two', 'three']) await fail.delay(q, m);
    await runUntil(worker(q, rec), 'three failures', () => rec.outcomes.length >= 3);
    const dead = await redis.lrange(q.keys.dead, 0, -1);
    assert.equal(dead.length, 2);
    const records = dead.map((d) => JSON.parse(d.slice(d.indexOf('|') + 1)) as { reason: string; message: string });
    assert.deepEqual(
      records.map((r) => r.reason),
      ['thrown', 'thrown'],
    );
    assert.deepEqual(new Set(records.map((r) => r.message)).size, 2);
  } finally {
    await dropQueue(redis, q);
    await q.close();
  }
});

test('a stop puts running tasks back at once, counted as a cut-off (reason stopped) so that a task no stop lets finish cannot loop for ever', async () => {
  const q = testQueue();
  const ledger = ledgerFile();
  try {
    const id = await cooperative.delay(q, ledger);
    const w = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, shutdownTimeoutMs: 100 });
    const running = w.run();
    const { waitFor } = await import('./helpers.ts');
    await waitFor('the task to start', () => readLedger(ledger).length > 0);
    await w.close();
    await running;
    const [entry] = await redis.lrange(q.keys.waiting, 0, -1);
    assert.ok(entry?.startsWith('1|1|1|stopped|'), `put back with attempt 1, one cut-off, reason stopped: ${entry}`);
    assert.ok(entry?.includes(`|${id}|cooperative|`));
    assert.equal(await redis.zcard(q.keys.workers), 0, 'the registration is gone');
  } finally {
    await dropQueue(redis, q);
    await q.close();
  }
});

test('a worker whose modules do not load refuses to start', async () => {
  const q = testQueue();
  try {
    for (const module of ['./test/fixtures/broken-module.ts', './test/fixtures/empty-module.ts', './test/fixtures/missing.ts']) {
      const w = new InlineWorker({ queue: q, tasks: [module], handleSignals: false });
      await assert.rejects(w.run(), (err: unknown) => err instanceof ModuleLoadError && err.message.includes(module));
    }
  } finally {
    await dropQueue(redis, q);
    await q.close();
  }
});

test('an idle worker closes within a round trip or two, and its process exits by itself right after', async () => {
  const q = testQueue();
  try {
    const { spawn } = await import('node:child_process');
    const proc = spawn(process.execPath, ['--import', 'tsx', new URL('./fixtures/close-and-exit.ts', import.meta.url).pathname], {
      env: { ...process.env, QUEUE: q.name, REDIS_URL },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const exitedAt = Date.now();
    const { closeMs, closedAt } = JSON.parse(out) as { closeMs: number; closedAt: number };
    // Promise: close() unblocks the fetch (CLIENT UNBLOCK) instead of waiting out its 1 s BLMOVE, and leaves
    // no timer that keeps the process up. Bounds: a few round trips plus 500 ms for a loaded machine. On a
    // cluster there is no CLIENT UNBLOCK across nodes: the stop waits for the block to end (at most 1 s).
    const bound = ON_CLUSTER ? 1500 : 600;
    assert.ok(closeMs < bound, `close() took ${closeMs.toFixed(0)} ms`);
    // The exit itself: the sockets' close (ioredis keeps a timer per socket until the server's FIN arrives) and
    // Node's teardown, which a loaded machine slows (937 ms seen at load average 10); the bug this guards against
    // (timers of the worker's own waits) kept the process up for 2-3 s.
    assert.ok(exitedAt - closedAt < 1500, `the process exited ${exitedAt - closedAt} ms after close() resolved`);
  } finally {
    await dropQueue(redis, q);
    await q.close();
  }
});

test('a listener that throws is logged; the task is released all the same and the worker goes on', async () => {
  const q = testQueue();
  const errors: string[] = [];
  const logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: (_f: object, message: string) => void errors.push(message),
  };
  try {
    const ids = [await add.delay(q, 1, 2), await fail.delay(q, 'boom'), await add.delay(q, 3, 4)];
    const w = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, logger });
    let outcomes = 0;
    for (const event of ['start', 'success', 'failure'] as const) {
      w.on(event, () => {
        if (event !== 'start') outcomes++;
        throw new Error(`listener of ${event}`);
      });
    }
    await runUntil(w, 'three outcomes', () => outcomes >= 3, 30_000);
    assert.equal(outcomes, 3);
    assert.equal(await redis.llen(q.keys.waiting), 0, 'nothing put back');
    assert.deepEqual(await queueKeysNow(redis, q), [], 'every run released');
    assert.ok(errors.some((m) => m.includes("'success' listener threw")) && errors.some((m) => m.includes("'failure' listener threw")));
    assert.equal(ids.length, 3);
  } finally {
    await dropQueue(redis, q);
    await q.close();
  }
});
