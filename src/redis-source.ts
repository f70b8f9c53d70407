/**
 * Where Redis is, as the user names it: a URL (`redis://`, `rediss://`, `redis+cluster://h:p,h:p`,
 * `redis+sentinel://h:p,h:p/primary-name`, `memory://` for the test store), a list of cluster seed URLs, ioredis
 * options or an ioredis client. Checked when a queue is made (`checkRedisSource`), read when a connection is made
 * (`parseUrl`, in connection.ts).
 */
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { InvalidOptionError } from './errors.ts';

export type RedisSource = string | readonly string[] | Redis | Cluster | RedisOptions;

const URL_FORMS =
  'a redis://, rediss://, redis+cluster://host:port,host:port or redis+sentinel://host:port,host:port/name URL, a list of cluster seed URLs, an ioredis client or ioredis options';

/** `memory://` or `memory://<name>`: a store in this process' memory, from `delayed-queue/testing`. */
export const MEMORY_URL = /^memory:\/\/([A-Za-z0-9_.-]{0,100})$/;

/** Emitted by a memory store's connections when its fake clock moves forward: a timekeeper runs a round then. */
export const CLOCK_MOVED = 'delayed:clock-moved';

/** Set by `delayed-queue/testing` when it loads: makes a connection to the memory store a `memory://` URL names. */
let memoryConnect: ((name: string) => Redis | Cluster) | undefined;

/** @internal Called by `delayed-queue/testing`. */
export function setMemoryConnect(connect: (name: string) => Redis | Cluster): void {
  memoryConnect = connect;
}

/** The memory store's connector, once `delayed-queue/testing` has loaded. */
export function memoryConnector(): ((name: string) => Redis | Cluster) | undefined {
  return memoryConnect;
}

export function checkRedisSource(source: unknown): RedisSource {
  if (source === undefined) return 'redis://127.0.0.1:6379';
  if (typeof source === 'string' && source.startsWith('memory://')) {
    if (!MEMORY_URL.test(source))
      throw new InvalidOptionError(
        `Expected a memory store URL to be memory:// or memory://<1-100 of A-Z a-z 0-9 _ . ->, got \`${source}\``,
      );
    return source;
  }
  if (typeof source === 'string') {
    parseUrl(source);
    return source;
  }
  if (Array.isArray(source)) {
    if (source.length === 0) throw new InvalidOptionError(`Expected \`redis\` to be ${URL_FORMS}, got an empty list`);
    for (const url of source) {
      if (typeof url !== 'string' || !/^rediss?:\/\/[^/]+/.test(url))
        throw new InvalidOptionError(`Expected every cluster seed to be a redis:// URL, got \`${JSON.stringify(url)}\``);
    }
    return source as readonly string[];
  }
  if (typeof source === 'object' && source !== null) return source as RedisSource;
  throw new InvalidOptionError(`Expected \`redis\` to be ${URL_FORMS}, got \`${String(source)}\``);
}

export type Target =
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

export function parseUrl(url: string): Target {
  const m = /^(redis|rediss|redis\+cluster|rediss\+cluster|redis\+sentinel|rediss\+sentinel):\/\/(?:([^@/]*)@)?([^/?#]+)(\/[^?#]*)?/.exec(
    url,
  );
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
  if (scheme.endsWith('cluster'))
    return { kind: 'cluster', seeds: hostPorts(hosts, url).map((s) => ({ host: s.host, port: s.port || 6379 })), auth };
  const [, name, db] = path.split('/');
  if (!name)
    throw new InvalidOptionError(
      `Expected the primary's name after the sentinels in \`${url}\` (redis+sentinel://host:port,host:port/name)`,
    );
  return {
    kind: 'sentinel',
    options: {
      ...auth,
      sentinels: hostPorts(hosts, url).map((s) => ({ host: s.host, port: s.port || 26379 })),
      name: decodeURIComponent(name),
      ...(db ? { db: Number(db) } : {}),
    },
  };
}
