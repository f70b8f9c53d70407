// Scenario 16 (defect 12 of issue 10): a producer facing a Redis that is not there, or frozen.
// a. Nothing listens: enqueue, enqueueMany and `.delay` reject after about a second of reconnect attempts with
//    RedisUnavailableError (not sent), naming the address and the cause.
// b. The rejected command is never sent later: a redis-server started on that port right after the rejection
//    never gets it (ioredis' offline queue would have written it once connected).
// c. Redis frozen (SIGSTOP): an enqueue that was sent gets CommandTimeoutError after commandTimeoutMs (may or
//    may not have run), the connection is reset, the next enqueue is not stuck behind it; after SIGCONT each
//    task is in Redis at most once, and the one that was never sent is not there.
// d. A server slow to finish the handshake (its ready-check reply held by a proxy): it is there, so an enqueue
//    waits for it up to commandTimeoutMs, not a second; past that, RedisUnavailableError and the connection reset.
// e. A producer whose own event loop was blocked while it connected (a long synchronous task): the enqueue does
//    not fail for the time it could not look at its socket.
// f. The same once connected: a reply that arrived while the producer was blocked past commandTimeoutMs is read,
//    not reported as a timeout (and the connection is not reset).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { CommandTimeoutError, ConnectionLostError, defineTask, Queue, RedisUnavailableError } from '../../src/index.ts';
import { freePort, hasRedisServer, startRedis } from '../../scripts/redis-server.mjs';
import { TcpProxy } from './proxy.ts';
import { report } from './report.ts';
import { waitFor } from '../helpers.ts';

const skip = hasRedisServer() ? false : 'redis-server is not installed';
const add = defineTask('add', (a: number, b: number) => a + b);
/** The promise: about a second (CONNECT_WAIT_MS) of reconnect attempts. */
const PROMISE_MS = 1000;
/** What a loaded 2-core machine may add to a timer and a few connection attempts. */
const MARGIN_MS = 1500;

async function rejection(call: () => Promise<unknown>): Promise<{ err: Error; ms: number }> {
  const started = performance.now();
  try {
    await call();
  } catch (err) {
    return { err: err as Error, ms: performance.now() - started };
  }
  throw new Error('Expected the call to reject, got a success');
}

test('16a. defect 12: nothing listening: enqueue, enqueueMany and .delay reject after about a second with RedisUnavailableError (not sent)', {
  skip,
  timeout: 60_000,
}, async () => {
  const port = await freePort();
  const q = new Queue({ name: 'unreachable', redis: `redis://:secret@127.0.0.1:${port}` });
  try {
    const results = [
      await rejection(() => q.enqueue('add', [1, 2])),
      await rejection(() =>
        q.enqueueMany([
          { name: 'add', args: [1, 2] },
          { name: 'add', args: [3, 4] },
        ]),
      ),
      await rejection(() => add.delay(q, 1, 2)),
    ];
    report('16a. producer, nothing listening', {
      calls: results.length,
      'rejected after ms (min)': Math.min(...results.map((r) => r.ms)),
      'rejected after ms (max)': Math.max(...results.map((r) => r.ms)),
      error: results[0]!.err.message,
    });
    for (const { err, ms } of results) {
      assert.ok(err instanceof RedisUnavailableError, `Expected RedisUnavailableError, got ${err.name}: ${err.message}`);
      assert.equal(err.code, 'ERR_REDIS_UNAVAILABLE');
      assert.ok(!(err instanceof ConnectionLostError), 'not "may or may not have run"');
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`), 'the message names the address');
      assert.doesNotMatch(err.message, /secret/, 'the password is not in the message');
      assert.match(err.message, /ECONNREFUSED/, 'the message gives the cause');
      assert.match(err.message, /not sent/);
      assert.ok(err.cause instanceof Error, 'the cause is set');
      assert.ok(ms >= PROMISE_MS - 50, `rejected after ${ms.toFixed(0)} ms: reconnect attempts for about a second first`);
      assert.ok(ms <= PROMISE_MS + MARGIN_MS, `rejected after ${ms.toFixed(0)} ms, over ${PROMISE_MS} + ${MARGIN_MS} ms`);
    }
  } finally {
    await q.close();
  }
});

test('16b. defect 12: an enqueue rejected while nothing listened is never sent later (no offline-queue replay)', {
  skip,
  timeout: 60_000,
}, async () => {
  const port = await freePort();
  const q = new Queue({ name: 'replay', redis: `redis://127.0.0.1:${port}` });
  let server: Awaited<ReturnType<typeof startRedis>> | undefined;
  try {
    // Its error is 16a's business; this test is about what happens to the rejected command afterwards.
    const { err } = await rejection(() => q.enqueue('add', [1, 2]));
    const rejectedAt = performance.now();
    server = await startRedis([], port);
    const upMs = performance.now() - rejectedAt;
    // The same producer enqueues again: once it succeeds, its connection is up and anything ioredis had
    // queued offline was written before it (the offline queue is flushed first, in order).
    const id = await waitFor('the producer to enqueue once Redis is up', () => q.enqueue('add', [5, 6]).catch(() => undefined), 15_000, 50);
    const waiting = (await q.redis.lrange(q.keys.waiting, 0, -1)).map((e) => e.split('|')[4]);
    report('16b. producer, rejected enqueue not replayed', {
      error: err.name,
      'redis-server up ms after the rejection': upMs,
      'entries in waiting': waiting.length,
      'expected entries': 1,
    });
    assert.deepEqual(waiting, [id], 'only the enqueue that succeeded is in Redis');
    await q.redis.del(q.keys.waiting);
  } finally {
    await q.close();
    await server?.stop();
  }
});

test('16c. defect 12: Redis frozen (SIGSTOP): a sent enqueue times out (may have run), the next is not stuck behind it, none runs twice', {
  skip,
  timeout: 60_000,
}, async () => {
  const redis = await startRedis([], undefined, { startTimeoutMs: 15_000 });
  const TIMEOUT = 1000;
  const q = new Queue({ name: 'frozen', redis: redis.url, commandTimeoutMs: TIMEOUT });
  const pid = redis.pid!;
  let stopped = false;
  try {
    const first = await q.enqueue('add', [1, 1]);
    process.kill(pid, 'SIGSTOP');
    stopped = true;
    const timedOut = await rejection(() => q.enqueue('add', [2, 2]));
    const next = await rejection(() => q.enqueue('add', [3, 3]));
    process.kill(pid, 'SIGCONT');
    stopped = false;
    const last = await waitFor('the producer to enqueue after SIGCONT', () => q.enqueue('add', [4, 4]).catch(() => undefined), 15_000, 50);
    const ids = (await q.redis.lrange(q.keys.waiting, 0, -1)).map((e) => e.split('|')[4]!);
    const prefix = first.slice(0, first.lastIndexOf('.') + 1);
    const timedOutId = `${prefix}1`;
    const neverSentId = `${prefix}2`;
    report('16c. producer, Redis frozen (SIGSTOP)', {
      commandTimeoutMs: TIMEOUT,
      'sent enqueue rejected after ms': timedOut.ms,
      'its error': timedOut.err.name,
      'next enqueue rejected after ms': next.ms,
      'its error ': next.err.name,
      'times the timed-out task is in Redis': ids.filter((id) => id === timedOutId).length,
      'times the never-sent task is in Redis': ids.filter((id) => id === neverSentId).length,
    });
    assert.ok(
      timedOut.err instanceof CommandTimeoutError,
      `Expected CommandTimeoutError, got ${timedOut.err.name}: ${timedOut.err.message}`,
    );
    assert.ok(timedOut.err instanceof ConnectionLostError, 'a timeout is a "may or may not have run" error');
    assert.equal((timedOut.err as CommandTimeoutError).code, 'ERR_COMMAND_TIMEOUT');
    assert.match(timedOut.err.message, /may or may not have run/);
    // The promise: the timeout, plus at most one check of the watchdog (a tenth of it).
    assert.ok(timedOut.ms >= TIMEOUT - 50 && timedOut.ms <= TIMEOUT * 1.1 + MARGIN_MS, `timed out after ${timedOut.ms.toFixed(0)} ms`);
    assert.ok(
      next.err instanceof RedisUnavailableError,
      `Expected RedisUnavailableError (not sent) for the next one, got ${next.err.name}: ${next.err.message}`,
    );
    assert.ok(next.ms <= PROMISE_MS + MARGIN_MS, `the next enqueue waited ${next.ms.toFixed(0)} ms, not behind the frozen one`);
    assert.ok(ids.includes(first) && ids.includes(last));
    assert.ok(ids.filter((id) => id === timedOutId).length <= 1, 'the timed-out enqueue ran at most once');
    assert.equal(ids.filter((id) => id === neverSentId).length, 0, 'the enqueue that was not sent never ran');
    assert.equal(new Set(ids).size, ids.length, 'no task twice');
  } finally {
    if (stopped) process.kill(pid, 'SIGCONT');
    await q.close();
    await redis.crash();
  }
});

test('16d. a server slow to finish the handshake: the enqueue waits for it (up to commandTimeoutMs), past that RedisUnavailableError and a fresh connection', {
  skip,
  timeout: 60_000,
}, async () => {
  const redis = await startRedis([], undefined, { startTimeoutMs: 15_000 });
  const proxy = await TcpProxy.start(redis.port);
  const HOLD_MS = 1800;
  const SHORT_TIMEOUT = 1500;
  const slow = new Queue({ name: 'slow-greeting', redis: proxy.url });
  let short: Queue | undefined;
  try {
    // The ready check (INFO) is the handshake's last command: its reply is held HOLD_MS, then delivered.
    const held = proxy.hold('toClient', 'info', HOLD_MS);
    let started = performance.now();
    const id = await slow.enqueue('add', [1, 2]);
    const waitedMs = performance.now() - started;
    const rule = await held.delivered;

    // Held for longer than this producer's command timeout: not reachable, and the connection is dropped.
    // (A second producer, made only now, so that its handshake is the one held.)
    const heldLong = proxy.hold('toClient', 'info', 20_000);
    short = new Queue({ name: 'slow-greeting', redis: proxy.url, commandTimeoutMs: SHORT_TIMEOUT });
    const q2 = short;
    const late = await rejection(() => q2.enqueue('add', [3, 4]));
    await waitFor('the held connection to be closed', () => heldLong.rule.discardedAt !== undefined, 10_000);
    started = performance.now();
    const next = await short.enqueue('add', [5, 6]);
    const nextMs = performance.now() - started;
    const ids = (await slow.redis.lrange(slow.keys.waiting, 0, -1)).map((e) => e.split('|')[4]!);
    report('16d. producer, a server slow to finish the handshake', {
      'ready-check reply held ms': HOLD_MS,
      'enqueue waited ms': waitedMs,
      'held bytes delivered': rule.bytes ?? 0,
      'held past commandTimeoutMs (ms)': SHORT_TIMEOUT,
      'rejected after ms': late.ms,
      'its error': late.err.name,
      'next enqueue after the reset ms': nextMs,
    });
    // Before: RedisUnavailableError after about a second, though Redis was there and answering.
    assert.ok(ids.includes(id), 'the enqueue that waited for the greeting is in Redis');
    assert.ok(waitedMs >= HOLD_MS - 50, `the enqueue waited for the greeting: ${waitedMs.toFixed(0)} ms`);
    assert.ok(waitedMs <= HOLD_MS + MARGIN_MS, `and not much longer: ${waitedMs.toFixed(0)} ms`);
    assert.ok(late.err instanceof RedisUnavailableError, `Expected RedisUnavailableError, got ${late.err.name}: ${late.err.message}`);
    assert.match(late.err.message, /handshake/, 'the message says the server did not finish its handshake');
    assert.ok(late.ms >= SHORT_TIMEOUT - 50, `rejected after ${late.ms.toFixed(0)} ms: the command timeout first`);
    assert.ok(late.ms <= SHORT_TIMEOUT + MARGIN_MS, `rejected after ${late.ms.toFixed(0)} ms, over ${SHORT_TIMEOUT} + ${MARGIN_MS} ms`);
    assert.ok(ids.includes(next), 'the next enqueue, on a fresh connection, is in Redis');
    assert.deepEqual(ids.sort(), [id, next].sort(), 'the rejected enqueue was never sent');
  } finally {
    await slow.close();
    await short?.close();
    await proxy.close();
    await redis.crash();
  }
});

test('16e. a producer whose event loop was blocked while it connected: the enqueue goes through, not RedisUnavailableError', {
  skip,
  timeout: 60_000,
}, async () => {
  const redis = await startRedis([], undefined, { startTimeoutMs: 15_000 });
  const q = new Queue({ name: 'busy-producer', redis: redis.url });
  try {
    const started = performance.now();
    const pending = q.enqueue('add', [1, 2]).then(
      (id) => ({ id, err: undefined }),
      (err: Error) => ({ id: undefined, err }),
    );
    // A synchronous task on the producer's thread, longer than the connection wait (CONNECT_WAIT_MS): the socket
    // connects in the kernel meanwhile, but nobody reads it until this ends.
    const BLOCK_MS = 1500;
    while (performance.now() - started < BLOCK_MS) {
      // busy
    }
    const { id, err } = await pending;
    const ms = performance.now() - started;
    report('16e. producer, event loop blocked while connecting', {
      'blocked ms': BLOCK_MS,
      'enqueue settled after ms': ms,
      outcome: err ? `${err.name}: ${err.message}` : 'enqueued',
    });
    // Before: RedisUnavailableError "within 1500 ms (connection connecting)" though Redis was there all along.
    assert.equal(err, undefined, `Expected the enqueue to succeed, got ${err?.name}: ${err?.message}`);
    const ids = (await q.redis.lrange(q.keys.waiting, 0, -1)).map((e) => e.split('|')[4]!);
    assert.deepEqual(ids, [id]);
  } finally {
    await q.close();
    await redis.crash();
  }
});

test('16f. a reply that arrived while the producer was blocked past commandTimeoutMs is read, not reported as a timeout', {
  skip,
  timeout: 60_000,
}, async () => {
  const redis = await startRedis([], undefined, { startTimeoutMs: 15_000 });
  const TIMEOUT = 500;
  const q = new Queue({ name: 'busy-reader', redis: redis.url, commandTimeoutMs: TIMEOUT });
  try {
    const first = await q.enqueue('add', [0, 0]); // connected, configuration checked
    const stream = (q.redis as unknown as { stream: { bytesWritten: number } }).stream;
    const before = stream.bytesWritten;
    const pending = q.enqueue('add', [1, 2]).then(
      (id) => ({ id, err: undefined }),
      (err: Error) => ({ id: undefined, err }),
    );
    // Block only once the command is on the wire (its reply then arrives while this process is busy).
    for (let turns = 0; stream.bytesWritten === before && turns < 1000; turns++) await Promise.resolve();
    assert.ok(stream.bytesWritten > before, 'the enqueue was written without a turn of the event loop (what this test needs)');
    const started = performance.now();
    while (performance.now() - started < TIMEOUT * 3) {
      // busy, past the command timeout
    }
    const { id, err } = await pending;
    const ids = (await q.redis.lrange(q.keys.waiting, 0, -1)).map((e) => e.split('|')[4]!);
    report('16f. producer, reply read after a blocked event loop', {
      commandTimeoutMs: TIMEOUT,
      'blocked ms': TIMEOUT * 3,
      outcome: err ? `${err.name}: ${err.message}` : 'enqueued',
    });
    // Before: CommandTimeoutError ("may or may not have run") and a reset connection, though the reply was there.
    assert.equal(err, undefined, `Expected the enqueue to succeed, got ${err?.name}: ${err?.message}`);
    assert.deepEqual(ids.sort(), [first, id].sort());
  } finally {
    await q.close();
    await redis.crash();
  }
});
