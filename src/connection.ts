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
 * with a `ConnectionLostError` when the connection drops before the reply, and with a `CommandTimeoutError`
 * when no reply came within the connection's command timeout (then the connection is reset: a frozen or
 * half-open connection would hold every later command behind the unanswered one).
 *
 * `send` is for commands that must never run late: it sends only once the connection is ready and writable,
 * in the same tick, so nothing it sends waits in ioredis' offline queue (which would write it whenever Redis
 * came back, after its caller was told it failed). Not ready within about a second: `RedisUnavailableError`,
 * nothing sent; a server that accepted the connection and is still answering the handshake gets up to the
 * command timeout (then the connection is reset).
 */
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import type { Logger } from './logger.ts';
import { CommandTimeoutError, ConnectionLostError, InvalidOptionError, RedisUnavailableError } from './errors.ts';
import { MEMORY_URL, memoryConnector, parseUrl, type RedisSource } from './redis-source.ts';
import { afterArrivedIo, arrivedIoRead } from './time.ts';

/**
 * ioredis, loaded on first use: a task module that imports this package (in every child process) does not pay
 * for loading the Redis client, about 0.2 s of CPU per child, unless it connects.
 */
type IoRedis = typeof import('ioredis');
let ioredis: IoRedis | undefined;
function io(): IoRedis {
  return (ioredis ??= createRequire(import.meta.url)('ioredis') as IoRedis);
}

/** A connection to one Redis (single node or Sentinel-managed) or to a Redis Cluster. */
export type Client = Redis | Cluster;

export function isCluster(client: Client): client is Cluster {
  return client instanceof io().Cluster;
}

/** The default command timeout, ms (the queue option `commandTimeoutMs`). */
export const DEFAULT_COMMAND_TIMEOUT_MS = 5000;
/** How long `send` waits for a connection to become ready before it gives up, ms. */
export const CONNECT_WAIT_MS = 1000;
/**
 * What a blocking connection's timeout adds to the command timeout: its BLMOVE waits up to a second in Redis
 * before it answers (src/fetcher.ts BLOCK_SECONDS), so its replies may take that much longer.
 */
const BLOCKING_EXTRA_MS = 2000;

interface Pending {
  readonly since: number;
  readonly reject: (err: Error) => void;
}

/** Per connection: the guarded commands waiting for their reply (oldest first), the timeout, what went wrong. */
interface Watch {
  readonly pending: Set<Pending>;
  readonly timeoutMs: number;
  readonly address: string;
  timer: NodeJS.Timeout | undefined;
  lastError: Error | undefined;
}

const watches = new WeakMap<Client, Watch>();
/** The connections this package closed on purpose: `whenReady` connects any other that ioredis ended again. */
const closing = new WeakSet<Client>();
/** The most a sentinel may take to say where the primary is before the next one is asked, ms. */
const SENTINEL_TIMEOUT_MS = 2000;

/** Makes `guard` able to tell when this connection drops, and its commands time out after `timeoutMs` (0: never). */
function watch(redis: Client, timeoutMs: number, address: string): void {
  const w: Watch = { pending: new Set(), timeoutMs, address, timer: undefined, lastError: undefined };
  watches.set(redis, w);
  redis.on('error', (err: Error) => (w.lastError = err));
  redis.on('ready', () => (w.lastError = undefined));
  redis.on('close', () => {
    if (w.pending.size === 0) return;
    const lost = new ConnectionLostError();
    const all = [...w.pending];
    w.pending.clear();
    for (const p of all) p.reject(lost);
  });
}

/**
 * One timer per connection while commands are pending (not one per command): it fails those older than the
 * timeout, oldest first (a connection answers in order), and resets the connection if any was.
 */
function startWatchdog(redis: Client, w: Watch): void {
  const every = Math.max(10, Math.min(500, Math.floor(w.timeoutMs / 10)));
  const expire = (now: number) => {
    let expired = false;
    for (const p of w.pending) {
      if (now - p.since < w.timeoutMs) break;
      w.pending.delete(p);
      p.reject(new CommandTimeoutError(w.address, w.timeoutMs));
      expired = true;
    }
    if (expired) reset(redis);
    if (w.pending.size === 0 && w.timer) {
      clearInterval(w.timer);
      w.timer = undefined;
    }
  };
  w.timer = setInterval(() => {
    const now = performance.now();
    const oldest = w.pending.values().next().value;
    if (oldest === undefined || now - oldest.since < w.timeoutMs) return expire(now);
    // A reply may be waiting unread (afterArrivedIo): read first, then fail only what is still unanswered.
    afterArrivedIo(() => expire(now));
  }, every);
  w.timer.unref();
}

/**
 * Drops the connection now and lets ioredis connect again. Unlike `disconnect(true)` (which ends the socket and
 * waits up to 2 s for the other side to close it), this also frees a half-open connection at once. A cluster
 * client is disconnected and reconnected as a whole (ioredis' own way; its sockets go within 2 s).
 */
export function reset(redis: Client): void {
  if (redis.status === 'end') return;
  // A cluster client reconnects as a whole (its node connections are its own business).
  if (isCluster(redis)) return void redis.disconnect(true);
  const stream = redis.stream;
  if (stream && !stream.destroyed) return void stream.destroy();
  // No live socket: the connection is already on its way back (waiting to retry, or asking the sentinels where
  // the primary is). `disconnect(true)` now would make ioredis' connector give up, and ioredis then ends the
  // connection for good (seen after a Sentinel failover: the workers never registered again).
  if (redis.status === 'connecting' || redis.status === 'reconnecting') return;
  redis.disconnect(true);
}

function unavailable(redis: Client, waitedMs: number): RedisUnavailableError {
  const w = watches.get(redis);
  return new RedisUnavailableError(w?.address ?? describe(redis), waitedMs, redis.status, w?.lastError);
}

/** The command's promise, rejected with `ConnectionLostError` if the connection drops before it settles. */
export function guard<T>(redis: Client, command: Promise<T>): Promise<T> {
  const w = watches.get(redis);
  if (!w) return command;
  return new Promise<T>((resolve, reject) => {
    const pending: Pending = { since: performance.now(), reject };
    w.pending.add(pending);
    if (w.timeoutMs > 0 && !w.timer) startWatchdog(redis, w);
    command.then(
      (value) => {
        w.pending.delete(pending);
        resolve(value);
      },
      (err: unknown) => {
        w.pending.delete(pending);
        if (!(err instanceof Error)) return reject(err);
        // A cluster node whose connection closed fails the commands it had (they are not sent again).
        if (err.message === 'Connection is closed.') return reject(new ConnectionLostError());
        // Never written (no connection, no offline queue): it did not run and will not run later.
        if (err.message.startsWith("Stream isn't writeable")) return reject(unavailable(redis, 0));
        reject(err);
      },
    );
  });
}

/** True when a command sent now is written to the socket at once (not queued offline by ioredis). */
function writable(redis: Client): boolean {
  if (redis.status !== 'ready') return false;
  if (isCluster(redis)) return true;
  const stream = redis.stream as (typeof redis.stream & { _writableState?: { ended?: boolean } }) | undefined;
  return !!stream && stream.writable && !stream._writableState?.ended;
}

/**
 * Sends a command that must run now or never (an enqueue): waits up to `CONNECT_WAIT_MS` for the connection,
 * then sends it in the same tick as it checked the connection, so it never waits in an offline queue. Rejects
 * with `RedisUnavailableError` (not sent) when there is no connection by then; with `CommandTimeoutError` or
 * `ConnectionLostError` (may have run) when the reply did not come.
 */
export async function send<T>(redis: Client, command: () => Promise<T>): Promise<T> {
  if (!writable(redis)) await untilWritable(redis, performance.now());
  return await guard(redis, command());
}

/** `send`'s wait for a connection it can write to now; throws `RedisUnavailableError` when there is none. */
async function untilWritable(redis: Client, started: number): Promise<void> {
  const waited = () => performance.now() - started;
  while (!writable(redis) && waited() < CONNECT_WAIT_MS) {
    await whenReady(redis, CONNECT_WAIT_MS - waited());
    // Ready but the socket just closed: let ioredis notice, then wait again.
    if (!writable(redis) && waited() < CONNECT_WAIT_MS) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // The timer that ended the wait may have run before a reply that had arrived was read (afterArrivedIo).
  if (!writable(redis)) await arrivedIoRead();
  // Connected, the server still answering the handshake (AUTH, SETNAME, the ready check): it is there, so it gets
  // what a command gets, the command timeout; past that the connection is reset, as for a command.
  const handshakeMs = watches.get(redis)?.timeoutMs || DEFAULT_COMMAND_TIMEOUT_MS;
  if (!writable(redis) && redis.status === 'connect' && waited() < handshakeMs) {
    await whenReady(redis, handshakeMs - waited());
    if (!writable(redis)) await arrivedIoRead();
  }
  if (writable(redis)) return;
  const err = unavailable(redis, Math.round(waited()));
  if (redis.status === 'connect') reset(redis);
  throw err;
}

/** Where a connection goes, for messages: host and port (sentinels and name, cluster seeds), never a password. */
function describe(redis: Client): string {
  if (isCluster(redis)) {
    const seeds = (redis as unknown as { startupNodes?: { host?: string; port?: number }[] }).startupNodes ?? [];
    return `redis+cluster://${seeds.map((n) => `${n.host ?? '127.0.0.1'}:${n.port ?? 6379}`).join(',')}`;
  }
  const o = redis.options;
  const auth = o.password ? `${o.username ? `${o.username}:` : ''}***@` : '';
  if (o.sentinels && o.sentinels.length > 0) {
    return `redis+sentinel://${auth}${o.sentinels.map((s) => `${s.host ?? '127.0.0.1'}:${s.port ?? 26379}`).join(',')}/${o.name ?? ''}`;
  }
  if (o.path) return `redis+unix://${auth}${o.path}`;
  return `${o.tls ? 'rediss' : 'redis'}://${auth}${o.host ?? '127.0.0.1'}:${o.port ?? 6379}${o.db ? `/${o.db}` : ''}`;
}

/**
 * Where Redis is: a URL (`redis://`, `rediss://`, `redis+cluster://host:port,host:port`,
 * `redis+sentinel://host:port,host:port/primary-name`), a list of cluster seed URLs, ioredis options (with
 * `sentinels` and `name` for Sentinel), or an ioredis `Redis` or `Cluster` client.
 */
export type ConnectionRole = 'producer' | 'worker' | 'blocking';

const ROLE_OPTIONS: Record<ConnectionRole, RedisOptions> = {
  // Enqueues go through `send`, which never leaves a command in the offline queue; the queue is kept for the
  // tools that read through a producer connection (status, the CLI) right after connecting.
  producer: { maxRetriesPerRequest: 3 },
  // A worker's commands fail at once while the connection is down (the worker retries with backoff): a command
  // queued offline could run long after its caller gave up on it, e.g. a blocking move into a list nobody reads.
  worker: { maxRetriesPerRequest: null, enableOfflineQueue: false },
  blocking: { maxRetriesPerRequest: null, enableOfflineQueue: false },
};

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

/**
 * A connection for one role. `commandTimeoutMs`: how long a guarded command may wait for its reply before it
 * fails and the connection is reset (a blocking connection gets 2 s more, for its 1 s blocks); 0 never.
 */
export function connect(source: RedisSource, role: ConnectionRole, name: string, commandTimeoutMs = DEFAULT_COMMAND_TIMEOUT_MS): Client {
  const options: RedisOptions = {
    ...ROLE_OPTIONS[role],
    autoResendUnfulfilledCommands: false,
    // Not auto-pipelining: ioredis runs one auto-pipeline at a time, and one whose connection dropped never
    // settles (its commands are not resent), so every later command would wait behind it forever.
    enableAutoPipelining: false,
    connectionName: `delayed:${name}:${role}`,
  };
  // A frozen sentinel would hold a connection in 'connecting' for ever: ask the next one after a while.
  const sentinelTimeout: RedisOptions = { sentinelCommandTimeout: Math.min(SENTINEL_TIMEOUT_MS, commandTimeoutMs || SENTINEL_TIMEOUT_MS) };
  const { enableOfflineQueue: _ignored, ...nodeOptions } = options;
  const memory = typeof source === 'string' ? MEMORY_URL.exec(source) : null;
  if (memory) {
    const memoryConnect = memoryConnector();
    if (!memoryConnect)
      throw new InvalidOptionError(
        `\`${source}\` is a store in memory, for tests: import something from 'delayed-queue/testing' (e.g. memoryStore) in this process first`,
      );
    return memoryConnect(memory[1] ?? '');
  }
  let redis: Client;
  if (source instanceof io().Cluster) {
    const userNodeOptions = source.options.redisOptions ?? {};
    redis = source.duplicate(undefined, clusterOptions(role, { ...userNodeOptions, ...nodeOptions }));
  } else if (source instanceof io().Redis)
    redis = source.duplicate({ ...(source.options.sentinelCommandTimeout ? {} : sentinelTimeout), ...options });
  else if (Array.isArray(source)) {
    const seeds = (source as readonly string[]).map((url) => {
      const u = new URL(url);
      return { host: u.hostname, port: Number(u.port || 6379) };
    });
    const first = new URL(source[0] as string);
    const auth: RedisOptions = first.password
      ? { password: decodeURIComponent(first.password), ...(first.username ? { username: decodeURIComponent(first.username) } : {}) }
      : {};
    redis = new (io().Cluster)(seeds, clusterOptions(role, { ...auth, ...nodeOptions }));
  } else if (typeof source === 'string') {
    const target = parseUrl(source);
    if (target.kind === 'single') redis = new (io().Redis)(source, options);
    else if (target.kind === 'cluster') redis = new (io().Cluster)(target.seeds, clusterOptions(role, { ...target.auth, ...nodeOptions }));
    else redis = new (io().Redis)({ ...sentinelTimeout, ...target.options, ...options });
  } else redis = new (io().Redis)({ ...sentinelTimeout, ...(source as RedisOptions), ...options });
  // Connection errors surface as rejected commands; without a listener ioredis would also print each one.
  redis.on('error', () => undefined);
  watch(redis, commandTimeoutMs > 0 ? commandTimeoutMs + (role === 'blocking' ? BLOCKING_EXTRA_MS : 0) : 0, describe(redis));
  return redis;
}

/** Closes a connection at once, for good (a blocked command on it is rejected). */
export function drop(redis: Client): void {
  closing.add(redis);
  redis.disconnect();
}

/** Closes a connection: QUIT when it is up (bounded by `ms`), a plain disconnect otherwise. Never rejects. */
export async function disconnect(redis: Client, ms = 1000): Promise<void> {
  closing.add(redis);
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
  drop(redis);
}

/**
 * Resolves once the connection is ready, or after `ms` (the caller then tries, and retries on failure). A
 * connection that ioredis ended though this package did not close it (its connector gave up, or a user's
 * `retryStrategy` returned no delay) is connected again: else every later command would fail at once, and a
 * worker would never register again.
 */
export async function whenReady(redis: Client, ms: number): Promise<void> {
  if (redis.status === 'ready') return;
  if (redis.status === 'end' && !closing.has(redis)) redis.connect().catch(() => undefined);
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

/** Connects for a worker or sweeper: connection errors are logged at most once per 5 s (ioredis retries on its own). */
export function connectLogged(source: RedisSource, role: ConnectionRole, name: string, commandTimeoutMs: number, logger: Logger): Client {
  const redis = connect(source, role, name, commandTimeoutMs);
  let last = 0;
  redis.on('error', (err: Error) => {
    if (Date.now() - last < 5000) return;
    last = Date.now();
    logger.warn({ queue: name, role, err }, 'Redis connection error; retrying');
  });
  return redis;
}

/** A Redis that evicts keys under memory pressure can drop waiting tasks: say so, loudly. Never rejects. */
export async function warnIfEvicting(redis: Client, logger: Logger, name: string): Promise<void> {
  try {
    const policy = ((await guard(redis, redis.config('GET', 'maxmemory-policy'))) as string[])[1];
    if (policy === undefined || policy === 'noeviction') return;
    const why = `Redis maxmemory-policy is ${policy}: under memory pressure Redis may evict this queue's keys and lose tasks.`;
    logger.error({ queue: name, policy }, `${why} Set maxmemory-policy to noeviction.`);
  } catch {
    // CONFIG may be disabled (managed Redis): nothing to check.
  }
}
