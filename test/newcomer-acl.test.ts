// Least privilege: the README's ACL line (block marked file=acl.txt) on a private redis-server. As a user with
// exactly that list, producers, a worker and queueStatus do their work and Redis denies nothing (ACL LOG);
// with the optional commands taken away they still work, quietly (ioredis options with enableReadyCheck off),
// and the only denials are of those optional commands.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { InlineWorker, Queue, defineTask, queueStatus, taskContext, type RedisSource } from '../src/index.ts';
import { redisCommand, startRedis, type RedisServer, type RedisReply } from '../scripts/redis-server.mjs';
import { waitFor } from './helpers.ts';
import { readmeFiles } from './newcomer-support.ts';

const add = defineTask('add', (a: number, b: number) => a + b);
const OPTIONAL = ['+client|setname', '+client|id', '+client|unblock', '+config|get', '+info'];

let server: RedisServer;
let rules: string[];

before(async () => {
  const line = readmeFiles().get('acl.txt')?.trim();
  assert.ok(line, 'README.md has no block marked file=acl.txt');
  const words = line.split(/\s+/);
  assert.deepEqual(words.slice(0, 3), ['ACL', 'SETUSER', 'delayed']);
  rules = words.slice(3).map((w) => (w === '>CHANGE-ME' ? '>secret' : w));
  assert.deepEqual(rules.slice(-OPTIONAL.length), OPTIONAL, 'the README says the last five are the optional ones');
  server = await startRedis();
  await redisCommand(server.port, ['ACL', 'SETUSER', 'delayed', ...rules]);
  await redisCommand(server.port, ['ACL', 'SETUSER', 'delayed-min', ...rules.slice(0, -OPTIONAL.length)]);
});

after(async () => {
  await server?.stop();
});

/** The commands Redis denied since the last reset, as ACL LOG names them (`object`), then a reset. */
async function denied(): Promise<string[]> {
  const log = (await redisCommand(server.port, ['ACL', 'LOG'])) as RedisReply[];
  await redisCommand(server.port, ['ACL', 'LOG', 'RESET']);
  return log.map((entry) => {
    const fields = entry as RedisReply[];
    const at = fields.findIndex((f) => String(f) === 'object');
    return `${String(fields[fields.findIndex((f) => String(f) === 'reason') + 1])}:${String(fields[at + 1])}`;
  });
}

/** Enqueue, run with an in-process worker, read the status, stop; returns what ioredis printed meanwhile. */
async function workAs(redis: RedisSource, name: string): Promise<string[]> {
  const printed: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => void printed.push(args.map(String).join(' '));
  const queue = new Queue({ name, redis });
  try {
    const ids = [await add.delay(queue, 1, 2), await add.delay(queue, 3, 4), ...(await queue.enqueueMany([{ name: 'add', args: [5, 6] }]))];
    // Issue 12's paths: a task for later, a retry, a schedule that fires (scripts and client reads alike).
    await add.with({ delayMs: 200 }).delay(queue, 7, 8);
    assert.equal((await queue.scheduled()).length, 1);
    let thrown = false;
    const once = defineTask(
      'once',
      () => {
        if (thrown) return 'retried';
        thrown = true;
        throw new Error('first run');
      },
      { retries: 1, backoff: { type: 'fixed', delayMs: 100 } },
    );
    await once.delay(queue);
    await queue.schedule('acl-beat', { everyMs: 200, task: add, args: [1, 1] });
    // Issue 13's paths: lookups and cancels (waiting, scheduled, running, unknown).
    const doomed = await add.delay(queue, 100, 100);
    const later = await add.with({ delayMs: 60_000 }).delay(queue, 100, 100);
    assert.equal((await queue.task(doomed)).state, 'waiting');
    assert.equal((await queue.task(later)).state, 'scheduled');
    assert.equal(await queue.cancel(doomed), 'removed');
    assert.equal(await queue.cancel(later), 'removed');
    assert.equal(await queue.cancel('nobody.1'), 'not-found');
    const hold = defineTask(
      'hold',
      () => new Promise((resolve) => taskContext()?.signal.addEventListener('abort', () => resolve('aborted'))),
    );
    const held = await hold.delay(queue);
    const keptId = await add.with({ keepResult: { ttlMs: 10_000 } }).delay(queue, 20, 22);
    const kept = queue.result(keptId, { timeoutMs: 30_000 });
    const results: unknown[] = [];
    const worker = new InlineWorker({
      queue,
      tasks: [add, once, hold],
      leaseMs: 600,
      concurrency: 2,
      handleSignals: false,
      successHandler: (_t, r) => void results.push(r),
      errorHandler: (_t, f) => void results.push(f.reason),
    });
    const running = worker.run();
    try {
      await waitFor('the held task to run', async () => (await queue.task(held)).state === 'running', 30_000);
      assert.equal(await queue.cancel(held), 'stopping');
      assert.equal(await kept, 42);
      assert.equal((await queue.task(keptId)).state, 'succeeded');
      const all = () => [3, 7, 11, 15, 'retried', 2, 'cancelled'].every((r) => results.includes(r));
      await waitFor(`the results (printed: ${printed.join('; ')})`, all, 30_000);
      assert.equal((await queue.schedules()).length, 1);
      assert.equal(await queue.unschedule('acl-beat'), true);
      const status = await queueStatus(queue);
      assert.equal(status.workers.length, 1);
    } finally {
      await worker.close();
      await running;
    }
    assert.deepEqual(results.filter((r) => r !== 2).sort(), [3, 7, 11, 15, 42, 'cancelled', 'retried'].sort());
    assert.equal(ids.length, 3);
  } finally {
    await queue.close();
    console.warn = warn;
  }
  return printed;
}

test("as a user with exactly the README's ACL: everything works, Redis denies nothing", async () => {
  await denied();
  const printed = await workAs(`redis://delayed:secret@127.0.0.1:${server.port}`, 'acl-full');
  assert.deepEqual(printed, []);
  assert.deepEqual(await denied(), []);
});

test('without the optional commands: it still works, ioredis is quiet with enableReadyCheck off, only optional commands are denied', async () => {
  await denied();
  const printed = await workAs(
    { host: '127.0.0.1', port: server.port, username: 'delayed-min', password: 'secret', enableReadyCheck: false },
    'acl-min',
  );
  assert.deepEqual(printed, [], 'nothing printed');
  const optional = new Set(OPTIONAL.map((c) => `command:${c.slice(1)}`));
  const refused = await denied();
  assert.deepEqual(
    refused.filter((d) => !optional.has(d)),
    [],
    `denied: ${refused.join(', ')}`,
  );
  assert.ok(refused.includes('command:config|get'), `the eviction check was tried: ${refused.join(', ')}`);
});

test('without INFO and with a URL, ioredis says "Skipping the ready check" (why the README names enableReadyCheck)', async () => {
  const printed = await workAs(`redis://delayed-min:secret@127.0.0.1:${server.port}`, 'acl-url');
  assert.ok(
    printed.some((p) => p.includes('Skipping the ready check')),
    printed.join('\n'),
  );
  await denied();
});
