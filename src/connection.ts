/**
 * Every process-side Redis connection is made here, from what the user gave: a URL (`redis://`, `rediss://`,
 * `redis+cluster://h:p,h:p`, `redis+sentinel://h:p,h:p/primary-name`), a list of cluster seed URLs, ioredis
 * options (with `sentinels` for Sentinel), or an ioredis `Redis` / `Cluster` client (duplicated, so its
 * settings carry over and the user keeps their own client).
 *
 * Commands that were sent but not answered when a connection dropped are NOT resent on reconnect
 * (`autoResendUnfulfilledCommands: false`): a resent enqueue would run a task twice, a resent dequeue would
 * strand a batch. The caller gets an error instead and decides (workers reconcile their in-flight list).
 * ioredis leaves such commands pending forever, so every command goes through `guard`, which rejects it
 * with a `ConnectionLostError` when the connection drops before the reply.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { DelayedError, InvalidOptionError } from './errors.ts';

/** The connection dropped after the command was sent and before its reply: it may or may not have run. */
export class ConnectionLostError extends DelayedError {
  constructor() {
    super('ERR_CONNECTION_LOST', 'The connection to Redis dropped before the reply came; the command may or may not have run');
  }
}

/** A connection to one Redis (single node or Sentinel-managed) or to a Redis Cluster. */
export type Client = Redis | Cluster;

export function isCluster(client: Client): client is Cluster {
  return client instanceof Cluster;
}

/** Per connection, how to reject each guarded command still waiting for its reply. */
const waiting = new WeakMap<Client, Set<(err: Error) => void>>();

/** Makes `guard` able to tell when this connection drops. */
function watchDrops(redis: Client): void {
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
export function guard<T>(redis: Client, command: Promise<T>): Promise<T> {
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
        // A cluster node whose connection closed fails the commands it had (they are not sent again).
        reject(err instanceof Error && err.message === 'Connection is closed.' ? new ConnectionLostError() : err);
      },
    );
  });
}

/**
 * Where Redis is: a URL (`redis://`, `rediss://`, `redis+cluster://host:port,host:port`,
 * `redis+sentinel://host:port,host:port/primary-name`), a list of cluster seed URLs, ioredis options (with
 * `sentinels` and `name` for Sentinel), or an ioredis `Redis` or `Cluster` client.
 */
export type RedisSource = string | readonly string[] | Redis | Cluster | RedisOptions;

export type ConnectionRole = 'producer' | 'worker' | 'blocking';

const ROLE_OPTIONS: Record<ConnectionRole, RedisOptions> = {
  // An enqueue while Redis is unreachable fails after a few reconnect attempts (about a second) instead of hanging.
  producer: { maxRetriesPerRequest: 3 },
  // A worker's commands fail at once while the connection is down (the worker retries with backoff): a command
  // queued offline could run long after its caller gave up on it, e.g. a blocking move into a list nobody reads.
  worker: { maxRetriesPerRequest: null, enableOfflineQueue: false },
  blocking: { maxRetriesPerRequest: null, enableOfflineQueue: false },
};

const URL_FORMS = 'a redis://, rediss://, redis+cluster://host:port,host:port or redis+sentinel://host:port,host:port/name URL, a list of cluster seed URLs, an ioredis client or ioredis options';

export function checkRedisSource(source: unknown): RedisSource {
  if (source === undefined) return 'redis://127.0.0.1:6379';
  if (typeof source === 'string') {
    parseUrl(source);
    return source;
  }
  if (Array.isArray(source)) {
    if (source.length === 0) throw new InvalidOptionError(`Expected \`redis\` to be ${URL_FORMS}, got an empty list`);
    for (const url of source) {
      if (typeof url !== 'string' || !/^rediss?:\/\/[^/]+/.test(url)) throw new InvalidOptionError(`Expected every cluster seed to be a redis:// URL, got \`${JSON.stringify(url)}\``);
    }
    return source as readonly string[];
  }
  if (typeof source === 'object' && source !== null) return source as RedisSource;
  throw new InvalidOptionError(`Expected \`redis\` to be ${URL_FORMS}, got \`${String(source)}\``);
}

type Target =
  | { readonly kind: 'single'; readonly url: string }
  | { readonly kind: 'cluster'; readonly seeds: { host: string; port: number }[]; readonly auth: RedisOptions }
  | { readonly kind: 'sentinel'; readonly options: RedisOptions };

function hostPorts(list: string, url: string): { host: string; port: number }[] {
  return list.split(',').map((hp) => {
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hp.trim());
    if (!m?.[1]) throw new InvalidOptionError(`Expected host:port pairs in \`${url}\`, got \`${hp}\``);
    return { host: m[1].replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 0 };
  });
}

function parseUrl(url: string): Target {
  const m = /^(redis|rediss|redis\+cluster|rediss\+cluster|redis\+sentinel|rediss\+sentinel):\/\/(?:([^@/]*)@)?([^/?#]+)(\/[^?#]*)?/.exec(url);
  if (!m) throw new InvalidOptionError(`Expected \`redis\` to be ${URL_FORMS}, got \`${JSON.stringify(url)}\``);
  const [, scheme = '', userInfo, hosts = '', path = ''] = m;
  if (scheme === 'redis' || scheme === 'rediss') return { kind: 'single', url };
  const auth: RedisOptions = {};
  if (userInfo) {
    const [user = '', pass] = userInfo.split(':');
    if (pass !== undefined) {
      if (user) auth.username = decodeURIComponent(user);
      auth.password = decodeURIComponent(pass);
    } else auth.password = decodeURIComponent(user);
  }
  if (scheme.startsWith('rediss')) auth.tls = {};
  if (scheme.endsWith('cluster')) return { kind: 'cluster', seeds: hostPorts(hosts, url).map((s) => ({ host: s.host, port: s.port || 6379 })), auth };
  const [, name, db] = path.split('/');
  if (!name) throw new InvalidOptionError(`Expected the primary's name after the sentinels in \`${url}\` (redis+sentinel://host:port,host:port/name)`);
  return {
    kind: 'sentinel',
    options: { ...auth, sentinels: hostPorts(hosts, url).map((s) => ({ host: s.host, port: s.port || 26379 })), name: decodeURIComponent(name), ...(db ? { db: Number(db) } : {}) },
  };
}

/** What every cluster connection needs on top of what the user gave. */
function clusterOptions(role: ConnectionRole, redisOptions: RedisOptions): ClusterOptions {
  return {
    enableAutoPipelining: false,
    // A command whose node connection closed may have run: fail it instead of sending it again elsewhere.
    retryDelayOnFailover: 0,
    enableOfflineQueue: role === 'producer',
    redisOptions: { ...redisOptions },
  };
}

export function connect(source: RedisSource, role: ConnectionRole, name: string): Client {
  const options: RedisOptions = {
    ...ROLE_OPTIONS[role],
    autoResendUnfulfilledCommands: false,
    // Not auto-pipelining: ioredis runs one auto-pipeline at a time, and one whose connection dropped never
    // settles (its commands are not resent), so every later command would wait behind it forever.
    enableAutoPipelining: false,
    connectionName: `delayed:${name}:${role}`,
  };
  const { enableOfflineQueue: _ignored, ...nodeOptions } = options;
  let redis: Client;
  if (source instanceof Cluster) {
    const userNodeOptions = source.options.redisOptions ?? {};
    redis = source.duplicate(undefined, clusterOptions(role, { ...userNodeOptions, ...nodeOptions }));
  } else if (source instanceof Redis) redis = source.duplicate(options);
  else if (Array.isArray(source)) {
    const seeds = (source as readonly string[]).map((url) => {
      const u = new URL(url);
      return { host: u.hostname, port: Number(u.port || 6379) };
    });
    const first = new URL(source[0] as string);
    const auth: RedisOptions = first.password ? { password: decodeURIComponent(first.password), ...(first.username ? { username: decodeURIComponent(first.username) } : {}) } : {};
    redis = new Cluster(seeds, clusterOptions(role, { ...auth, ...nodeOptions }));
  } else if (typeof source === 'string') {
    const target = parseUrl(source);
    if (target.kind === 'single') redis = new Redis(source, options);
    else if (target.kind === 'cluster') redis = new Cluster(target.seeds, clusterOptions(role, { ...target.auth, ...nodeOptions }));
    else redis = new Redis({ ...target.options, ...options });
  } else redis = new Redis({ ...(source as RedisOptions), ...options });
  // Connection errors surface as rejected commands; without a listener ioredis would also print each one.
  redis.on('error', () => undefined);
  watchDrops(redis);
  return redis;
}

/** Closes a connection: QUIT when it is up (bounded by `ms`), a plain disconnect otherwise. Never rejects. */
export async function disconnect(redis: Client, ms = 1000): Promise<void> {
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
export async function whenReady(redis: Client, ms: number): Promise<void> {
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
