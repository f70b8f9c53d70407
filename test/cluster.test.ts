// Redis Cluster from the user's side: every way to name a cluster, partitions landing on different
// primaries, the CLI, and stopping a worker whose block cannot be cut short. A private 3-master cluster.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from 'ioredis';
import { InlineWorker, Queue, queueStatus, type RedisSource } from '../src/index.ts';
import { keySlot } from '../src/keys.ts';
import { startCluster, type RedisClusterHandle } from '../scripts/redis-cluster.mjs';
import { add } from './fixtures/tasks.ts';
import { CliProcess, runCli, tasksModule, uniqueName } from './cli-support.ts';
import { FIXTURES, recorder, runUntil, waitFor } from './helpers.ts';

let cluster: RedisClusterHandle;
let client: Cluster;
before(async () => {
  cluster = await startCluster();
  client = new Cluster(cluster.seeds.map((url) => ({ host: '127.0.0.1', port: Number(new URL(url).port) })));
});
after(async () => {
  client.disconnect();
  await cluster.stop();
});

async function drainWith(source: RedisSource, partitions: number): Promise<void> {
  const q = new Queue({ name: uniqueName('c'), redis: source, partitions });
  try {
    const rec = recorder();
    const ids = await q.enqueueMany(Array.from({ length: 60 }, (_, i) => ({ name: 'add', args: [i, i] })));
    ids.push(await add.delay(q, 1, 2));
    const w = new InlineWorker({ queue: q, tasks: [FIXTURES], concurrency: 4, handleSignals: false, successHandler: rec.successHandler });
    await runUntil(w, '61 outcomes', () => rec.outcomes.length >= 61);
    assert.deepEqual(new Set(rec.outcomes.map((o) => o.id)), new Set(ids));
    assert.equal(rec.outcomes.length, 61);
    assert.equal(await q.waiting(), 0);
  } finally {
    await q.close();
  }
}

test('a queue on a cluster, named by a redis+cluster:// URL, a list of seed URLs, or an ioredis Cluster', async () => {
  await drainWith(cluster.url, 1);
  await drainWith([...cluster.seeds], 3);
  await drainWith(client, 3);
  assert.equal(client.status, 'ready', 'the caller keeps its own client: it is duplicated, not taken over');
});

test('three partitions of one queue land on three different primaries', async () => {
  const q = new Queue({ name: uniqueName('spread'), redis: cluster.url, partitions: 3 });
  try {
    const owners = await Promise.all(q.partitions.map((k) => cluster.slotOwner(keySlot(k.waiting))));
    assert.equal(new Set(owners).size, 3, `partition owners: ${owners.join(', ')}`);
    // Every key of a partition is in the partition's slot: scripts never cross slots.
    for (const k of q.partitions) {
      const slots = new Set([k.waiting, k.workers, k.info, k.epoch, k.sweepLock, k.dead, k.worker('w')].map(keySlot));
      assert.equal(slots.size, 1);
    }
  } finally {
    await q.close();
  }
});

test('the CLI works on a cluster: enqueue, worker, status (summed over partitions)', async () => {
  const name = uniqueName('cli');
  const tasks = tasksModule();
  const common = ['--redis', cluster.url, '--queue', name, '--partitions', '3'];
  for (let i = 0; i < 4; i++) {
    const r = await runCli(['enqueue', ...common, 'add', '--args', `[${i}, 1]`]);
    assert.equal(r.code, 0, r.stderr);
  }
  const before = await runCli(['status', ...common, '--json']);
  assert.equal(before.code, 0, before.stderr);
  const status = JSON.parse(before.stdout) as { waiting: number; partitions: number };
  assert.equal(status.partitions, 3);
  assert.equal(status.waiting, 4);
  const q = new Queue({ name, redis: cluster.url, partitions: 3 });
  try {
    assert.equal((await queueStatus(q)).waiting, 4);
    const sizes = await Promise.all(q.partitions.map((k) => client.llen(k.waiting)));
    assert.equal(
      sizes.reduce((a, b) => a + b, 0),
      4,
      `per partition: ${sizes.join(', ')}`,
    );
  } finally {
    await q.close();
  }
  const worker = new CliProcess(['worker', ...common, '--tasks', tasks, '--kind', 'inline']);
  try {
    await waitFor(
      'the worker to drain the queue',
      async () => {
        const r = await runCli(['status', ...common, '--json']);
        const s = JSON.parse(r.stdout) as { waiting: number; inFlight: number; totals: { succeeded: number } };
        return s.waiting === 0 && s.inFlight === 0 && s.totals.succeeded === 4;
      },
      60_000,
      25,
    );
  } finally {
    const how = await worker.stop();
    assert.equal(how.code, 0, worker.stderr);
  }
  const bad = await runCli(['status', '--redis', 'redis+cluster://', '--queue', name]);
  assert.equal(bad.code, 2, 'a cluster URL without hosts is bad usage');
  assert.match(bad.stderr, /host:port/);
});

test('an idle worker on a cluster stops within about one block: it waits for its blocking fetch to end before leaving', async () => {
  const q = new Queue({ name: uniqueName('stop'), redis: cluster.url });
  try {
    const w = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false });
    const running = w.run();
    await waitFor('registration', () => w.workerId !== '');
    // Let it settle into a blocking fetch.
    await waitFor('an idle moment', async () => (await q.waiting()) === 0 && w.active === 0);
    const started = Date.now();
    await w.close();
    await running;
    const took = Date.now() - started;
    console.log(`idle worker stop on a cluster: ${took} ms`);
    assert.ok(took < 6000, `stopped in ${took} ms`);
    const registrations = await client.zcard(q.keys.workers);
    assert.equal(registrations, 0, 'it left in good order');
  } finally {
    await q.close();
  }
});
