/**
 * Finding the queues that have keys in Redis (`delayed status` without a queue name): the one place that SCANs
 * the keyspace, and only when asked to.
 */
import type { Redis } from 'ioredis';
import { connect, disconnect, isCluster } from './connection.ts';
import type { RedisSource } from './redis-source.ts';

export interface FindQueuesOptions {
  readonly redis?: RedisSource;
  /** @default 'delayed' */
  readonly prefix?: string;
}

const QUEUE_KEY_SUFFIXES = new Set(['waiting', 'workers', 'info', 'epoch', 'dead', 'config']);

/**
 * Finds the queues that have keys in Redis, with ONE pass of SCAN over the whole keyspace (MATCH
 * `<prefix>:{*}`): its cost grows with the number of keys in the database, so call it on request, not in a
 * loop. A queue with no key (never used, or fully drained and never run by a worker) is not found.
 */
export async function findQueues(options: FindQueuesOptions = {}): Promise<string[]> {
  const prefix = options.prefix ?? 'delayed';
  const client = connect(options.redis ?? 'redis://127.0.0.1:6379', 'producer', 'find-queues');
  client.on('error', () => undefined);
  try {
    const names = new Set<string>();
    const start = `${prefix}:{`;
    // On a cluster every primary holds part of the keyspace: scan them all.
    if (isCluster(client)) await client.ping();
    const nodes: Redis[] = isCluster(client) ? client.nodes('master') : [client];
    for (const redis of nodes) {
      let cursor = '0';
      do {
        const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:{*}:*`, 'COUNT', 1000);
        cursor = nextCursor;
        for (const key of keys) {
          if (!key.startsWith(start)) continue;
          const close = key.indexOf('}:', start.length);
          if (close < 0) continue;
          const suffix = key.slice(close + 2);
          // A partition's tag is `name/k`; queue names have no slash.
          if (QUEUE_KEY_SUFFIXES.has(suffix) || suffix.startsWith('worker:') || suffix.startsWith('waiting:'))
            names.add(key.slice(start.length, close).split('/')[0] as string);
        }
      } while (cursor !== '0');
    }
    return [...names].sort();
  } finally {
    await disconnect(client);
  }
}
