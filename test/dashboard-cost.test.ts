// What one refresh of the dashboard costs Redis, counted with MONITOR on the dashboard's own connection:
// with 1,000,000 waiting tasks, 100,000 scheduled ones, 100 registered workers and 1,000 dead letters, against
// the same queue shape with 10 of each. The Queues page's scheduled figures come from the status read (no
// command added); the Scheduled page is its own read, counted here. The count must not depend on the number of tasks, and a second request within the
// second must cost nothing. Find a task is bounded instead: at most 10,000 entries of each place that grows with
// the backlog per request. The figures are printed (README "Dashboard" quotes them).
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { after, describe, test } from 'node:test';
import type { Queue } from '../src/index.ts';
import { getJson, monitorConnection, post, registerFakeWorker, startDashboard, TOKEN } from './dashboard-support.ts';
import { inspector, ON_CLUSTER, withQueue } from './helpers.ts';

const redis = inspector();
after(() => redis.disconnect());

async function seed(q: Queue, waiting: number, dead: number, workers: number, scheduled = 10): Promise<void> {
  for (let sent = 0; sent < scheduled; ) {
    const members: (string | number)[] = [];
    for (let i = sent; i < Math.min(scheduled, sent + 1000); i++)
      members.push(Date.now() + 60_000 + i, `1|0|0||later.${i.toString(36)}|nap|60000|3|[${i}]`);
    sent += members.length / 2;
    await redis.zadd(q.keys.scheduled, ...members);
  }
  await q.schedule('cost-a', { everyMs: 60_000, task: 'nap' });
  await q.schedule('cost-b', { cron: '0 3 * * *', task: 'nap' });
  const CHUNK = 1000;
  for (let sent = 0; sent < waiting; ) {
    const pipeline = redis.pipeline();
    for (let c = 0; c < 100 && sent < waiting; c++) {
      const batch: string[] = [];
      for (let i = sent; i < Math.min(waiting, sent + CHUNK); i++) batch.push(`1|0|0||seed.${i.toString(36)}|nap|60000|3|[${i}]`);
      sent += batch.length;
      pipeline.lpush(q.keys.waiting, ...batch);
    }
    await pipeline.exec();
  }
  const records: string[] = [];
  for (let i = 0; i < dead; i++)
    records.push(
      `${Date.now()}|${JSON.stringify({ id: `d.${i}`, name: 'nap', reason: 'thrown', message: 'no', entry: `1|0|0||d.${i}|nap|60000|3|[${i}]` })}`,
    );
  for (let i = 0; i < records.length; i += 1000) await redis.rpush(q.keys.dead, ...records.slice(i, i + 1000));
  for (let w = 0; w < workers; w++)
    await registerFakeWorker(q, `cost-worker-${w}`, 600_000, [{ id: `run-${w}`, name: 'nap', attempt: 0, forMs: 100 }]);
  // What the last worker runs, in its in-flight list: the task the Cancel action is measured on.
  await redis.lpush(q.keys.worker(`cost-worker-${workers - 1}`), `1|0|0||run-${workers - 1}|nap|60000|3|[0]`);
}

interface Cost {
  overview: number;
  cached: number;
  dead: number;
  /** The Scheduled page: a page of 50 scheduled tasks and the page of schedules. */
  scheduled: number;
  /** The widest ZRANGE the Scheduled page asked for (stop - start + 1). */
  widest: number;
  /** Find a task: the task taken next (the waiting list's far end: the deepest a search from the newest end goes). */
  find: number;
  /** "Search further" from where that find stopped (undefined when it did not stop). */
  further: number | undefined;
  /** The same find again within the second (cached). */
  findAgain: number;
  /** The widest LRANGE / ZSCAN COUNT of the finds. */
  findWidest: number;
  // biome-ignore lint/suspicious/noExplicitAny: the JSON the dashboard answered
  found: any;
  /** Cancel (the action) of a running task. */
  cancel: number;
  byCommand: Record<string, number>;
}

async function measure(q: Queue): Promise<Cost> {
  const d = await startDashboard({ queue: q, allowActions: true, token: TOKEN });
  const monitor = await monitorConnection(q.redis as Redis);
  try {
    // One refresh of each page: the Queues page (a status read), then Workers within the second (cached),
    // then a page of 50 dead letters.
    await getJson(`${d.url}api/queues`);
    await monitor.settle();
    const overview = monitor.seen.length;
    const byCommand: Record<string, number> = {};
    for (const a of monitor.seen) byCommand[(a[0] ?? '?').toLowerCase()] = (byCommand[(a[0] ?? '?').toLowerCase()] ?? 0) + 1;
    monitor.reset();
    await getJson(`${d.url}api/queues/${q.name}/workers`);
    await monitor.settle();
    const cached = monitor.seen.length;
    monitor.reset();
    await getJson(`${d.url}api/queues/${q.name}/dead?offset=0&limit=50`);
    await monitor.settle();
    const dead = monitor.seen.length;
    monitor.reset();
    await getJson(`${d.url}api/queues/${q.name}/scheduled?limit=50`);
    await monitor.settle();
    const scheduled = monitor.seen.length;
    const ranges = monitor.seen.filter((a) => a[0]?.toLowerCase() === 'zrange').map((a) => Number(a[3]) - Number(a[2]) + 1);
    // Find a task: seed.0 was pushed first, so it is the oldest waiting entry, the one taken next.
    const widths: number[] = [];
    const findCost = async (path: string) => {
      monitor.reset();
      const answer = await getJson(`${d.url}api/queues/${q.name}/tasks/${path}`);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      await monitor.settle();
      for (const a of monitor.seen) {
        const name = a[0]?.toLowerCase();
        if (name === 'lrange') widths.push(Number(a[3]) - Number(a[2]) + 1);
        if (name === 'zscan') widths.push(Number(a[a.indexOf('COUNT') + 1]));
      }
      return { commands: monitor.seen.length, body: answer.body };
    };
    const find = await findCost('seed.0');
    const findAgain = (await findCost('seed.0')).commands;
    const cursor = find.body.more?.cursor;
    const further = cursor === undefined ? undefined : (await findCost(`seed.0?cursor=${encodeURIComponent(cursor)}`)).commands;
    monitor.reset();
    const cancelled = await post(`${d.url}api/queues/${q.name}/cancel`, { id: 'run-99' }, `Bearer ${TOKEN}`);
    assert.deepEqual(cancelled.body, { id: 'run-99', result: 'stopping' });
    await monitor.settle();
    const cancel = monitor.seen.length;
    return {
      overview,
      cached,
      dead,
      scheduled,
      widest: Math.max(...ranges),
      find: find.commands,
      further,
      findAgain,
      findWidest: Math.max(...widths.filter((w) => w > 0 && w < 1e9)),
      found: find.body,
      cancel,
      byCommand,
    };
  } finally {
    await monitor.stop();
    await d.close();
  }
}

describe('dashboard Redis cost', { timeout: 300_000, skip: ON_CLUSTER && 'MONITOR needs a single Redis' }, () => {
  test('commands per refresh do not grow with the queue: 1,000,000 waiting tasks cost what 10 do', async () => {
    let small: Cost | undefined;
    let big: Cost | undefined;
    await withQueue(
      redis,
      async (q) => {
        await seed(q, 10, 10, 100);
        small = await measure(q);
      },
      { deadLetters: 10_000 },
    );
    await withQueue(
      redis,
      async (q) => {
        const started = performance.now();
        await seed(q, 1_000_000, 1000, 100, 100_000);
        console.log(
          `seeded 1,000,000 waiting tasks, 100,000 scheduled, 1,000 dead letters, 100 workers in ${Math.round(performance.now() - started)} ms`,
        );
        assert.equal(await redis.llen(q.keys.waiting), 1_000_000);
        const t = performance.now();
        big = await measure(q);
        console.log(`measured in ${Math.round(performance.now() - t)} ms`);
      },
      { deadLetters: 10_000 },
    );
    console.log(`commands per refresh, 10 waiting: ${JSON.stringify(small)}`);
    console.log(`commands per refresh, 1,000,000 waiting: ${JSON.stringify(big)}`);
    assert.ok(small && big);
    assert.equal(big.overview, small.overview, 'the status read costs the same whatever waits');
    assert.equal(big.dead, small.dead, 'a dead-letter page costs the same whatever the list holds');
    assert.equal(big.cached, 0, 'a second page within the second is served from the cache');
    // MULTI + 12 reads (8, the scheduled set's size and head, the schedules' count, paused) + EXEC, then one
    // LLEN per worker (the in-flight list sizes), and one GET of the configuration record (for priority
    // levels): 115 for 100 workers.
    assert.equal(big.overview, 14 + 100 + 1);
    assert.equal(big.byCommand.keys ?? 0, 0);
    assert.equal(big.byCommand.scan ?? 0, 0);
    assert.equal(big.byCommand.client ?? 0, 0);
    assert.equal(big.scheduled, small.scheduled, 'a Scheduled page costs the same whatever is scheduled');
    // TIME twice (tasks and schedules pages, read concurrently), ZCARD + ZRANGE of the scheduled set, ZCARD +
    // ZRANGE of schedule-times, one HMGET of the specs and one of the overlap holds.
    assert.equal(big.scheduled, 8);
    assert.equal(big.widest, 50, 'ranges by rank, one page wide: O(page), not O(set)');
    assert.ok(big.dead <= 2, `a dead-letter page: one LLEN and one LRANGE (${big.dead})`);
    // Find a task: with 10 waiting it finds the task (one LRANGE); with 1,000,000 it reads 10,000 of each
    // place that grows with the backlog and says it stopped. Per request at most 10 reads of 1,000 of the
    // scheduled set (ZSCAN), the waiting list and the dead letters each, ZRANGE of the workers and one LRANGE of
    // each in-flight list (100), XREVRANGE of the kept result: 3 × 10 + 2 + 100 = 132.
    assert.equal(small.found.state, 'waiting');
    assert.deepEqual([big.found.state, big.found.more?.partitions], ['unknown', [0]], 'not among the first 10,000: says so');
    // And one GET of the configuration record, whose priority levels name the waiting lists to read: 133.
    assert.ok(big.find <= 133 && (big.further ?? 0) <= 133, `a find costs at most 133 commands (${big.find}, ${big.further})`);
    // 100,000 scheduled: 10 ZSCANs; 10 LRANGEs of waiting; 1,000 dead letters: 2 LRANGEs (the second finds the end).
    assert.equal(big.find, 10 + 10 + 1 + 100 + 1 + 2 + 1);
    assert.equal(big.findAgain, 0, 'the same find within the second is served from the cache');
    assert.ok(big.findWidest <= 1000, `reads of at most 1,000 entries (${big.findWidest})`);
    // Cancel of a running task: the request (cancel.lua; one more if Redis has not cached the script yet), then
    // the workers and their in-flight lists, where it is found: no read of the backlog.
    for (const c of [small.cancel, big.cancel]) assert.ok(c <= 1 + 1 + 1 + 100, `cancel of a running task: ${c} commands`);
  });
});
