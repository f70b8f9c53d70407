// Repeating schedules through the public API: upsert, listing, removal, firing by many processes at once
// (each occurrence exactly once), missed ticks, and the checks of the options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidOptionError, type Queue } from '../src/index.ts';
import { fireDue } from '../src/schedules.ts';
import { Timekeeper } from '../src/timekeeper.ts';
import { add } from './fixtures/tasks.ts';
import { useInspector, queueKeysNow, waitFor, withQueue, redisNow } from './helpers.ts';

const redis = useInspector();

const suffix = (key: string) => key.slice(key.indexOf('}:') + 2);
/** The occurrence ids in the waiting list, oldest first. */
const occurrences = async (q: Queue) => (await redis.lrange(q.keys.waiting, 0, -1)).reverse().map((e) => e.split('|')[4] as string);

test('schedule is an upsert: the same spec keeps its armed tick, a changed one is armed anew; listed; removed', () =>
  withQueue(redis, async (q) => {
    const now = await redisNow(redis);
    const first = await q.schedule('nightly', { cron: '0 3 * * *', tz: 'Europe/Berlin', task: add, args: [1, 2] });
    assert.equal(first.changed, true);
    assert.ok(first.nextDueAt.getTime() > now && first.nextDueAt.getTime() <= now + 86_400_000 + 3_600_000);
    assert.equal(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', timeStyle: 'short' }).format(first.nextDueAt), '03:00');
    const again = await q.schedule('nightly', { cron: '0 3 * * *', tz: 'Europe/Berlin', task: add, args: [1, 2] });
    assert.deepEqual(again, { changed: false, nextDueAt: first.nextDueAt });
    await q.schedule('often', { everyMs: 60_000, task: 'add', args: [0, 0], overlap: 'skip', missed: { backfill: 2 } });
    const listed = await q.schedules();
    assert.deepEqual(
      listed.map((s) => [s.id, s.cron ?? s.everyMs, s.tz, s.task, s.args, s.missed, s.overlap]),
      [
        ['nightly', '0 3 * * *', 'Europe/Berlin', 'add', [1, 2], 'latest', 'allow'],
        ['often', 60_000, 'UTC', 'add', [0, 0], { backfill: 2 }, 'skip'],
      ],
    );
    assert.equal((listed[1]?.nextDueAt?.getTime() ?? 1) % 60_000, 0, 'everyMs ticks on multiples of the period');
    const changed = await q.schedule('nightly', { cron: '0 4 * * *', tz: 'Europe/Berlin', task: add, args: [1, 2] });
    assert.equal(changed.changed, true);
    assert.equal(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', timeStyle: 'short' }).format(changed.nextDueAt), '04:00');
    assert.deepEqual((await queueKeysNow(redis, q)).map(suffix), ['schedule-times', 'schedules'], 'the two documented keys');
    assert.equal(await q.unschedule('nightly'), true);
    assert.equal(await q.unschedule('nightly'), false);
    assert.equal(await q.unschedule('often'), true);
    assert.deepEqual(await queueKeysNow(redis, q), [], 'no schedule, no key');
  }));

test('bad schedule options are refused, having written nothing', () =>
  withQueue(redis, async (q) => {
    const cases: [string, object, RegExp][] = [
      ['a', { task: add }, /Expected exactly one of `cron` and `everyMs`, got neither/],
      ['a', { task: add, cron: '* * * * *', everyMs: 1000 }, /got both/],
      ['a', { task: add, cron: '* * * *' }, /Expected `cron` to be a 5-field cron expression/],
      ['a', { task: add, cron: '0 0 30 2 *' }, /never does/],
      ['a', { task: add, cron: '0 3 * * *', tz: 'Nowhere/Else' }, /Expected `tz` to be an IANA time zone name/],
      ['a', { task: add, everyMs: 5 }, /Expected `everyMs` to be an integer from 10/],
      ['a', { task: '1bad', everyMs: 1000 }, /Expected `task` to be a task handle or a task name/],
      ['a', { task: add, everyMs: 1000, args: [new Date()] }, /Date, which JSON does not carry/],
      ['a', { task: add, everyMs: 1000, missed: 'all' }, /Expected `missed` to be 'latest', 'none' or \{ backfill: n \}/],
      ['a', { task: add, everyMs: 1000, missed: { backfill: 0 } }, /Expected `missed.backfill` to be an integer from 1 to 100/],
      ['a', { task: add, everyMs: 1000, overlap: 'queue' }, /Expected `overlap` to be 'allow' or 'skip'/],
      ['a b', { task: add, everyMs: 1000 }, /Expected a schedule id of 1-100/],
    ];
    for (const [id, options, message] of cases) {
      await assert.rejects(
        q.schedule(id, options as never),
        (e: Error) => (e instanceof InvalidOptionError || e.name === 'SerializationError') && message.test(e.message),
        `${id} ${JSON.stringify(options)}`,
      );
    }
    assert.deepEqual(await queueKeysNow(redis, q), []);
  }));

test('four firers (each its own connection) on a 100 ms schedule: every tick enqueued exactly once, none missed', () =>
  withQueue(redis, async (q) => {
    const connections = Array.from({ length: 4 }, () => q.redis.duplicate());
    const keepers = connections.map((c) => new Timekeeper({ queue: q, redis: c, intervalMs: 50 }));
    try {
      // Backfill: under load a round can come more than one 100 ms period late, and the default ('latest')
      // then rightly skips to the newest tick; this test is about every tick being fired exactly once.
      const { nextDueAt } = await q.schedule('fast', { everyMs: 100, task: add, args: [1, 1], missed: { backfill: 100 } });
      for (const k of keepers) k.start();
      const start = nextDueAt.getTime();
      await waitFor('20 ticks', async () => (await redis.llen(q.keys.waiting)) >= 20, 20_000);
      await Promise.all(keepers.map((k) => k.stop()));
      const ids = await occurrences(q);
      assert.equal(new Set(ids).size, ids.length, 'no duplicate');
      const ticks = ids.map((id) => Number(id.split(':').at(-1)));
      assert.equal(ticks[0], start, 'the first occurrence is the first tick after registration');
      assert.deepEqual(
        ticks,
        ticks.map((_, i) => start + i * 100),
        'consecutive ticks, none missed',
      );
      assert.ok(ids.every((id) => id.startsWith('cron:fast:')));
    } finally {
      await Promise.all(keepers.map((k) => k.stop()));
      for (const c of connections) c.disconnect();
    }
  }));

test("missed ticks: 'latest' runs the last one, backfill the last n, 'none' none that is over 60 s late", () =>
  withQueue(redis, async (q) => {
    const now = await redisNow(redis);
    const defaults = { defaultTimeoutMs: 1000, maxAttempts: 3, maxPayloadBytes: 1e6 };
    const second = Math.floor(now / 1000) * 1000;
    await q.schedule('latest', { everyMs: 1000, task: add, args: [1, 1] });
    await q.schedule('backfill', { everyMs: 1000, task: add, args: [2, 2], missed: { backfill: 3 } });
    await q.schedule('none', { cron: '0 0 1 1 *', task: add, args: [3, 3], missed: 'none' });
    // as if nothing had run for ten minutes
    await redis.zadd(q.keys.scheduleTimes, second - 600_000, 'latest', second - 600_000, 'backfill', second - 600_000, 'none');
    const fired = await fireDue(q.redis, q.keys, defaults);
    assert.equal(fired.enqueued, 4);
    const ids = await occurrences(q);
    const latest = Number(ids.find((i) => i.startsWith('cron:latest:'))?.split(':')[2]);
    assert.ok(latest <= fired.now && latest > fired.now - 1000, 'the most recent tick');
    const backfill = ids.filter((id) => id.startsWith('cron:backfill:')).map((id) => Number(id.split(':')[2]));
    assert.deepEqual(backfill, [latest - 2000, latest - 1000, latest]);
    assert.equal(ids.filter((id) => id.startsWith('cron:none:')).length, 0);
    const times = Object.fromEntries((await q.schedules()).map((s) => [s.id, s.nextDueAt?.getTime()]));
    assert.equal(times.latest, latest + 1000);
    assert.equal(times.backfill, latest + 1000);
    assert.equal(new Date(times.none as number).toISOString().slice(4), '-01-01T00:00:00.000Z', 'none: armed at the next tick');
    assert.ok((times.none as number) > fired.now);
  }));
