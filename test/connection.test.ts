// How the package's connections come back from what ioredis does on its own. (Sentinel: test/sentinel.test.ts
// also resets a connection while it asks the sentinels for the primary, and freezes a sentinel.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { connect, disconnect, whenReady } from '../src/connection.ts';
import { ON_CLUSTER, REDIS_URL, waitFor } from './helpers.ts';

const skip = ON_CLUSTER ? 'a single Redis connection (the cluster client reconnects as a whole)' : false;

test('a connection ioredis ended on its own (retryStrategy gave up) is connected again by whenReady', { skip }, async () => {
  const url = new URL(REDIS_URL);
  // A user's options whose retryStrategy gives up at once: the connection ends on the first drop.
  const redis = connect({ host: url.hostname, port: Number(url.port), retryStrategy: () => null }, 'worker', 'revive') as Redis;
  const killer = new Redis(REDIS_URL);
  try {
    await whenReady(redis, 5000);
    const id = await redis.client('ID');
    await killer.client('KILL', 'ID', String(id));
    await waitFor('ioredis to end the connection', () => redis.status === 'end', 5000, 5);
    await whenReady(redis, 5000);
    assert.equal(redis.status, 'ready', 'connected again');
    assert.equal(await redis.ping(), 'PONG');
  } finally {
    await disconnect(redis);
    killer.disconnect();
  }
});

test('a connection the package closed stays closed (whenReady does not revive it)', { skip }, async () => {
  const redis = connect(REDIS_URL, 'worker', 'closed') as Redis;
  await whenReady(redis, 5000);
  await disconnect(redis);
  await waitFor('the connection to end', () => redis.status === 'end', 5000, 5);
  await whenReady(redis, 200);
  assert.equal(redis.status, 'end');
});
