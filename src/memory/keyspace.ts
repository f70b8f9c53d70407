/**
 * The memory store's data: Redis' four value types the queue uses (string with an expiry, list, hash, sorted
 * set) on Maps, and its clock. Values are byte strings (each character one byte, latin1), so an entry compares
 * and matches byte for byte as it does in Redis, whatever its encoding. A collection that becomes empty is
 * deleted, as in Redis. Everything here is synchronous: one script is one call, so it is atomic as in Redis.
 * Only `src/memory/` uses this; `src/testing.ts` is the public face.
 */

/** The reply Redis gives a command on a key of another type. */
export const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';

export class ReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplyError';
  }
}

type Value =
  | { readonly type: 'string'; v: string; expiresAt: number | undefined }
  | { readonly type: 'list'; readonly v: string[] }
  | { readonly type: 'hash'; readonly v: Map<string, string> }
  | { readonly type: 'zset'; readonly v: Map<string, number> };

export type KeyType = Value['type'] | 'none';

/** A byte string (latin1) from what a caller sent: strings as UTF-8, numbers as Redis prints them, bytes as they are. */
export function bytes(arg: string | number | Buffer): string {
  if (Buffer.isBuffer(arg)) return arg.toString('latin1');
  return Buffer.from(String(arg), 'utf8').toString('latin1');
}

/** Redis' glob (`*`, `?`, `[...]`, `\x`) as a regular expression. */
function globRegExp(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') out += '[\\s\\S]*';
    else if (c === '?') out += '[\\s\\S]';
    else if (c === '\\' && i + 1 < pattern.length) out += `\\${pattern[++i]}`;
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) out += '\\[';
      else {
        const body = pattern.slice(i + 1, end).replace(/\\/g, '\\\\');
        out += body.startsWith('^') ? `[^${body.slice(1)}]` : `[${body}]`;
        i = end;
      }
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

export class Keyspace {
  readonly #data = new Map<string, Value>();
  /** Added to Date.now(): what the fake clock moved forward. */
  #offset = 0;
  /** Called after anything was written (wakes blocked moves, drain waiters). */
  onWrite: () => void = () => undefined;

  /** The store's clock, ms (Redis' TIME). */
  now(): number {
    return Date.now() + this.#offset;
  }

  advance(ms: number): void {
    this.#offset += ms;
  }

  #get(key: string): Value | undefined {
    const v = this.#data.get(key);
    if (v?.type === 'string' && v.expiresAt !== undefined && v.expiresAt <= this.now()) {
      this.#data.delete(key);
      return undefined;
    }
    return v;
  }

  type(key: string): KeyType {
    return this.#get(key)?.type ?? 'none';
  }

  #typed<T extends Value['type']>(key: string, type: T): Extract<Value, { type: T }> | undefined {
    const v = this.#get(key);
    if (v === undefined) return undefined;
    if (v.type !== type) throw new ReplyError(WRONGTYPE);
    return v as Extract<Value, { type: T }>;
  }

  #list(key: string, create: boolean): string[] | undefined {
    const v = this.#typed(key, 'list');
    if (v || !create) return v?.v;
    const list: string[] = [];
    this.#data.set(key, { type: 'list', v: list });
    return list;
  }

  #hash(key: string, create: boolean): Map<string, string> | undefined {
    const v = this.#typed(key, 'hash');
    if (v || !create) return v?.v;
    const hash = new Map<string, string>();
    this.#data.set(key, { type: 'hash', v: hash });
    return hash;
  }

  #zset(key: string, create: boolean): Map<string, number> | undefined {
    const v = this.#typed(key, 'zset');
    if (v || !create) return v?.v;
    const zset = new Map<string, number>();
    this.#data.set(key, { type: 'zset', v: zset });
    return zset;
  }

  /** Deletes a collection left empty. */
  #tidy(key: string): void {
    const v = this.#data.get(key);
    if (v && v.type !== 'string' && (Array.isArray(v.v) ? v.v.length : v.v.size) === 0) this.#data.delete(key);
  }

  keys(pattern: string): string[] {
    const re = globRegExp(pattern);
    return [...this.#data.keys()].filter((k) => this.#get(k) !== undefined && re.test(k));
  }

  /** Every key holding a value (for drain and for the clock's lease shift). */
  allKeys(): string[] {
    return this.keys('*');
  }

  del(key: string): number {
    return this.#get(key) !== undefined && this.#data.delete(key) ? 1 : 0;
  }

  rename(from: string, to: string): void {
    const v = this.#get(from);
    if (!v) throw new ReplyError('ERR no such key');
    this.#data.delete(from);
    this.#data.set(to, v);
  }

  // strings

  get(key: string): string | null {
    return this.#typed(key, 'string')?.v ?? null;
  }

  /** SET with NX and PX; false when NX found a value. */
  set(key: string, value: string, nx: boolean, px: number | undefined): boolean {
    if (nx && this.#get(key) !== undefined) return false;
    this.#data.set(key, { type: 'string', v: value, expiresAt: px === undefined ? undefined : this.now() + px });
    return true;
  }

  /** ms left before the key expires: -1 without expiry, -2 without key. */
  pttl(key: string): number {
    const v = this.#get(key);
    if (!v) return -2;
    return v.type === 'string' && v.expiresAt !== undefined ? v.expiresAt - this.now() : -1;
  }

  // lists (index 0 is the left end)

  lpush(key: string, values: readonly string[]): number {
    const list = this.#list(key, true) as string[];
    for (const v of values) list.unshift(v);
    return list.length;
  }

  rpush(key: string, values: readonly string[]): number {
    const list = this.#list(key, true) as string[];
    list.push(...values);
    return list.length;
  }

  llen(key: string): number {
    return this.#list(key, false)?.length ?? 0;
  }

  /** Redis' index rules: negative from the end, clamped. */
  #range(length: number, start: number, stop: number): [number, number] {
    const from = Math.max(0, start < 0 ? length + start : start);
    const to = Math.min(length - 1, stop < 0 ? length + stop : stop);
    return [from, to];
  }

  lrange(key: string, start: number, stop: number): string[] {
    const list = this.#list(key, false) ?? [];
    const [from, to] = this.#range(list.length, start, stop);
    return from > to ? [] : list.slice(from, to + 1);
  }

  lindex(key: string, index: number): string | null {
    const list = this.#list(key, false) ?? [];
    return list[index < 0 ? list.length + index : index] ?? null;
  }

  ltrim(key: string, start: number, stop: number): void {
    const list = this.#list(key, false);
    if (!list) return;
    const [from, to] = this.#range(list.length, start, stop);
    const kept = from > to ? [] : list.slice(from, to + 1);
    list.splice(0, list.length, ...kept);
    this.#tidy(key);
  }

  /** LREM: count > 0 from the left, < 0 from the right, 0 all. */
  lrem(key: string, count: number, value: string): number {
    const list = this.#list(key, false);
    if (!list) return 0;
    let removed = 0;
    const limit = count === 0 ? Number.POSITIVE_INFINITY : Math.abs(count);
    if (count >= 0) {
      for (let i = 0; i < list.length && removed < limit; )
        if (list[i] === value) {
          list.splice(i, 1);
          removed++;
        } else i++;
    } else {
      for (let i = list.length - 1; i >= 0 && removed < limit; i--)
        if (list[i] === value) {
          list.splice(i, 1);
          removed++;
        }
    }
    this.#tidy(key);
    return removed;
  }

  pop(key: string, side: 'LEFT' | 'RIGHT'): string | null {
    const list = this.#list(key, false);
    if (!list || list.length === 0) return null;
    const v = (side === 'LEFT' ? list.shift() : list.pop()) as string;
    this.#tidy(key);
    return v;
  }

  /** LMOVE: both keys' types are checked before anything moves. */
  lmove(from: string, to: string, fromSide: 'LEFT' | 'RIGHT', toSide: 'LEFT' | 'RIGHT'): string | null {
    this.#list(to, false);
    const v = this.pop(from, fromSide);
    if (v === null) return null;
    if (toSide === 'LEFT') this.lpush(to, [v]);
    else this.rpush(to, [v]);
    return v;
  }

  // hashes

  hset(key: string, pairs: readonly [string, string][]): number {
    const hash = this.#hash(key, true) as Map<string, string>;
    let added = 0;
    for (const [f, v] of pairs) {
      if (!hash.has(f)) added++;
      hash.set(f, v);
    }
    return added;
  }

  hget(key: string, field: string): string | null {
    return this.#hash(key, false)?.get(field) ?? null;
  }

  hdel(key: string, fields: readonly string[]): number {
    const hash = this.#hash(key, false);
    if (!hash) return 0;
    let n = 0;
    for (const f of fields) if (hash.delete(f)) n++;
    this.#tidy(key);
    return n;
  }

  hgetall(key: string): [string, string][] {
    return [...(this.#hash(key, false) ?? new Map<string, string>())];
  }

  // sorted sets

  zadd(key: string, pairs: readonly [number, string][], mode: 'NX' | 'XX' | undefined): number {
    if (mode === 'XX' && !this.#zset(key, false)) return 0;
    const zset = this.#zset(key, true) as Map<string, number>;
    let added = 0;
    for (const [score, member] of pairs) {
      const had = zset.has(member);
      if ((mode === 'NX' && had) || (mode === 'XX' && !had)) continue;
      if (!had) added++;
      zset.set(member, score);
    }
    this.#tidy(key);
    return added;
  }

  zscore(key: string, member: string): number | undefined {
    return this.#zset(key, false)?.get(member);
  }

  zrem(key: string, members: readonly string[]): number {
    const zset = this.#zset(key, false);
    if (!zset) return 0;
    let n = 0;
    for (const m of members) if (zset.delete(m)) n++;
    this.#tidy(key);
    return n;
  }

  zcard(key: string): number {
    return this.#zset(key, false)?.size ?? 0;
  }

  /** Members in score order (ties by member bytes), as [member, score]. */
  sorted(key: string): [string, number][] {
    const all = [...(this.#zset(key, false) ?? new Map<string, number>())];
    return all.sort(([ma, a], [mb, b]) => a - b || (ma < mb ? -1 : ma > mb ? 1 : 0));
  }

  /** ZRANGEBYSCORE key min max LIMIT offset count (`maxExclusive` for '(max'). */
  zrangeByScore(key: string, min: number, max: number, maxExclusive: boolean, offset = 0, count = -1): [string, number][] {
    const hits = this.sorted(key).filter(([, s]) => s >= min && (maxExclusive ? s < max : s <= max));
    return hits.slice(offset, count < 0 ? undefined : offset + count);
  }

  zrange(key: string, start: number, stop: number): [string, number][] {
    const all = this.sorted(key);
    const [from, to] = this.#range(all.length, start, stop);
    return from > to ? [] : all.slice(from, to + 1);
  }

  /** Moves every score of a sorted set by `ms` (the clock's lease shift). */
  shiftScores(key: string, ms: number): void {
    const zset = this.#zset(key, false);
    if (zset) for (const [m, s] of zset) zset.set(m, s + ms);
  }
}
