/**
 * The scripts of `limit()` and `semaphore()` (src/flow.ts) on the memory store's keyspace, one function each,
 * following lua/limit.lua, sem-acquire.lua, sem-release.lua and put-back.lua line by line (their headers are the
 * specification). Like the memory store's retry, put-back knows no cancel requests (`queue.cancel` is not
 * modelled here).
 */
import { type Keyspace, ReplyError } from './keyspace.ts';
import { bump, expectList, home, type Reply } from './scripts.ts';

type Script = (ks: Keyspace, keys: readonly string[], argv: readonly string[]) => Reply;

const at = (list: readonly string[], i: number) => list[i - 1] as string;

function expectZset(ks: Keyspace, key: string, name: string): void {
  const kind = ks.type(key);
  if (kind !== 'zset' && kind !== 'none') throw new ReplyError(`WRONGTYPE ${name} is a ${kind}, not a sorted set: nothing was written`);
}

const limit: Script = (ks, keys, argv) => {
  const now = ks.now();
  const [interval, tolerance] = [Number(at(argv, 1)), Number(at(argv, 2))];
  const tat = Math.max(Number(ks.get(at(keys, 1)) ?? '0'), now);
  const line = Number(ks.get(at(keys, 2)) ?? '0');
  if (tat - now <= tolerance) {
    const next = tat + interval;
    ks.set(at(keys, 1), next.toFixed(3), false, Math.max(1, Math.ceil(next - now)));
    return [0, now];
  }
  const turn = Math.max(line, tat);
  ks.set(at(keys, 2), (turn + interval).toFixed(3), false, Math.max(1, Math.ceil(turn + interval - now)));
  return [Math.max(1, Math.ceil(turn - tolerance - now)), now];
};

const semAcquire: Script = (ks, keys, argv) => {
  const now = ks.now();
  const [sem, workers, holds] = [at(keys, 1), at(keys, 2), at(keys, 3)];
  expectZset(ks, sem, 'the semaphore');
  expectZset(ks, holds, 'the holds set');
  const mine = ks.zscore(workers, at(argv, 1));
  if (mine === undefined || mine <= now) return [-1, 0, now];
  const live = new Map<string, boolean>();
  for (const [holder] of ks.zrange(sem, 0, -1)) {
    const worker = /^([^|]*)\|/.exec(holder)?.[1] ?? '';
    if (!live.has(worker)) {
      const deadline = ks.zscore(workers, worker);
      live.set(worker, deadline !== undefined && deadline > now);
    }
    if (!live.get(worker)) ks.zrem(sem, [holder]);
  }
  const holder = `${at(argv, 1)}|${at(argv, 2)}|${at(argv, 3)}`;
  const holders = ks.zcard(sem);
  if (ks.zscore(sem, holder) !== undefined) return [1, holders, now];
  if (holders >= Number(at(argv, 4))) return [0, holders, now];
  ks.zadd(sem, [[now, holder]], undefined);
  ks.zadd(holds, [[now, `${at(argv, 2)}|${at(argv, 3)}|${at(argv, 5)}`]], undefined);
  return [1, holders + 1, now];
};

const semRelease: Script = (ks, keys, argv) => {
  if (at(argv, 2) === 'lost') {
    const deadline = ks.zscore(at(keys, 2), at(argv, 1));
    if (deadline !== undefined && deadline > ks.now()) return -1;
  }
  let removed = 0;
  for (let i = 3; i <= argv.length; i++) {
    const slot = /^([^|]*)\|([^|]*)\|/.exec(at(argv, i));
    if (slot) removed += ks.zrem(at(keys, i), [`${at(argv, 1)}|${slot[1]}|${slot[2]}`]);
    ks.zrem(at(keys, 1), [at(argv, i)]);
  }
  return removed;
};

const putBack: Script = (ks, keys, argv) => {
  const now = ks.now();
  const entry = at(argv, 1);
  if (!/^1\|\d+\|\d+\|[A-Za-z]*\|[^|]*\|/.test(entry)) return [-1, 0, now];
  const kind = ks.type(at(keys, 2));
  if (kind !== 'zset' && kind !== 'none') throw new ReplyError(`WRONGTYPE scheduled is a ${kind}, not a sorted set: nothing was moved`);
  const target = home(entry, 3, 8, argv[5]);
  expectList(ks, at(keys, target), 'waiting', 'nothing was moved');
  if (ks.lrem(at(keys, 1), -1, entry) === 0) return [0, 0, now];
  const back = bump(entry, 0, '');
  const due = now + Number(at(argv, 2));
  if (due <= now) ks.lpush(at(keys, target), [back]);
  else ks.zadd(at(keys, 2), [[due, back]], undefined);
  return [1, due, now];
};

/** The flow scripts the memory store runs, by the name of their file in `lua/`. */
export const FLOW_SCRIPTS: Readonly<Record<string, Script>> = {
  limit,
  'sem-acquire': semAcquire,
  'sem-release': semRelease,
  'put-back': putBack,
};
