// `delayed status` and the status reader: what it shows, that its cost does not grow with the queue (a
// million waiting tasks), queue listing, --watch and throughput.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { renderStatus } from '../src/cli/render.ts';
import { Queue, queueStatus, type QueueStatus } from '../src/index.ts';
import { ThroughputMeter } from '../src/throughput.ts';
import { CliProcess, killAll, runCli, tasksModule, uniqueName } from './cli-support.ts';
import { dropQueue, inspector, REDIS_URL, waitFor, redisNow } from './helpers.ts';

const redis = inspector();
const made: { name: string; prefix: string }[] = [];
function queue(tag: string, prefix = 'delayed'): string {
  const name = uniqueName(tag);
  made.push({ name, prefix });
  return name;
}
after(async () => {
  await killAll();
  for (const { name, prefix } of made) await dropQueue(redis, name, prefix);
  redis.disconnect();
});

const facts = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    kind: 'preforked',
    concurrency: 4,
    startedAt: '2025-01-01T00:00:00.000Z',
    counts: { started: 12, succeeded: 10, failed: 1, requeued: 1 },
    running: [],
    host: 'box',
    pid: 4242,
    ...over,
  });

describe('delayed status', { timeout: 180_000 }, () => {
  test('a million waiting tasks: status reads cost the same as for an empty queue (no read over 10 ms in SLOWLOG), in about a second', async () => {
    const name = queue('million');
    const key = `delayed:{${name}}:waiting`;
    const TOTAL = 1_000_000;
    const CHUNK = 1000;
    for (let sent = 0; sent < TOTAL; ) {
      const pipeline = redis.pipeline();
      for (let c = 0; c < 100 && sent < TOTAL; c++, sent += CHUNK) {
        const batch: string[] = [];
        for (let i = sent; i < sent + CHUNK; i++) batch.push(`1|0|0||seed.${i.toString(36)}|add|60000|3|[${i},1]`);
        pipeline.lpush(key, ...batch);
      }
      await pipeline.exec();
    }
    assert.equal(await redis.llen(key), TOTAL);

    try {
      // What proves the fixed cost: Redis logs every command over 10 ms (slowlog-log-slower-than's default;
      // reading a million-entry list takes far longer), and none of the status reads on this queue is there.
      const lastSlow = (((await redis.slowlog('GET', 1)) as [number][])[0]?.[0] ?? -1) as number;
      // The whole command, node's start-up included; best of three, so that a busy machine's hiccup in one
      // run does not decide (each run is reported).
      const times: number[] = [];
      for (let run = 0; run < 3; run++) {
        const r = await runCli(['status', '--queue', name, '--json']);
        assert.equal(r.code, 0, r.stderr);
        const s = JSON.parse(r.stdout) as QueueStatus;
        assert.equal(s.waiting, TOTAL);
        assert.deepEqual(s.next, { id: 'seed.0', name: 'add', attempt: 0 });
        times.push(r.ms);
      }
      const best = Math.min(...times);
      // About a second on this machine, idle (node's start-up is most of it); the bound leaves 2 s for a loaded
      // 2-core machine: what would show here is a read that grows with the queue, which takes far longer.
      assert.ok(best < 3000, `status --json took ${times.map(Math.round).join(', ')} ms (process start included)`);

      // The reads alone, on a connection already open.
      const q = new Queue({ name, redis: REDIS_URL });
      try {
        await q.redis.ping();
        const t0 = performance.now();
        const direct = await queueStatus(q);
        const inProcess = performance.now() - t0;
        assert.equal(direct.waiting, TOTAL);
        assert.ok(inProcess < 1000, `queueStatus took ${Math.round(inProcess)} ms`);
        const slowReads = ((await redis.slowlog('GET', 128)) as [number, number, number, string[]][]).filter(
          ([id, , , args]) => id > lastSlow && args.some((a) => a.includes(`{${name}}`)) && args[0]?.toLowerCase() !== 'unlink',
        );
        assert.deepEqual(slowReads, [], 'no read of this queue took 10 ms or more');
        console.log(
          `status of 1,000,000 waiting: ${times.map(Math.round).join(', ')} ms for the whole command (node start included), ${inProcess.toFixed(1)} ms for the reads`,
        );
      } finally {
        await q.close();
      }
    } finally {
      await redis.unlink(key);
    }
  });

  test('shows in-flight tasks by worker, live and expired workers, dead letters, totals', async () => {
    const name = queue('state');
    const k = (s: string) => `delayed:{${name}}:${s}`;
    const now = await redisNow(redis);
    await redis.set(k('epoch'), 'e1');
    await redis.lpush(k('waiting'), '1|0|0||w.2|add|60000|3|[2]', '1|0|0||w.1|add|60000|3|[1]');
    await redis.zadd(k('workers'), now + 60_000, 'live.1.a', now - 4000, 'dead.2.b');
    await redis.hset(
      k('info'),
      'live.1.a',
      `${now - 500} ${facts({
        running: [
          { id: 'r.1', name: 'resize', attempt: 0, forMs: 1000 },
          { id: 'r.2', name: 'resize', attempt: 2, forMs: 5000 },
        ],
      })}`,
      'dead.2.b',
      `${now - 7000} ${facts({ kind: 'forked', concurrency: 1, pid: 99, counts: { started: 3, succeeded: 2, failed: 0, requeued: 0 } })}`,
    );
    await redis.lpush(k('worker:live.1.a'), '1|0|0||r.1|resize|60000|3|[]', '1|2|1|lost|r.2|resize|60000|3|[]');
    await redis.lpush(k('worker:dead.2.b'), '1|0|0||o.1|email|60000|3|["x"]');
    await redis.lpush(
      k('dead'),
      `${now - 3000}|${JSON.stringify({ id: 'd.1', name: 'email', reason: 'thrown', message: 'SMTP said no', entry: '…' })}`,
    );

    const r = await runCli(['status', '--queue', name, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as QueueStatus;
    assert.equal(s.waiting, 2);
    assert.deepEqual(s.next, { id: 'w.2', name: 'add', attempt: 0 }, 'workers take from the right: the first pushed goes first');
    assert.equal(s.inFlight, 3);
    assert.equal(s.workersAlive, 1);
    assert.equal(s.workersExpired, 1);
    assert.equal(s.deadLetters, 1);
    assert.deepEqual(
      s.recentDead.map((d) => [d.id, d.name, d.reason, d.message]),
      [['d.1', 'email', 'thrown', 'SMTP said no']],
    );
    assert.deepEqual(s.totals, { started: 15, succeeded: 12, failed: 1, requeued: 1 });
    const live = s.workers.find((w) => w.id === 'live.1.a');
    assert.ok(live?.alive && live.inFlight === 2 && live.kind === 'preforked' && live.pid === 4242);
    const dead = s.workers.find((w) => w.id === 'dead.2.b');
    assert.ok(dead && !dead.alive && dead.leaseLeftMs < 0 && dead.inFlight === 1);
    // Longest running first; running time is the reported one plus the time since the report (~500 ms).
    assert.deepEqual(
      s.running.map((t) => [t.id, t.name, t.attempt, t.worker, t.orphaned]),
      [
        ['o.1', 'email', 0, 'dead.2.b', true],
        ['r.2', 'resize', 2, 'live.1.a', false],
        ['r.1', 'resize', 0, 'live.1.a', false],
      ],
    );
    const r2 = s.running[1] as { forMs: number };
    assert.ok(r2.forMs >= 5400 && r2.forMs < 25_000, `forMs ${r2.forMs}`);
    assert.ok(
      s.oldestLeaseAgeMs !== null && s.oldestLeaseAgeMs >= 400 && s.oldestLeaseAgeMs < 20_000,
      `oldest lease age ${s.oldestLeaseAgeMs}`,
    );

    const text = await runCli(['status', '--queue', name]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^ {2}waiting +2 +next: add \(id w\.2\)$/m);
    assert.match(text.stdout, /^ {2}in flight +3 /m);
    assert.match(text.stdout, /^ {2}workers +1 alive, 1 lease expired/m);
    assert.match(text.stdout, /^ {2}dead letters +1 +newest: email thrown \d+\.\ds ago: SMTP said no$/m);
    assert.match(text.stdout, /^live\.1\.a +alive +preforked +2\/4 +10 +1 /m);
    assert.match(text.stdout, /^dead\.2\.b +EXPIRED +forked +1\/1 .*ended \d+\.\ds ago/m);
    assert.match(text.stdout, /^email +o\.1 +dead\.2\.b +0 +its worker died$/m);
    assert.match(text.stdout, /^resize +r\.2 +live\.1\.a +2 +\d+\.\ds$/m);
    assert.match(text.stdout, /throughput +use --watch, or --sample 2000/);
  });

  test('an unknown queue is reported as empty, with a hint', async () => {
    const name = queue('nothing');
    const r = await runCli(['status', '--queue', name]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`Nothing in Redis for queue ${name}`));
  });

  test('without --queue: lists the queues under the prefix (one SCAN)', async () => {
    const prefix = `st${uniqueName('p').replace(/-/g, '')}`;
    const a = queue('list-a', prefix);
    const b = queue('list-b', prefix);
    await redis.lpush(`${prefix}:{${a}}:waiting`, '1|0|0||x.1|add|1000|3|[]', '1|0|0||x.2|add|1000|3|[]');
    await redis.set(`${prefix}:{${b}}:epoch`, 'e');
    await redis.lpush(`${prefix}:{${b}}:dead`, `1|{}`);
    const r = await runCli(['status', '--prefix', prefix, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const list = (JSON.parse(r.stdout) as { queues: QueueStatus[] }).queues;
    assert.deepEqual(
      list.map((s) => [s.queue, s.waiting, s.deadLetters]),
      [
        [a, 2, 0],
        [b, 0, 1],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );
    const text = await runCli(['status', '--prefix', prefix]);
    assert.match(text.stdout, /found by one SCAN/);
    assert.match(text.stdout, new RegExp(`^${a} +2 +0 +0 +0 +-$`, 'm'));
  });

  test("--watch --json prints a line per interval with throughput from the workers' reports; SIGINT ends it", async () => {
    const name = queue('watch');
    const worker = new CliProcess([
      'worker',
      '--queue',
      name,
      '--tasks',
      tasksModule(),
      '--kind',
      'inline',
      '--concurrency',
      '4',
      '--lease-ms',
      '300',
      '--quiet',
    ]);
    const watch = new CliProcess(['status', '--queue', name, '--watch', '--json', '--interval', '200']);
    try {
      await worker.waitFor(/started/);
      const q = new Queue({ name, redis: REDIS_URL });
      await q.enqueueMany(Array.from({ length: 400 }, () => ({ name: 'slow', args: [10] }))).finally(() => q.close());
      const lines = await waitFor(
        'a frame with throughput',
        () => {
          const complete = watch.stdout.slice(0, watch.stdout.lastIndexOf('\n') + 1);
          const frames = complete
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as QueueStatus);
          return frames.some((f) => f.throughput !== null && f.throughput.perSecond > 0) ? frames : undefined;
        },
        20_000,
        25,
      );
      assert.ok(lines.length >= 2);
      const withRate = lines.find((f) => f.throughput !== null) as QueueStatus;
      assert.ok(
        withRate.throughput && withRate.throughput.perSecond > 10 && withRate.throughput.windowMs > 0,
        JSON.stringify(withRate.throughput),
      );
      watch.proc.kill('SIGINT');
      assert.equal((await watch.exited).code, 0);
    } finally {
      await watch.kill();
      await worker.stop();
    }
  });

  test('--sample MS gives a one-shot throughput', async () => {
    const name = queue('sample');
    const worker = new CliProcess([
      'worker',
      '--queue',
      name,
      '--tasks',
      tasksModule(),
      '--kind',
      'inline',
      '--concurrency',
      '4',
      '--lease-ms',
      '300',
      '--quiet',
    ]);
    try {
      await worker.waitFor(/started/);
      const q = new Queue({ name, redis: REDIS_URL });
      await q.enqueueMany(Array.from({ length: 300 }, () => ({ name: 'slow', args: [10] }))).finally(() => q.close());
      const r = await runCli(['status', '--queue', name, '--sample', '800']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /throughput +\d+(\.\d+)? tasks\/s \(\d+(\.\d+)? ok, 0\.00 failed\) over \d+ms/);
    } finally {
      await worker.stop();
    }
  });
});

describe('ThroughputMeter', () => {
  const status = (at: number, workers: { id: string; reportedAt: number; succeeded: number; failed: number }[]): QueueStatus => ({
    queue: 'q',
    prefix: 'delayed',
    partitions: 1,
    at,
    epoch: 'e',
    waiting: 0,
    scheduled: 0,
    nextDueAt: null,
    schedules: 0,
    paused: false,
    next: null,
    inFlight: 0,
    running: [],
    workers: workers.map((w) => ({
      id: w.id,
      alive: true,
      leaseLeftMs: 1000,
      reportedAt: w.reportedAt,
      kind: 'inline',
      concurrency: 1,
      startedAt: null,
      host: null,
      pid: null,
      counts: { started: w.succeeded + w.failed, succeeded: w.succeeded, failed: w.failed, requeued: 0 },
      inFlight: 0,
    })),
    workersAlive: workers.length,
    workersExpired: 0,
    oldestLeaseAgeMs: 0,
    deadLetters: 0,
    recentDead: [],
    totals: { started: 0, succeeded: 0, failed: 0, requeued: 0 },
    throughput: null,
  });

  test("rates come from each worker's own report times and add up across workers", () => {
    const meter = new ThroughputMeter(10_000);
    assert.equal(
      meter.add(
        status(1000, [
          { id: 'a', reportedAt: 900, succeeded: 0, failed: 0 },
          { id: 'b', reportedAt: 950, succeeded: 100, failed: 0 },
        ]),
      ),
      null,
    );
    // Same reports read again: nothing new.
    assert.equal(
      meter.add(
        status(1200, [
          { id: 'a', reportedAt: 900, succeeded: 0, failed: 0 },
          { id: 'b', reportedAt: 950, succeeded: 100, failed: 0 },
        ]),
      ),
      null,
    );
    const t = meter.add(
      status(2100, [
        { id: 'a', reportedAt: 1900, succeeded: 50, failed: 10 },
        { id: 'b', reportedAt: 2450, succeeded: 250, failed: 0 },
      ]),
    );
    assert.ok(t);
    assert.equal(t.succeededPerSecond, 50 + 100);
    assert.equal(t.failedPerSecond, 10);
    assert.equal(t.perSecond, 160);
    assert.equal(t.windowMs, 1500);
    // A worker that left is dropped; a new one adds nothing until it reported twice.
    const u = meter.add(
      status(3000, [
        { id: 'b', reportedAt: 2950, succeeded: 300, failed: 0 },
        { id: 'c', reportedAt: 2900, succeeded: 1000, failed: 0 },
      ]),
    );
    assert.ok(u);
    assert.equal(u.perSecond, 100);
  });

  test('renderStatus fits the width it is given', () => {
    const s = status(5000, [{ id: 'x'.repeat(80), reportedAt: 4000, succeeded: 1, failed: 0 }]);
    for (const line of renderStatus(s, { width: 60 })) assert.ok(line.length <= 60, line);
  });
});

test('a limit of 0 reads no dead letters and no running tasks (not the whole list)', async () => {
  const name = queue('limits0');
  const q = new Queue({ name, redis: REDIS_URL });
  try {
    const dead = `delayed:{${name}}:dead`;
    await redis.lpush(dead, ...Array.from({ length: 50 }, (_, i) => `${i}|{"id":"d${i}","name":"x","reason":"thrown","message":"m"}`));
    const status = await queueStatus(q, { deadLimit: 0 });
    assert.equal(status.deadLetters, 50);
    assert.deepEqual(status.recentDead, []);
    const five = await queueStatus(q, { deadLimit: 5 });
    assert.equal(five.recentDead.length, 5);
  } finally {
    await q.close();
  }
});
