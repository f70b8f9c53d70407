/**
 * The Lua scripts of `lua/`, one function each, on the memory store's keyspace: the same keys, arguments,
 * checks, writes (in the same order, so an error leaves what Redis would leave) and reply. Each follows its
 * script line by line; the script's header is the specification. The conformance tests
 * (test/store-conformance.test.ts) run one table of cases against Redis and against these.
 * Strings are byte strings (see keyspace.ts); numbers in replies are integers, as Redis makes them.
 */
import { type Keyspace, ReplyError } from './keyspace.ts';

export type Reply = string | number | null | Reply[];
type Script = (ks: Keyspace, keys: readonly string[], argv: readonly string[]) => Reply;

const k = (keys: readonly string[], i: number) => keys[i - 1] as string;
const a = (argv: readonly string[], i: number) => argv[i - 1] as string;
const num = (s: string | undefined) => Number(s);

/** lib.lua expect_list: an error reply when `key` holds something other than a list. */
export function expectList(ks: Keyspace, key: string, name: string, what: string): void {
  const kind = ks.type(key);
  if (kind !== 'list' && kind !== 'none') throw new ReplyError(`WRONGTYPE ${name} is a ${kind}, not a list: ${what}`);
}

/** lib.lua bump: attempt + 1, cut-offs + cut, the reason kept when the run was not cut off. */
export function bump(entry: string, cut: number, reason: string): string {
  const m = /^1\|(\d+)\|(\d+)\|([A-Za-z]*)\|([\s\S]*)$/.exec(entry);
  if (!m) return entry;
  const [, attempt, cutoffs, old, rest] = m as unknown as [string, string, string, string, string];
  return `1|${num(attempt) + 1}|${num(cutoffs) + cut}|${cut === 0 ? old : reason}|${rest}`;
}

/**
 * lib.lua home: the KEYS index (1-based) of the list an entry goes back to: its level's (`;p=<level>`) when
 * `names` lists it (the lists are KEYS[first], KEYS[first + 1], ... in the order of `names`), else `fallback`.
 */
export function home(entry: string, fallback: number, first: number, names: string | undefined): number {
  if (!names) return fallback;
  const level = /^1\|\d+\|\d+\|[A-Za-z]*\|[^|]*\|[^|]*\|\d+\|\d+\|f=[^|]*;p=([A-Za-z0-9_-]+)/.exec(entry)?.[1];
  if (level === undefined) return fallback;
  const i = names
    .split(',')
    .filter((n) => n !== '')
    .indexOf(level);
  return i === -1 ? fallback : first + i;
}

/** How many level names a script's ARGV lists ('high,low' → 2; '' or absent → 0). */
const levelCount = (names: string | undefined) => (names ? names.split(',').filter((n) => n !== '').length : 0);

function liveDeadline(ks: Keyspace, workers: string, id: string): number | undefined {
  return ks.zscore(workers, id);
}

const register: Script = (ks, keys, argv) => {
  const now = ks.now();
  let recorded = '';
  if (keys.length >= 5) {
    ks.set(k(keys, 5), a(argv, 5), true, undefined);
    recorded = ks.get(k(keys, 5)) ?? '';
    if (recorded !== a(argv, 5)) return ['', now, 0, recorded];
  }
  ks.set(k(keys, 2), a(argv, 3), true, undefined);
  const epoch = ks.get(k(keys, 2));
  ks.zadd(k(keys, 1), [[now + num(a(argv, 2)), a(argv, 1)]], 'NX');
  ks.hset(k(keys, 3), [[a(argv, 1), `${now} ${a(argv, 4)}`]]);
  // Pause (KEYS[4]) is not modelled here yet (renew's report of it is not either): never paused.
  return [epoch, now, 0, recorded];
};

const renew: Script = (ks, keys, argv) => {
  const now = ks.now();
  if (ks.get(k(keys, 2)) !== a(argv, 3)) return [-1, now];
  const deadline = liveDeadline(ks, k(keys, 1), a(argv, 1));
  if (deadline === undefined || deadline <= now) return [0, now];
  ks.zadd(k(keys, 1), [[now + num(a(argv, 2)), a(argv, 1)]], 'XX');
  ks.hset(k(keys, 3), [[a(argv, 1), `${now} ${a(argv, 4)}`]]);
  return [1, now];
};

const dequeue: Script = (ks, keys, argv) => {
  const now = ks.now();
  const deadline = liveDeadline(ks, k(keys, 2), a(argv, 1));
  if (deadline === undefined || deadline <= now) return [0];
  let n = num(a(argv, 2));
  let tat = now;
  if (keys.length >= 4) {
    tat = Math.max(num(ks.get(k(keys, 4)) ?? '0'), now);
    const conform = Math.floor((now + num(a(argv, 4)) - tat) / num(a(argv, 3)) + 1e-9) + 1;
    if (conform < 1) return [2, Math.max(1, Math.ceil(tat - num(a(argv, 4)) - now))];
    n = Math.min(n, conform);
  }
  const charge = (moved: number) => {
    if (keys.length < 4 || moved === 0) return;
    const next = tat + moved * num(a(argv, 3));
    ks.set(k(keys, 4), next.toFixed(3), false, Math.max(1, Math.ceil(next - now)));
  };
  if (n === 1) {
    const item = ks.lmove(k(keys, 1), k(keys, 3), 'RIGHT', 'LEFT');
    if (item === null) return [1];
    charge(1);
    return [1, item];
  }
  expectList(ks, k(keys, 3), 'the in-flight list', 'nothing was moved');
  const items = ks.lrange(k(keys, 1), -n, -1);
  if (items.length === 0) return [1];
  ks.ltrim(k(keys, 1), 0, -(items.length + 1));
  ks.lpush(k(keys, 3), items);
  charge(items.length);
  return [1, ...items.reverse()];
};

const rate: Script = (ks, keys, argv) => {
  const now = ks.now();
  const tat = Math.max(num(ks.get(k(keys, 1)) ?? '0'), now);
  const wait = Math.max(0, Math.ceil(tat - num(a(argv, 2)) - now));
  const next = tat + num(a(argv, 1));
  ks.set(k(keys, 1), next.toFixed(3), false, Math.max(1, Math.ceil(next - now)));
  return wait;
};

const dequeueLevels: Script = (ks, keys, argv) => {
  const now = ks.now();
  const deadline = liveDeadline(ks, k(keys, 1), a(argv, 1));
  if (deadline === undefined || deadline <= now) return [0];
  let n = num(a(argv, 2));
  const pattern = a(argv, 3);
  const limited = argv.length >= 5;
  const levels = keys.length - 3 - (limited ? 1 : 0);
  let tat = now;
  if (limited) {
    tat = Math.max(num(ks.get(k(keys, 4 + levels)) ?? '0'), now);
    const conform = Math.floor((now + num(a(argv, 5)) - tat) / num(a(argv, 4)) + 1e-9) + 1;
    if (conform < 1) return [2, Math.max(1, Math.ceil(tat - num(a(argv, 5)) - now))];
    n = Math.min(n, conform);
  }
  let d = pattern !== '' ? num(ks.get(k(keys, 3)) ?? '0') : 0;
  const out: Reply[] = [1];
  const empty = new Set<number>();
  while (out.length - 1 < n && empty.size < levels) {
    const first = pattern !== '' ? pattern.charCodeAt(d % pattern.length) - 47 : 1;
    let item: string | null = null;
    for (const i of [first, ...Array.from({ length: levels }, (_, j) => j + 1).filter((j) => j !== first)]) {
      if (empty.has(i)) continue;
      item = ks.lmove(k(keys, 3 + i), k(keys, 2), 'RIGHT', 'LEFT');
      if (item !== null) break;
      empty.add(i);
    }
    if (item === null) break;
    out.push(item);
    d++;
  }
  if (limited && out.length > 1) {
    const next = tat + (out.length - 1) * num(a(argv, 4));
    ks.set(k(keys, 4 + levels), next.toFixed(3), false, Math.max(1, Math.ceil(next - now)));
  }
  if (pattern !== '') {
    if (empty.size === levels) ks.del(k(keys, 3));
    else if (out.length > 1) ks.set(k(keys, 3), String(d), false, undefined);
  }
  return out;
};

const push: Script = (ks, keys, argv) => {
  let target = 2;
  if (ks.llen(k(keys, 1)) === 0) {
    target = 1;
    for (let i = 2; i <= keys.length; i++)
      if (ks.llen(k(keys, i)) > 0) {
        target = 2;
        break;
      }
  }
  if (a(argv, 2) === 'front') ks.rpush(k(keys, target), [a(argv, 1)]);
  else ks.lpush(k(keys, target), [a(argv, 1)]);
  return target - 1;
};

const requeue: Script = (ks, keys, argv) => {
  const target = home(a(argv, 1), 2, 7, argv[6]);
  expectList(ks, k(keys, target), 'waiting', 'nothing was moved');
  if (ks.lrem(k(keys, 1), -1, a(argv, 1)) === 0) return 0;
  ks.rpush(k(keys, target), [bump(a(argv, 1), num(a(argv, 2)), a(argv, 3))]);
  return 1;
};

const fail: Script = (ks, keys, argv) => {
  expectList(ks, k(keys, 2), 'dead', 'nothing was written');
  if (ks.lrem(k(keys, 1), -1, a(argv, 1)) === 0) return 0;
  ks.lpush(k(keys, 2), [`${ks.now()}|${a(argv, 2)}`]);
  ks.ltrim(k(keys, 2), 0, num(a(argv, 3)) - 1);
  return 1;
};

const sweep: Script = (ks, keys, argv) => {
  const now = ks.now();
  const lock = num(a(argv, 1));
  if (lock > 0 && !ks.set(k(keys, 2), a(argv, 4), true, lock)) return [now, 0];
  const out: Reply[] = [now, 1, 0];
  const every = num(a(argv, 5));
  if (every > 0 && ks.zcard(k(keys, 3)) > 0 && ks.set(k(keys, 4), a(argv, 4), true, every)) {
    const retired = ks.zrange(k(keys, 3), 0, num(a(argv, 3)) - 1).map(([m]) => m);
    out[2] = retired.length;
    out.push(...retired);
  }
  const expired = ks.zrangeByScore(k(keys, 1), Number.NEGATIVE_INFINITY, now, true, num(a(argv, 2)), num(a(argv, 3)));
  out.push(...expired.map(([m]) => m));
  return out;
};

const recover: Script = (ks, keys, argv) => {
  const now = ks.now();
  const mode = a(argv, 3);
  const lost = mode === 'lost';
  const deadline = ks.zscore(k(keys, 1), a(argv, 1));
  if (lost && deadline !== undefined && deadline > now) return [0, ks.llen(k(keys, 2)), 0];
  expectList(ks, k(keys, 3), 'waiting', 'nothing was moved');
  const levels = levelCount(argv[5]);
  for (let i = 11; i < 11 + levels; i++) expectList(ks, k(keys, i), 'a level list', 'nothing was moved');
  const cut = lost ? 1 : 0;
  const items = ks.lrange(k(keys, 2), -num(a(argv, 2)), -1);
  if (items.length > 0) {
    ks.ltrim(k(keys, 2), 0, -(items.length + 1));
    const back = items.map((item) => bump(item, cut, 'lost'));
    // Cancel requests (KEYS[7]) are not modelled here (cancel.lua is not): every entry goes back.
    if (levels === 0) ks.rpush(k(keys, 3), back);
    else for (const item of back) ks.rpush(k(keys, home(item, 3, 11, argv[5])), [item]);
  }
  const left = ks.llen(k(keys, 2));
  let removed = 0;
  if (mode === 'retired') {
    const since = ks.zscore(k(keys, 6), a(argv, 1));
    if (left === 0 && (since === undefined || since + num(a(argv, 4)) < now)) removed = ks.zrem(k(keys, 6), [a(argv, 1)]);
    return [items.length, left, removed];
  }
  if (left === 0 && (!lost || deadline === undefined || deadline + num(a(argv, 4)) < now)) {
    removed = ks.zrem(k(keys, 1), [a(argv, 1)]);
    ks.hdel(k(keys, 4), [a(argv, 1)]);
    if (lost && removed === 1 && num(argv[4] ?? '0') > 0) ks.zadd(k(keys, 6), [[now, a(argv, 1)]], undefined);
    let empty = ks.zcard(k(keys, 1)) === 0 && ks.llen(k(keys, 3)) === 0;
    for (let i = 11; empty && i < 11 + levels; i++) empty = ks.llen(k(keys, i)) === 0;
    if (!lost && empty) {
      ks.del(k(keys, 5));
      if (keys.length >= 9) ks.del(k(keys, 9));
      if (levels > 0) ks.del(k(keys, 10));
    }
  }
  return [items.length, left, removed];
};

const deadRequeue: Script = (ks, keys, argv) => {
  expectList(ks, k(keys, 2), 'waiting', 'the record was kept');
  if (ks.lrem(k(keys, 1), a(argv, 3) === '-1' ? -1 : 1, a(argv, 1)) === 0) return 0;
  ks.lpush(k(keys, 2), [a(argv, 2)]);
  return 1;
};

const deadDelete: Script = (ks, keys, argv) => ks.lrem(k(keys, 1), a(argv, 2) === '-1' ? -1 : 1, a(argv, 1));

const schedule: Script = (ks, keys, argv) => {
  const now = ks.now();
  const due = a(argv, 3) !== '' ? num(a(argv, 3)) : now + num(a(argv, 2));
  if (due <= now) ks.lpush(k(keys, home(a(argv, 1), 2, 3, argv[3])), [a(argv, 1)]);
  else ks.zadd(k(keys, 1), [[due, a(argv, 1)]], undefined);
  return [due, now];
};

const promote: Script = (ks, keys, argv) => {
  const now = ks.now();
  const levels = levelCount(argv[1]);
  const items = ks.zrangeByScore(k(keys, 1), Number.NEGATIVE_INFINITY, now, false, 0, num(a(argv, 1))).map(([m]) => m);
  if (items.length > 0) {
    expectList(ks, k(keys, 2), 'waiting', 'nothing was moved');
    for (let i = 3; i < 3 + levels; i++) expectList(ks, k(keys, i), 'a level list', 'nothing was moved');
    ks.zrem(k(keys, 1), items);
    if (levels === 0) ks.lpush(k(keys, 2), items);
    else {
      let allEmpty = true;
      for (let i = 2; i < 3 + levels; i++) if (ks.llen(k(keys, i)) > 0) allEmpty = false;
      items.forEach((item, i) => {
        ks.lpush(k(keys, i === 0 && allEmpty ? 2 : home(item, 2, 3, argv[1])), [item]);
      });
    }
  }
  const head = ks.zrange(k(keys, 1), 0, 0)[0];
  const first = keys.length >= 3 + levels ? ks.zrange(k(keys, 3 + levels), 0, 0)[0] : undefined;
  return [items.length, head ? head[1] : -1, now, first ? first[1] : -1];
};

const runNow: Script = (ks, keys, argv) => {
  expectList(ks, k(keys, 2), 'waiting', 'the task stays scheduled');
  if (ks.zrem(k(keys, 1), [a(argv, 1)]) === 0) return 0;
  ks.lpush(k(keys, 2), [a(argv, 1)]);
  return 1;
};

const retry: Script = (ks, keys, argv) => {
  const now = ks.now();
  const m = /^1\|(\d+)\|(\d+)\|([A-Za-z]*)\|([^|]*\|[^|]*\|\d+\|\d+\|)([\s\S]*)$/.exec(a(argv, 1));
  if (!m) return [-1, 0, now];
  const [, attempt, cutoffs, reason, head, tail] = m as unknown as [string, string, string, string, string, string];
  const kind = ks.type(k(keys, 2));
  if (kind !== 'zset' && kind !== 'none') throw new ReplyError(`WRONGTYPE scheduled is a ${kind}, not a sorted set: nothing was moved`);
  const target = home(a(argv, 1), 3, 8, argv[5]);
  expectList(ks, k(keys, target), 'waiting', 'nothing was moved');
  if (ks.lrem(k(keys, 1), -1, a(argv, 1)) === 0) return [0, 0, now];
  const f = /^f=(\d+)([\s\S]*)$/.exec(tail);
  const newTail = f ? `f=${num(f[1]) + 1}${f[2]}` : `f=1|${tail}`;
  const entry = `1|${num(attempt) + 1}|${cutoffs}|${reason}|${head}${newTail}`;
  const due = now + num(a(argv, 2));
  if (due <= now) ks.lpush(k(keys, target), [entry]);
  else ks.zadd(k(keys, 2), [[due, entry]], undefined);
  return [1, due, now];
};

const scheduleSet: Script = (ks, keys, argv) => {
  const now = ks.now();
  const due = ks.zscore(k(keys, 2), a(argv, 1));
  if (due !== undefined && ks.hget(k(keys, 1), a(argv, 1)) === a(argv, 2)) return [0, due, now];
  ks.hset(k(keys, 1), [[a(argv, 1), a(argv, 2)]]);
  ks.zadd(k(keys, 2), [[num(a(argv, 3)), a(argv, 1)]], undefined);
  return [1, num(a(argv, 3)), now];
};

const unschedule: Script = (ks, keys, argv) => {
  const removed = ks.hdel(k(keys, 1), [a(argv, 1)]);
  ks.zrem(k(keys, 2), [a(argv, 1)]);
  ks.hdel(k(keys, 3), [a(argv, 1)]);
  return removed;
};

const fire: Script = (ks, keys, argv) => {
  const now = ks.now();
  const due = ks.zscore(k(keys, 2), a(argv, 1));
  if (due === undefined || due !== num(a(argv, 3)) || ks.hget(k(keys, 1), a(argv, 1)) !== a(argv, 2)) return [-1, now];
  if (due > now) return [0, now];
  expectList(ks, k(keys, 3), 'waiting', 'nothing was written');
  let status = 1;
  if (argv.length >= 8) {
    if (a(argv, 5) === '1') {
      const held = ks.hget(k(keys, 4), a(argv, 1));
      const until = held === null ? undefined : / (\d+)$/.exec(held)?.[1];
      if (until !== undefined && num(until) > now) status = 2;
      else ks.hset(k(keys, 4), [[a(argv, 1), `${a(argv, 7)} ${now + num(a(argv, 6))}`]]);
    }
    if (status === 1) for (let i = 8; i <= argv.length; i++) ks.lpush(k(keys, 3), [a(argv, i)]);
  }
  ks.zadd(k(keys, 2), [[num(a(argv, 4)), a(argv, 1)]], undefined);
  return [status, now];
};

const scheduleDone: Script = (ks, keys, argv) => {
  const held = ks.hget(k(keys, 1), a(argv, 1));
  if (held?.startsWith(`${a(argv, 2)} `)) return ks.hdel(k(keys, 1), [a(argv, 1)]);
  return 0;
};

/** The scripts the memory store runs, by the name of their file in `lua/`. */
export const MEMORY_SCRIPTS: Readonly<Record<string, Script>> = {
  register,
  renew,
  dequeue,
  'dequeue-levels': dequeueLevels,
  push,
  rate,
  requeue,
  fail,
  sweep,
  recover,
  'dead-requeue': deadRequeue,
  'dead-delete': deadDelete,
  schedule,
  promote,
  'run-now': runNow,
  retry,
  'schedule-set': scheduleSet,
  unschedule,
  fire,
  'schedule-done': scheduleDone,
};
