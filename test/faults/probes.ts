// Probes for known core bugs, so the scenarios they break are marked todo exactly while the bug is there
// (and become real tests again, by themselves, once it is fixed).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { connect } from '../../src/connection.ts';
import { hasRedisServer, startRedis } from '../../scripts/redis-server.mjs';
import { TcpProxy } from './proxy.ts';

export interface ReconnectProbe {
  /** The first command sent after the connection came back settled within 3 s. */
  readonly recovered: boolean;
  readonly detail: string;
}

function settlesWithin<T>(promise: Promise<T>, ms: number): Promise<string> {
  return Promise.race([
    promise.then(
      (v) => `ok ${String(v)}`,
      (e: Error) => `error ${e.message}`,
    ),
    sleep(ms).then(() => 'pending'),
  ]);
}

/**
 * A connection made the way the core makes it (`connect` from src/connection.ts, role `role`) drops while a
 * command waits for its reply (a partition, then a reset); once it is ready again, does the next command go
 * through?
 */
export async function probeReconnect(role: 'worker' | 'producer'): Promise<ReconnectProbe> {
  if (!hasRedisServer()) return { recovered: true, detail: 'no redis-server' };
  const redis = await startRedis([], undefined, { startTimeoutMs: 15_000 });
  const proxy = await TcpProxy.start(redis.port);
  const client = connect(proxy.url, role, 'probe') as Redis;
  client.on('error', () => undefined);
  try {
    if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
    proxy.blackhole();
    const first = client.ping();
    first.catch(() => undefined);
    await sleep(200);
    proxy.reset();
    await new Promise((resolve) => client.once('ready', resolve));
    const second = await settlesWithin(client.ping(), 3000);
    return {
      recovered: second !== 'pending',
      detail: `first command: ${await settlesWithin(first, 10)}; after the reconnect (status ${client.status}) a PING is ${second}`,
    };
  } finally {
    client.disconnect();
    await proxy.close();
    await redis.crash();
  }
}
