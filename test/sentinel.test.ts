// A queue on a Sentinel group (scripts/redis-sentinel.mjs: a primary, one replica, three sentinels) whose
// primary is killed -9 in the middle of a steady flow: a producer enqueues one task every 5-10 ms, two workers
// run them. Measured: how long after the kill the first task starts on the promoted replica (the "resume"),
// and how many acknowledged enqueues never started (lost: what the asynchronous replication had not carried
// over yet). Run twice: without WAIT, and with `waitForReplicas: 1`, where an enqueue counts as acknowledged
// only once the replica confirmed it (a NotReplicatedError or ConnectionLostError is not an acknowledgement),
// so nothing acknowledged can be lost. Also measured: what WAIT costs a producer that enqueues one at a time.
//
// The workers run in this process (two InlineWorkers, each with its own connections, so each reconnects
// through the sentinels by itself). The fault is Redis dying, not a worker: in-process workers keep one clock
// for the kill and every start, take the producer's queue options (waitForReplicas, which the fixture
// worker-main does not pass on), and run a task that carries the producer's sequence number, so a start maps
// to its enqueue even when that enqueue rejected (a rejected enqueue returns no task id).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { InlineWorker, Queue, defineTask, taskContext, type Logger } from '../src/index.ts';
import { connect, disconnect, reset, whenReady } from '../src/connection.ts';
import type { Redis } from 'ioredis';
import { startSentinelGroup, type SentinelGroup } from '../scripts/redis-sentinel.mjs';
import { hasRedisServer, parseInfo, redisCommand, startRedis, type RedisServer } from '../scripts/redis-server.mjs';
import { retrying, waitFor } from './helpers.ts';

const skip = hasRedisServer() ? false : 'redis-server is not installed';
/** The resume bound this test asserts: kill -9 of the primary → first task start on the promoted replica. */
const RESUME_BOUND_MS = 30_000;
const TASK_MS = 20;
const LONG = { skip, timeout: 300_000 };

interface LedgerLine {
  readonly seq: number;
  readonly event: 'start' | 'end';
  readonly attempt: number;
  readonly t: number;
}

// The ledger: every run of the probe task writes here (same process, same clock as the kill).
const ledger: LedgerLine[] = [];

const probe = defineTask('sentinelProbe', async (seq: number, ms: number) => {
  const attempt = taskContext()?.attempt ?? -1;
  ledger.push({ seq, event: 'start', attempt, t: performance.now() });
  await sleep(ms);
  ledger.push({ seq, event: 'end', attempt, t: performance.now() });
  return seq;
});

interface Attempt {
  readonly seq: number;
  readonly sentAt: number;
  settledAt: number;
  status: 'pending' | 'ack' | 'error' | 'hung';
  error: string;
}

/** Warnings and errors the workers log, counted by message (with the first error text seen for each). */
function collectingLogger(): { logger: Logger; seen: Map<string, { count: number; err: string }> } {
  const seen = new Map<string, { count: number; err: string }>();
  const note = (fields: object, message: string) => {
    const err = (fields as { err?: unknown }).err;
    const text = err instanceof Error ? `${err.name}: ${err.message}` : '';
    const entry = seen.get(message) ?? { count: 0, err: text };
    entry.count++;
    seen.set(message, entry);
  };
  return { logger: { debug: () => undefined, info: () => undefined, warn: note, error: note }, seen };
}

/** Resolves with what `promise` gave, or with `fallback` after `ms` (the promise keeps running). */
async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<F>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Total length of the queue's lists (waiting and every in-flight list) on the server at `port`. */
async function queueBacklog(port: number, queue: Queue): Promise<number> {
  let cursor = '0';
  let total = 0;
  do {
    const [next, keys] = (await redisCommand(port, ['SCAN', cursor, 'MATCH', `${queue.prefix}:{${queue.name}}:*`, 'COUNT', 1000], {
      timeoutMs: 3000,
    })) as [string, string[]];
    for (const key of keys) {
      if (key === queue.keys.waiting || key.startsWith(`${queue.prefix}:{${queue.name}}:worker:`))
        total += Number(await redisCommand(port, ['LLEN', key], { timeoutMs: 3000 }));
    }
    cursor = next;
  } while (cursor !== '0');
  return total;
}

/** The producer: one enqueue at a time, a 5-10 ms pause between, until told to stop. */
function startProducer(queue: Queue, attempts: Attempt[]): { stop: () => Promise<void> } {
  let stopping = false;
  const done = (async () => {
    for (let seq = 0; !stopping; seq++) {
      const attempt: Attempt = { seq, sentAt: performance.now(), settledAt: 0, status: 'pending', error: '' };
      attempts.push(attempt);
      const enqueue = probe.delay(queue, seq, TASK_MS).then(
        () => {
          attempt.status = 'ack';
        },
        (err: unknown) => {
          attempt.status = 'error';
          attempt.error = (err as { code?: string }).code ?? (err as Error).name ?? String(err);
        },
      );
      // An enqueue that neither resolves nor rejects within 30 s is a hang: note it and go on (not acknowledged).
      if (
        (await within(
          enqueue.then(() => true),
          30_000,
          false,
        )) === false
      )
        attempt.status = 'hung';
      attempt.settledAt = performance.now();
      await sleep(5 + Math.random() * 5);
    }
  })();
  return {
    stop: async () => {
      stopping = true;
      await done;
    },
  };
}

interface RunResult {
  readonly failoverMs: number;
  readonly resumeMs: number;
  readonly producerResumeMs: number;
  readonly acknowledged: number;
  readonly lost: number[];
  readonly phantoms: number[];
  readonly startedNotAcknowledged: number;
  readonly errors: Record<string, number>;
  readonly duplicates: number;
  readonly closeMs: number[];
}

async function failoverRun(waitForReplicas: 0 | 1, log: (line: string) => void): Promise<RunResult> {
  const mode = waitForReplicas > 0 ? 'on' : 'off';
  let group: SentinelGroup | undefined;
  let replacement: RedisServer | undefined;
  const workers: InlineWorker[] = [];
  const runs: Promise<void>[] = [];
  const queues: Queue[] = [];
  ledger.length = 0;
  try {
    group = await startSentinelGroup({ downAfterMs: 1000, failoverTimeoutMs: 3000 });
    const name = `sentinel-${randomBytes(4).toString('hex')}`;
    const options = { name, redis: group.url, waitForReplicas, replicaTimeoutMs: 1000 };
    const producerQueue = new Queue(options);
    queues.push(producerQueue);
    const logs = collectingLogger();
    for (let i = 0; i < 2; i++) {
      const workerQueue = new Queue(options);
      queues.push(workerQueue);
      const worker = new InlineWorker({
        queue: workerQueue,
        tasks: [probe],
        concurrency: 4,
        leaseMs: 3000,
        sweepIntervalMs: 1000,
        shutdownTimeoutMs: 5000,
        handleSignals: false,
        logger: logs.logger,
      });
      workers.push(worker);
      runs.push(worker.run());
    }
    await waitFor('both workers to register', () => workers.every((w) => w.workerId !== ''), 60_000, 20);

    const attempts: Attempt[] = [];
    const producer = startProducer(producerQueue, attempts);
    const starts = () => ledger.filter((l) => l.event === 'start');
    await waitFor(
      'a steady flow (150 acknowledged, 100 started)',
      () => attempts.filter((a) => a.status === 'ack').length >= 150 && starts().length >= 100,
      60_000,
      20,
    );

    const killAt = performance.now();
    await group.primary.crash();
    const promotedPort = group.replica.port;
    await waitFor(
      'a sentinel to name the replica as the primary',
      retrying(async () => (await group!.currentPrimaryPort()) === promotedPort),
      60_000,
      25,
    );
    const promotedAt = performance.now();

    // Resume: the first start after the promotion. Before the promotion no server accepted a dequeue (the old
    // primary was dead and the replica read-only), so such a start came from the promoted replica.
    const firstStart = await within(
      waitFor('a task to start on the promoted replica', () => starts().find((l) => l.t > promotedAt), 90_000, 10).catch(() => undefined),
      95_000,
      undefined,
    );
    const resumeMs = firstStart ? firstStart.t - killAt : Number.POSITIVE_INFINITY;
    // For 3 s after the promotion the new primary has no replica (WAIT cannot be satisfied: enqueues reject
    // with NotReplicatedError, finished tasks are logged as not confirmed). Then what a deployment would do:
    // give it a replica (a fresh server here), so that WAIT is satisfied again.
    await sleep(Math.max(0, promotedAt + 3000 - performance.now()));
    replacement = await startRedis(['--repl-diskless-sync-delay', '0'], undefined, { killOnExit: true });
    await redisCommand(replacement.port, ['REPLICAOF', '127.0.0.1', promotedPort]);
    const replacedAt = performance.now();
    // Keep producing a little after that, then stop and let everything drain.
    await sleep(3000);
    await producer.stop();
    const producedUntil = performance.now();

    const acknowledged = attempts.filter((a) => a.status === 'ack').map((a) => a.seq);
    const firstAckAfter = attempts.find((a) => a.status === 'ack' && a.sentAt > killAt);
    const started = () => new Set(starts().map((l) => l.seq));
    // Drained: every acknowledged task started, or the queue (waiting and every in-flight list, the dead
    // workers' lists included until the sweeper empties them) stayed empty with both workers idle for 3 s.
    let idleSince = 0;
    await waitFor(
      'the queue to drain after the failover',
      retrying(async () => {
        const s = started();
        if (acknowledged.every((seq) => s.has(seq))) return true;
        const empty =
          (await queueBacklog(await group!.currentPrimaryPort(), producerQueue).catch(() => -1)) === 0 &&
          workers.every((w) => w.active === 0);
        if (!empty) idleSince = 0;
        else if (idleSince === 0) idleSince = performance.now();
        return idleSince > 0 && performance.now() - idleSince > 3000;
      }),
      120_000,
      200,
    ).catch(() => log(`not drained within 120 s of the producer's stop (${Math.round((performance.now() - producedUntil) / 1000)} s)`));

    const closeMs: number[] = [];
    for (const worker of workers) {
      const started = performance.now();
      const closed = await within(
        worker.close().then(() => true),
        30_000,
        false,
      );
      closeMs.push(closed ? Math.round(performance.now() - started) : Number.POSITIVE_INFINITY);
    }
    await within(Promise.allSettled(runs), 10_000, undefined);

    const s = started();
    const attempted = new Set(attempts.map((a) => a.seq));
    const lost = acknowledged.filter((seq) => !s.has(seq));
    const phantoms = [...s].filter((seq) => !attempted.has(seq));
    const startsBySeq = new Map<number, number>();
    for (const l of starts()) startsBySeq.set(l.seq, (startsBySeq.get(l.seq) ?? 0) + 1);
    const errors: Record<string, number> = {};
    for (const a of attempts)
      if (a.status !== 'ack')
        errors[a.status === 'error' ? a.error : a.status] = (errors[a.status === 'error' ? a.error : a.status] ?? 0) + 1;
    const result: RunResult = {
      failoverMs: Math.round(promotedAt - killAt),
      resumeMs: Math.round(resumeMs),
      producerResumeMs: firstAckAfter ? Math.round(firstAckAfter.settledAt - killAt) : Number.POSITIVE_INFINITY,
      acknowledged: acknowledged.length,
      lost,
      phantoms,
      startedNotAcknowledged: [...s].filter((seq) => attempts[seq]?.status !== 'ack').length,
      errors,
      duplicates: [...startsBySeq.values()].filter((n) => n > 1).length,
      closeMs,
    };
    const replicaInfo = parseInfo(await redisCommand(promotedPort, ['INFO', 'replication']));
    log(
      `wait mode ${mode}: kill -9 of the primary on ${group.primary.port}; sentinels named ${promotedPort} after ${result.failoverMs} ms (role now ${replicaInfo.role}, ${replicaInfo.connected_slaves} replica(s) attached)`,
    );
    log(
      `wait mode ${mode}: first task start on the promoted replica ${result.resumeMs} ms after the kill; first enqueue acknowledged after the kill: ${result.producerResumeMs} ms (a new replica was attached ${Math.round(replacedAt - killAt)} ms after the kill)`,
    );
    log(
      `wait mode ${mode}: enqueues ${attempts.length}, acknowledged ${result.acknowledged}, not acknowledged ${JSON.stringify(errors)}, started though not acknowledged ${result.startedNotAcknowledged}`,
    );
    log(
      `wait mode ${mode}: started ${s.size} distinct tasks, ${result.duplicates} of them more than once; lost ${lost.length}${lost.length > 0 ? ` (seq ${lost.slice(0, 20).join(', ')})` : ''}; phantoms ${phantoms.length}`,
    );
    log(
      `wait mode ${mode}: worker close() took ${closeMs.join(', ')} ms; worker log: ${[...logs.seen].map(([m, { count, err }]) => `${count}× "${m}"${err ? ` (${err})` : ''}`).join('; ') || 'nothing'}`,
    );
    return result;
  } finally {
    for (const worker of workers) await within(worker.close(), 10_000, undefined);
    for (const q of queues) await within(q.close(), 5000, undefined);
    await replacement?.stop();
    await group?.stop();
  }
}

function checkRun(result: RunResult, waitMode: boolean): void {
  const mode = waitMode ? 'on' : 'off';
  const line = `sentinel failover: resume ${result.resumeMs} ms, acknowledged ${result.acknowledged}, lost ${result.lost.length} (wait mode: ${mode})`;
  console.log(line);
  assert.ok(
    result.resumeMs <= RESUME_BOUND_MS,
    `workers resume on the promoted replica within ${RESUME_BOUND_MS} ms of the kill (took ${result.resumeMs} ms)`,
  );
  assert.deepEqual(result.phantoms, [], 'every task that started was enqueued (acknowledged or errored): no phantom task');
  assert.ok(Number.isInteger(result.lost.length) && result.lost.length >= 0);
  if (waitMode) assert.deepEqual(result.lost, [], 'with waitForReplicas: 1 no acknowledged enqueue is lost');
  for (const ms of result.closeMs) assert.ok(Number.isFinite(ms), 'worker close() resolves after the failover');
}

test('sentinel: the cost of WAIT for a producer enqueueing one task at a time (healthy group)', LONG, async (t) => {
  const group = await startSentinelGroup();
  const queues: Queue[] = [];
  try {
    const name = `sentinel-cost-${randomBytes(4).toString('hex')}`;
    const plain = new Queue({ name, redis: group.url });
    const waiting = new Queue({ name, redis: group.url, waitForReplicas: 1 });
    queues.push(plain, waiting);
    await plain.enqueue('sentinelProbe', [0, 0]); // connect both before timing
    await waiting.enqueue('sentinelProbe', [0, 0]);
    const rate = async (queue: Queue, ms: number): Promise<{ n: number; ms: number }> => {
      const started = performance.now();
      let n = 0;
      while (performance.now() - started < ms) {
        await queue.enqueue('sentinelProbe', [n, 0]);
        n++;
      }
      return { n, ms: performance.now() - started };
    };
    // Alternated, twice each, so that a burst of load on the machine does not favour one side.
    const totals = { off: { n: 0, ms: 0 }, on: { n: 0, ms: 0 } };
    for (let round = 0; round < 2; round++) {
      for (const [mode, queue] of [
        ['off', plain],
        ['on', waiting],
      ] as const) {
        const r = await rate(queue, 1500);
        totals[mode].n += r.n;
        totals[mode].ms += r.ms;
      }
    }
    const perSecond = (x: { n: number; ms: number }) => Math.round((x.n * 1000) / x.ms);
    const latency = (x: { n: number; ms: number }) => (x.ms / x.n).toFixed(2);
    const line = `sentinel WAIT cost (one enqueue at a time, healthy group): ${perSecond(totals.off)} tasks/s without WAIT (${latency(totals.off)} ms each), ${perSecond(totals.on)} tasks/s with waitForReplicas: 1 (${latency(totals.on)} ms each)`;
    console.log(line);
    t.diagnostic(line);
    await redisCommand(group.primary.port, ['DEL', plain.keys.waiting]);
  } finally {
    for (const q of queues) await q.close();
    await group.stop();
  }
});

test('sentinel: primary killed -9 mid-flow, without WAIT: workers resume on the promoted replica; loss reported', LONG, async (t) => {
  const result = await failoverRun(0, (line) => {
    console.log(line);
    t.diagnostic(line);
  });
  checkRun(result, false);
});

test('sentinel: primary killed -9 mid-flow, with waitForReplicas: 1: workers resume and nothing acknowledged is lost', LONG, async (t) => {
  const result = await failoverRun(1, (line) => {
    console.log(line);
    t.diagnostic(line);
  });
  checkRun(result, true);
});

// Found in a CI run: after a failover the workers' connections stayed dead for good. A lease that expires during
// the failover resets the worker's connections; a reset that reached a connection while it was still asking the
// sentinels where the primary is made ioredis' Sentinel connector give up ("Connection is closed."), and ioredis
// then leaves the connection ended: no reconnect ever again, every later command failed at once.
test('sentinel: a connection reset while it asks the sentinels for the primary connects again', LONG, async () => {
  const group = await startSentinelGroup();
  const redis = connect(group.url, 'worker', 'sentinel-reset') as Redis;
  const status = (): string => redis.status;
  try {
    await whenReady(redis, 10_000);
    assert.equal(redis.status, 'ready');
    for (let round = 0; round < 5; round++) {
      reset(redis); // drops the socket: ioredis reconnects, resolving the primary through a sentinel first
      // Catch the connection while it resolves: connecting, and its stream still the old, destroyed one.
      const deadline = performance.now() + 10_000;
      while (!(status() === 'connecting' && redis.stream?.destroyed)) {
        assert.ok(performance.now() < deadline, `the connection to start resolving the primary (status ${status()})`);
        await new Promise((resolve) => setImmediate(resolve));
      }
      reset(redis);
      await waitFor('the connection to be ready again', () => status() === 'ready', 10_000, 5).catch(() => undefined);
      assert.equal(status(), 'ready', `round ${round}: the connection came back after a reset during resolution`);
      assert.equal(await redis.ping(), 'PONG');
    }
  } finally {
    await disconnect(redis);
    await group.stop();
  }
});

// A sentinel that accepts connections but never answers (SIGSTOP: the kernel still accepts) held a connection in
// 'connecting' for ever: ioredis asks a sentinel without a timeout unless told one. The package gives it 2 s.
test('sentinel: a frozen sentinel is passed over: the connection asks the next one and becomes ready', LONG, async () => {
  const group = await startSentinelGroup();
  const frozen = group.sentinelProcesses[0]!;
  const pid = frozen.pid as number;
  process.kill(pid, 'SIGSTOP');
  const redis = connect(group.url, 'worker', 'sentinel-frozen');
  try {
    const started = performance.now();
    // The promise: 2 s for the frozen sentinel, then the next one answers; margin for a loaded machine: 8 s.
    await whenReady(redis, 10_000);
    assert.equal(redis.status, 'ready', `ready within 10 s with the first sentinel frozen (status ${redis.status})`);
    assert.equal(await redis.ping(), 'PONG');
    console.log(`sentinel: ready ${Math.round(performance.now() - started)} ms after connecting with the first sentinel frozen`);
  } finally {
    process.kill(pid, 'SIGCONT');
    await disconnect(redis);
    await group.stop();
  }
});
