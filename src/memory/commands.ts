/**
 * The plain Redis commands the library sends outside its scripts (enqueue's LPUSH, a release's LREM, status
 * and listing reads, SCAN for the tests), on the memory keyspace, with Redis' argument forms and replies. The
 * scripts themselves are `./scripts.ts`. A command not in this table fails with
 * `NotSupportedByMemoryStoreError` (see ./client.ts).
 */
import { type Keyspace, ReplyError } from './keyspace.ts';
import type { Reply } from './scripts.ts';

type Command = (ks: Keyspace, args: readonly string[]) => Reply;

const s = (args: readonly string[], i: number) => args[i] as string;
const int = (args: readonly string[], i: number) => {
  const n = Number(args[i]);
  if (!Number.isInteger(n)) throw new ReplyError('ERR value is not an integer or out of range');
  return n;
};

/** A score bound of ZRANGEBYSCORE: -inf, +inf, n, (n. */
function bound(text: string): { value: number; open: boolean } {
  const open = text.startsWith('(');
  const t = open ? text.slice(1) : text;
  const value = t === '-inf' ? Number.NEGATIVE_INFINITY : t === '+inf' || t === 'inf' ? Number.POSITIVE_INFINITY : Number(t);
  if (Number.isNaN(value)) throw new ReplyError('ERR min or max is not a float');
  return { value, open };
}

const withScores = (pairs: [string, number][], scores: boolean): Reply =>
  scores ? pairs.flatMap(([m, sc]) => [m, String(sc)]) : pairs.map(([m]) => m);

function pairsOf(args: readonly string[], from: number): [string, string][] {
  const out: [string, string][] = [];
  for (let i = from; i + 1 < args.length; i += 2) out.push([args[i] as string, args[i + 1] as string]);
  return out;
}

export const COMMANDS: Readonly<Record<string, Command>> = {
  ping: () => 'PONG',
  time: (ks) => {
    const now = ks.now();
    return [String(Math.floor(now / 1000)), String((now % 1000) * 1000)];
  },
  type: (ks, args) => ks.type(s(args, 0)),
  exists: (ks, args) => args.filter((key) => ks.type(key) !== 'none').length,
  del: (ks, args) => args.reduce((n, key) => n + ks.del(key), 0),
  rename: (ks, args) => {
    ks.rename(s(args, 0), s(args, 1));
    return 'OK';
  },
  scan: (ks, args) => {
    const match = args.findIndex((a) => a.toUpperCase() === 'MATCH');
    return ['0', ks.keys(match >= 0 ? s(args, match + 1) : '*')];
  },
  keys: (ks, args) => ks.keys(s(args, 0)),
  get: (ks, args) => ks.get(s(args, 0)),
  set: (ks, args) => {
    const flags = args.slice(2).map((a) => a.toUpperCase());
    const px = flags.indexOf('PX');
    const ex = flags.indexOf('EX');
    const ms = px >= 0 ? int(args, px + 3) : ex >= 0 ? int(args, ex + 3) * 1000 : undefined;
    return ks.set(s(args, 0), s(args, 1), flags.includes('NX'), ms) ? 'OK' : null;
  },
  pttl: (ks, args) => ks.pttl(s(args, 0)),
  lpush: (ks, args) => ks.lpush(s(args, 0), args.slice(1)),
  rpush: (ks, args) => ks.rpush(s(args, 0), args.slice(1)),
  llen: (ks, args) => ks.llen(s(args, 0)),
  lrange: (ks, args) => ks.lrange(s(args, 0), int(args, 1), int(args, 2)),
  lindex: (ks, args) => ks.lindex(s(args, 0), int(args, 1)),
  lrem: (ks, args) => ks.lrem(s(args, 0), int(args, 1), s(args, 2)),
  ltrim: (ks, args) => {
    ks.ltrim(s(args, 0), int(args, 1), int(args, 2));
    return 'OK';
  },
  lpop: (ks, args) => ks.pop(s(args, 0), 'LEFT'),
  rpop: (ks, args) => ks.pop(s(args, 0), 'RIGHT'),
  lmove: (ks, args) =>
    ks.lmove(s(args, 0), s(args, 1), s(args, 2).toUpperCase() as 'LEFT' | 'RIGHT', s(args, 3).toUpperCase() as 'LEFT' | 'RIGHT'),
  hset: (ks, args) => ks.hset(s(args, 0), pairsOf(args, 1)),
  hget: (ks, args) => ks.hget(s(args, 0), s(args, 1)),
  hdel: (ks, args) => ks.hdel(s(args, 0), args.slice(1)),
  hexists: (ks, args) => (ks.hget(s(args, 0), s(args, 1)) === null ? 0 : 1),
  hlen: (ks, args) => ks.hgetall(s(args, 0)).length,
  hkeys: (ks, args) => ks.hgetall(s(args, 0)).map(([f]) => f),
  hmget: (ks, args) => args.slice(1).map((f) => ks.hget(s(args, 0), f)),
  hgetall: (ks, args) => ks.hgetall(s(args, 0)).flat(),
  zadd: (ks, args) => {
    let i = 1;
    let mode: 'NX' | 'XX' | undefined;
    while (/^(NX|XX)$/i.test(s(args, i))) mode = s(args, i++).toUpperCase() as 'NX' | 'XX';
    const pairs: [number, string][] = [];
    for (; i + 1 < args.length; i += 2) {
      const score = bound(s(args, i)).value;
      pairs.push([score, s(args, i + 1)]);
    }
    return ks.zadd(s(args, 0), pairs, mode);
  },
  zscore: (ks, args) => {
    const score = ks.zscore(s(args, 0), s(args, 1));
    return score === undefined ? null : String(score);
  },
  zrem: (ks, args) => ks.zrem(s(args, 0), args.slice(1)),
  zcard: (ks, args) => ks.zcard(s(args, 0)),
  zrange: (ks, args) => {
    const rest = args.slice(3).map((a) => a.toUpperCase());
    if (rest.some((a) => a !== 'WITHSCORES')) throw new ReplyError(`ERR the memory store's ZRANGE takes only WITHSCORES`);
    return withScores(ks.zrange(s(args, 0), int(args, 1), int(args, 2)), rest.includes('WITHSCORES'));
  },
  zrangebyscore: (ks, args) => {
    const min = bound(s(args, 1));
    const max = bound(s(args, 2));
    const rest = args.slice(3).map((a) => a.toUpperCase());
    const limit = rest.indexOf('LIMIT');
    const offset = limit >= 0 ? int(args, limit + 4) : 0;
    const count = limit >= 0 ? int(args, limit + 5) : -1;
    const hits = ks
      .zrangeByScore(s(args, 0), Number.NEGATIVE_INFINITY, max.value, max.open, 0, -1)
      .filter(([, sc]) => (min.open ? sc > min.value : sc >= min.value));
    return withScores(hits.slice(offset, count < 0 ? undefined : offset + count), rest.includes('WITHSCORES'));
  },
  config: (_ks, args) => (s(args, 0).toUpperCase() === 'GET' && args[1] === 'maxmemory-policy' ? ['maxmemory-policy', 'noeviction'] : []),
  script: () => 'OK',
};
