/**
 * Every process-side Redis connection is made here, from what the user gave: a URL, ioredis options, or an
 * ioredis client (which is duplicated, so its settings carry over and the user keeps their own client).
 *
 * Commands that were sent but not answered when a connection dropped are NOT resent on reconnect
 * (`autoResendUnfulfilledCommands: false`): a resent enqueue would run a task twice, a resent dequeue would
 * strand a batch. The caller gets an error instead and decides (workers reconcile their in-flight list).
 * ioredis leaves such commands pending forever, so every command goes through `guard`, which rejects it
 * with a `ConnectionLostError` when the connection drops before the reply.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { DelayedError, InvalidOptionError } from './errors.ts';

/** The connection dropped after the command was sent and before its reply: it may or may not have run. */
export class ConnectionLostError extends DelayedError {
  constructor() {
    super('ERR_CONNECTION_LOST', 'The connection to Redis dropped before the reply came; the command may or may not have run');
  }
}

/** Per connection, how to reject each guarded command still waiting for its reply. */
const waiting = new WeakMap<Redis, Set<(err: Error) => void>>();

/** Makes `guard` able to tell when this connection drops. */
function watchDrops(redis: Redis): void {
  const rejecters = new Set<(err: Error) => void>();
  waiting.set(redis, rejecters);
  redis.on('close', () => {
    if (rejecters.size === 0) return;
    const lost = new ConnectionLostError();
    for (const reject of rejecters) reject(lost);
    rejecters.clear();
  });
}

/** The command's promise, rejected with `ConnectionLostError` if the connection drops before it settles. */
export function guard<T>(redis: Redis, command: Promise<T>): Promise<T> {
  const rejecters = waiting.get(redis);
  if (!rejecters) return command;
  return new Promise<T>((resolve, reject) => {
    rejecters.add(reject);
    command.then(
      (value) => {
        rejecters.delete(reject);
        resolve(value);
      },
      (err: unknown) => {
        rejecters.delete(reject);
        reject(err);
      },
    );
  });
}

export type RedisSource = string | Redis | RedisOptions;

export type ConnectionRole = 'producer' | 'worker' | 'blocking';

const ROLE_OPTIONS: Record<ConnectionRole, RedisOptions> = {
  // An enqueue while Redis is unreachable fails after a few reconnect attempts (about a second) instead of hanging.
  producer: { maxRetriesPerRequest: 3 },
  // A worker's commands fail at once while the connection is down (the worker retries with backoff): a command
  // queued offline could run long after its caller gave up on it, e.g. a blocking move into a list nobody reads.
  worker: { maxRetriesPerRequest: null, enableOfflineQueue: false },
  blocking: { maxRetriesPerRequest: null, enableOfflineQueue: false },
};

export function checkRedisSource(source: unknown): RedisSource {
  if (source === undefined) return 'redis://127.0.0.1:6379';
  if (typeof source === 'string') {
    if (!/^rediss?:\/\//.test(source)) {
      throw new InvalidOptionError(`Expected \`redis\` to be a redis:// or rediss:// URL, an ioredis client or ioredis options, got \`${JSON.stringify(source)}\``);
    }
    return source;
  }
  if (source instanceof Redis || (typeof source === 'object' && source !== null)) return source as RedisSource;
  throw new InvalidOptionError(`Expected \`redis\` to be a redis:// URL, an ioredis client or ioredis options, got \`${String(source)}\``);
}

export function connect(source: RedisSource, role: ConnectionRole, name: string): Redis {
  const options: RedisOptions = {
    ...ROLE_OPTIONS[role],
    autoResendUnfulfilledCommands: false,
    // Not auto-pipelining: ioredis runs one auto-pipeline at a time, and one whose connection dropped never
    // settles (its commands are not resent), so every later command would wait behind it forever.
    enableAutoPipelining: false,
    connectionName: `delayed:${name}:${role}`,
  };
  let redis: Redis;
  if (source instanceof Redis) redis = source.duplicate(options);
  else if (typeof source === 'string') redis = new Redis(source, options);
  else redis = new Redis({ ...source, ...options });
  // Connection errors surface as rejected commands; without a listener ioredis would also print each one.
  redis.on('error', () => undefined);
  watchDrops(redis);
  return redis;
}

/** Closes a connection: QUIT when it is up (bounded by `ms`), a plain disconnect otherwise. Never rejects. */
export async function disconnect(redis: Redis, ms = 1000): Promise<void> {
  if (redis.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      redis.quit().catch(() => undefined),
      new Promise((resolve) => {
        timer = setTimeout(resolve, ms);
      }),
    ]);
    clearTimeout(timer);
  }
  redis.disconnect();
}

/** Resolves once the connection is ready, or after `ms` (the caller then tries, and retries on failure). */
export async function whenReady(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return;
  let onReady!: () => void;
  let timer: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve) => {
    onReady = resolve;
    redis.once('ready', onReady);
    timer = setTimeout(resolve, ms);
  });
  clearTimeout(timer);
  redis.off('ready', onReady);
}
