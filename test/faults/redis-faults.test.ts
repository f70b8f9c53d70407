// Scenarios 7, 8 and 13: Redis itself fails. kill -9 and restart with AOF (appendfsync always and everysec)
// in the middle of a flow; a restart without persistence (the data is gone: workers must notice and say so);
// running out of memory (maxmemory, noeviction) while tasks are enqueued, taken and released.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { runScript } from '../../src/scripts.ts';
import { queueKeys } from '../../src/keys.ts';
import { hasRedisServer } from '../../scripts/redis-server.mjs';
import { report } from './report.ts';
import { inScenario, Scenario } from './scenario.ts';
import { waitFor } from '../helpers.ts';
import { tally } from './ledger.ts';
import { redisNow } from '../helpers.ts';
import { entry } from './seed.ts';
import { probeReconnect } from './probes.ts';

const skip = hasRedisServer() ? false : 'redis-server is not installed';
const probe = await probeReconnect('worker');
const hangBug = probe.recovered
  ? false
  : `core bug: a worker whose connection dropped with a command in flight may never register again (its later commands never settle: ioredis auto-pipelining with autoResendUnfulfilledCommands false); ${probe.detail}`;

interface Produced {
  hung: number;
  readonly acked: Map<string, number>;
  readonly errors: { t: number; message: string }[];
  readonly latencies: number[];
}

/** Enqueues one task every `everyMs` until stopped; records acknowledgements, errors and call latencies. */
function produce(s: Scenario, everyMs: number, args: () => unknown[]): { produced: Produced; stop: () => Promise<Produced> } {
  const queue = s.queue();
  const produced: Produced = { hung: 0, acked: new Map(), errors: [], latencies: [] };
  let on = true;
  const pending = new Set<Promise<void>>();
  const loop = (async () => {
    while (on) {
      const started = Date.now();
      const call = queue
        .enqueue('work', args())
        .then(
          (id) => void produced.acked.set(id, Date.now()),
          (err: Error) => void produced.errors.push({ t: Date.now(), message: err.message }),
        )
        .finally(() => {
          produced.latencies.push(Date.now() - started);
          pending.delete(call);
        });
      pending.add(call);
      await sleep(everyMs);
    }
  })();
  return {
    produced,
    stop: async () => {
      on = false;
      await loop;
      // Bounded: an enqueue that never settles must not hold the test (it is counted as hung).
      await Promise.race([Promise.all(pending), sleep(10_000)]);
      produced.hung = pending.size;
      return produced;
    },
  };
}

/** Waits until nothing is waiting or held in any worker list for `quietMs`. */
async function quiescent(s: Scenario, redis: Redis, ms: number, quietMs = 1500): Promise<void> {
  let since = 0;
  await waitFor(
    'the queue to drain',
    async () => {
      let held = await redis.llen(s.key('waiting'));
      for (const key of await redis.keys(s.key('worker:*'))) held += await redis.llen(key);
      if (held > 0) since = 0;
      else if (since === 0) since = Date.now();
      return since > 0 && Date.now() - since >= quietMs;
    },
    ms,
    100,
  );
}

for (const fsync of ['always', 'everysec'] as const) {
  test(`7. Redis kill -9 mid-flow, restarted with AOF appendfsync ${fsync}`, { skip, todo: hangBug, timeout: 150_000 }, async () => {
    await inScenario(Scenario.create(`redis kill aof ${fsync}`, ['--appendonly', 'yes', '--appendfsync', fsync]), async (s) => {
      let producer: ReturnType<typeof produce> | undefined;
      try {
        const workers = [await s.worker({ concurrency: 4 }), await s.worker({ concurrency: 4 })];
        producer = produce(s, 10, () => [s.ledgerDir, 40]);
        await sleep(2000); // the flow runs
        const killedAt = Date.now();
        await s.redis.kill9();
        await sleep(2000); // the outage
        await s.redis.restart();
        const upAt = Date.now();
        // Each worker resumes: one of its children starts a task after Redis came back.
        const resumed = await Promise.all(
          workers.map((w) =>
            waitFor(`${w.name} to resume`, () => s.ledger().find((e) => e.event === 'start' && e.ppid === w.pid && e.t > upAt), 15_000),
          ),
        );
        await sleep(2000);
        const produced = await producer.stop();
        const redis = s.client();
        await quiescent(s, redis, 60_000);
        const ids = [...produced.acked.keys()];
        const events = s.ledger();
        const t = tally(ids, events);
        const lostAckAges = t.lost.map((id) => killedAt - produced.acked.get(id)!);
        const outageErrors = produced.errors.filter((e) => e.t >= killedAt);
        const alive = workers.filter((w) => w.alive).length;
        const residue = await s.stopAllAndCheckResidue();
        report(`7. Redis kill -9 + AOF ${fsync}`, {
          'acknowledged enqueues': ids.length,
          'enqueue errors (outage)': outageErrors.length,
          'slowest enqueue call ms': Math.max(...produced.latencies),
          'enqueue calls that never settled': produced.hung,
          'acknowledged, lost by Redis': t.lost.length,
          'lost: acknowledged at most ms before the kill': lostAckAges.length > 0 ? Math.max(...lostAckAges) : 0,
          'tasks with >1 outcome (handler ran, release cut off by the outage)': t.duplicateOutcomes.length,
          'same attempt started twice': t.sameAttemptTwice.length,
          'workers resumed ms after restart (max)': Math.max(...resumed.map((e) => e.t - upAt)),
          'workers alive': alive,
          residue: residue.join(' ') || 'none',
        });
        assert.ok(outageErrors.length > 0, 'producers get errors during the outage');
        assert.equal(produced.hung, 0, 'no enqueue hangs');
        assert.ok(Math.max(...produced.latencies) < 10_000, 'no enqueue takes long');
        if (fsync === 'always') assert.deepEqual(t.lost, [], 'with appendfsync always nothing acknowledged is lost');
        else for (const age of lostAckAges) assert.ok(age <= 2500, `only writes of the last second(s) may be lost (${age} ms)`);
        assert.equal(alive, 2, 'the worker processes survive the outage');
        assert.deepEqual(t.sameAttemptTwice, []);
        for (const e of resumed) assert.ok(e.t - upAt <= 5000, `workers resume within 5 s (${e.t - upAt} ms)`);
        assert.deepEqual(residue, []);
      } finally {
        await producer?.stop();
      }
    });
  });
}

test('8. Redis restarted without persistence: workers survive, report the data loss, and go on', { skip, timeout: 120_000 }, async () => {
  await inScenario(Scenario.create('redis restart empty'), async (s) => {
    const workers = [await s.worker({ concurrency: 2 }), await s.worker({ concurrency: 2 })];
    const queue = s.queue();
    const before = await queue.enqueueMany(Array.from({ length: 30 }, () => ({ name: 'work', args: [s.ledgerDir, 400] })));
    await waitFor('tasks to run', () => s.ledger().filter((e) => e.event === 'start').length >= 4, 15_000);
    await s.redis.kill9();
    await s.redis.restart();
    const upAt = Date.now();
    const reports = await Promise.all(workers.map((w) => w.waitFor('dataLoss', 15_000)));
    const after = await waitFor(
      'the producer to enqueue again',
      async () =>
        await queue.enqueueMany(Array.from({ length: 10 }, () => ({ name: 'work', args: [s.ledgerDir, 50] }))).catch(() => undefined),
      10_000,
    );
    const events = await s.drained(after, 30_000);
    const gone = tally(before, events).lost.length;
    const logs = workers.map((w) => readFileSync(join(s.dir, `${w.name}.log`), 'utf8'));
    const residue = await s.stopAllAndCheckResidue();
    report('8. Redis restart without persistence', {
      'tasks enqueued before': before.length,
      'never finished (gone with Redis data)': gone,
      'workers that reported dataLoss': reports.length,
      'reported ms after restart (max)': Math.max(...reports.map((m) => m.t - upAt)),
      'workers that logged the epoch change': logs.filter((l) => l.includes('epoch changed')).length,
      'workers alive after': workers.filter((w) => w.exit === undefined || w.exit.code === 0).length,
      'tasks enqueued after, done': `${tally(after, events).byOutcome.success ?? 0}/${after.length}`,
      residue: residue.join(' ') || 'none',
    });
    for (const m of reports) assert.notEqual(m.previous, m.current);
    assert.equal(logs.filter((l) => l.includes('epoch changed')).length, 2);
    assert.equal(tally(after, events).byOutcome.success, after.length);
    for (const w of workers) assert.equal(w.exit?.code, 0, `${w.name} survived and stopped in good order`);
    assert.deepEqual(residue, []);
  });
});

test('13a. OOM (maxmemory, noeviction): every script either errors having written nothing, or completes', {
  skip,
  timeout: 60_000,
}, async () => {
  await inScenario(Scenario.create('oom scripts', ['--maxmemory-policy', 'noeviction']), async (s) => {
    const redis = s.client();
    const keys = queueKeys('delayed', s.queueName)[0]!;
    const list = keys.worker('w1');
    const snapshot = async () =>
      JSON.stringify(
        await Promise.all([
          redis.lrange(keys.waiting, 0, -1),
          redis.lrange(list, 0, -1),
          redis.zrange(keys.workers, 0, -1, 'WITHSCORES'),
          redis.get(keys.epoch),
          redis.lrange(keys.dead, 0, -1),
          redis.exists(keys.sweepLock),
        ]),
      );
    const now = await redisNow(redis);
    await redis.set(keys.epoch, 'e1');
    await redis.zadd(keys.workers, now + 60_000, 'w1', now - 60_000, 'gone');
    await redis.rpush(keys.waiting, entry('a', 'work', []), entry('b', 'work', []));
    await redis.rpush(list, entry('c', 'work', []), entry('d', 'work', []));
    await redis.rpush(keys.worker('gone'), entry('e', 'work', []));
    await redis.config('SET', 'maxmemory', '1');
    const calls: [string, () => Promise<unknown>][] = [
      ['register', () => runScript(redis, 'register', [keys.workers, keys.epoch, keys.info], ['w2', 1000, 'e2', '{}'])],
      ['renew', () => runScript(redis, 'renew', [keys.workers, keys.epoch, keys.info, keys.cancel, keys.paused], ['w1', 1000, 'e1', '{}'])],
      ['dequeue', () => runScript(redis, 'dequeue', [keys.waiting, keys.workers, list], ['w1', 1])],
      ['release (LREM)', () => redis.lrem(list, 1, entry('c', 'work', []))],
      ['requeue', () => runScript(redis, 'requeue', [list, keys.waiting, keys.cancel], [entry('d', 'work', []), 1, 'crashed'])],
      ['fail', () => runScript(redis, 'fail', [list, keys.dead], [entry('a', 'work', []), '{}', 10])],
      ['sweep', () => runScript(redis, 'sweep', [keys.workers, keys.sweepLock, keys.retired, keys.retiredLock], [1000, 0, 100, 't', 0])],
      [
        'recover',
        () =>
          runScript(
            redis,
            'recover',
            [keys.workers, keys.worker('gone'), keys.waiting, keys.info, keys.epoch, keys.retired, keys.cancel],
            ['gone', 1000, 'lost', 0, 0],
          ),
      ],
      ['BLMOVE', () => redis.blmove(keys.waiting, list, 'RIGHT', 'LEFT', 1)],
      ['enqueue (LPUSH)', () => redis.lpush(keys.waiting, entry('f', 'work', []))],
    ];
    const results: Record<string, string> = {};
    for (const [name, call] of calls) {
      const before = await snapshot();
      const outcome = await call().then(
        () => 'ok',
        (err: Error) => `error: ${err.message.split(' ')[0]}`,
      );
      const after = await snapshot();
      results[name] = outcome === 'ok' ? 'completed' : `${outcome}, wrote ${before === after ? 'nothing' : 'SOMETHING'}`;
    }
    await redis.config('SET', 'maxmemory', '0');
    // Count every entry: each of a..e exactly once across waiting, the in-flight list and the dead letters (c released).
    const all = [
      ...(await redis.lrange(keys.waiting, 0, -1)),
      ...(await redis.lrange(list, 0, -1)),
      ...(await redis.lrange(keys.dead, 0, -1)),
      ...(await redis.lrange(keys.worker('gone'), 0, -1)),
    ];
    const seen = ['a', 'b', 'd', 'e'].map((id) => all.filter((e) => e.includes(`|${id}|work|`)).length);
    report('13a. OOM: each script all-or-nothing', { ...results, 'entries a,b,d,e found (each once)': seen.join(',') });
    for (const [name, result] of Object.entries(results)) assert.ok(!result.includes('SOMETHING'), `${name} failed half-way: ${result}`);
    assert.match(results['enqueue (LPUSH)']!, /OOM/, 'an enqueue under OOM gets an error');
    assert.deepEqual(seen, [1, 1, 1, 1]);
  });
});

test('13b. OOM during a flow: producers get errors, workers stall and recover, nothing acknowledged is lost', {
  skip,
  timeout: 150_000,
}, async () => {
  await inScenario(Scenario.create('oom flow', ['--maxmemory-policy', 'noeviction']), async (s) => {
    let producer: ReturnType<typeof produce> | undefined;
    try {
      const workers = [await s.worker({ concurrency: 2 }), await s.worker({ concurrency: 2 })];
      const redis = s.client();
      const pad = 'x'.repeat(4000);
      producer = produce(s, 5, () => [s.ledgerDir, 200, 0, pad]);
      await waitFor('a backlog to build', async () => (await redis.llen(s.key('waiting'))) >= 100, 20_000);
      // Memory full: a little over what is used now, so enqueues fail while workers keep taking and releasing.
      const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
      await redis.config('SET', 'maxmemory', String(Math.floor(used / 2)));
      const oomAt = Date.now();
      await waitFor('enqueues to fail with OOM', () => producer!.produced.errors.some((e) => e.message.startsWith('OOM')), 20_000);
      await sleep(4000); // the memory stays full: dequeues, releases, renewals meet OOM
      await redis.config('SET', 'maxmemory', '0');
      const freedAt = Date.now();
      await sleep(500);
      const produced = await producer.stop();
      const ids = [...produced.acked.keys()];
      const events = await s.drained(ids, 90_000);
      const t = tally(ids, events);
      const oomErrors = produced.errors.filter((e) => e.message.startsWith('OOM'));
      const leaseLosses = workers.flatMap((w) => w.messages.filter((m) => m.ev === 'leaseLost' && m.t >= oomAt));
      const residue = await s.stopAllAndCheckResidue();
      report('13b. OOM during a flow', {
        'acknowledged enqueues': ids.length,
        'enqueue errors (OOM)': oomErrors.length,
        'OOM held ms': freedAt - oomAt,
        'lease losses while full': leaseLosses.length,
        lost: t.lost.length,
        'duplicate starts': t.duplicateStarts,
        'same attempt started twice': t.sameAttemptTwice.length,
        'tasks with >1 outcome': t.duplicateOutcomes.length,
        residue: residue.join(' ') || 'none',
      });
      assert.ok(oomErrors.length > 0, 'producers get OOM errors');
      assert.deepEqual(t.lost, [], 'nothing acknowledged is lost');
      assert.deepEqual(t.sameAttemptTwice, []);
      assert.deepEqual(residue, []);
    } finally {
      await producer?.stop();
    }
  });
});
