// The queue rate limit (`rate: { limit, perMs, burst }`): GCRA on Redis' clock. Four workers in two processes
// start tasks at most limit·T/perMs + burst over any window T (measured from their start times), the limited
// workers wait exactly as long as needed (the whole backlog takes (n − burst)/rate, no more), with priority
// levels too (the dispatches then still follow the weights), bad options are refused. The scripts' behaviour
// on both stores is in test/conformance/rate-cases.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { InvalidOptionError, Queue } from '../src/index.ts';
import { REDIS_URL, inspector, ledgerFile, waitFor, withQueue, workerProcess } from './helpers.ts';
import { busiest } from './windows.ts';
import { rateOption } from '../src/rate.ts';

let redis: Redis;
before(() => {
  redis = inspector();
});
after(async () => {
  await redis.quit();
});

/** The ledger's lines as [task id, start ms], in order of start. */
const stamped = (ledger: string): [string, number][] =>
  (existsSync(ledger) ? readFileSync(ledger, 'utf8') : '')
    .split('\n')
    .filter(Boolean)
    .map((line): [string, number] => [line.split(' ')[0] as string, Number(line.split(' ')[1])])
    .sort((a, b) => a[1] - b[1]);
const starts = (ledger: string) => stamped(ledger).map(([, at]) => at);

/** Checks the rate bound over windows of 100 ms to 2 s; `margin` ms allowed for the stamp coming after the dispatch. */
function checkWindows(times: readonly number[], rate: { limit: number; perMs: number; burst: number }, margin: number): void {
  for (const windowMs of [100, 250, 500, 1000, 2000]) {
    const bound = Math.floor((rate.limit * (windowMs + margin)) / rate.perMs) + rate.burst;
    const seen = busiest(times, windowMs);
    console.log(`# window ${windowMs} ms: at most ${seen} starts (bound ${bound} with the ${margin} ms margin)`);
    assert.ok(seen <= bound, `${seen} starts within ${windowMs} ms, bound ${bound}`);
  }
}

test('four workers in two processes keep to the rate: at most limit·T/perMs + burst starts in any window T; the backlog takes (n − burst)/rate', () =>
  withQueue(
    redis,
    async (q) => {
      const rate = { limit: 20, perMs: 1000, burst: 2 };
      const ledger = ledgerFile();
      const n = 50;
      await q.enqueueMany(Array.from({ length: n }, () => ({ name: 'stamp', args: [ledger] })));
      const env = { KIND: 'inline', CONCURRENCY: '2', RATE: JSON.stringify(rate) };
      const workers = [workerProcess(q, env), workerProcess(q, env)];
      try {
        await waitFor('every task to start', () => starts(ledger).length === n, 30_000);
      } finally {
        for (const w of workers) w.proc.kill('SIGKILL');
      }
      const times = starts(ledger);
      // Starts are stamped in the task, a little after the dispatch the limit spaces: allow 150 ms of that
      // (a loaded machine) on each window.
      const margin = 150;
      checkWindows(times, rate, margin);
      const spanMs = (times.at(-1) as number) - (times[0] as number);
      const ideal = ((n - rate.burst) * rate.perMs) / rate.limit;
      console.log(`# ${n} tasks at ${rate.limit}/s (burst ${rate.burst}): first to last start ${spanMs} ms (ideal ${ideal} ms)`);
      assert.ok(spanMs >= ideal - margin, `never faster than the rate: ${spanMs} ms for ${n} starts`);
      assert.ok(
        spanMs <= ideal + 1500,
        `limited workers wait only as needed: ${spanMs} ms, ideal ${ideal} ms (+1.5 s for a loaded machine)`,
      );
    },
    { rate: { limit: 20, perMs: 1000, burst: 2 } },
  ));

test('rate with three priority levels: the bound holds over every window, and the dispatches follow the weights', () => {
  const rate = { limit: 50, perMs: 1000, burst: 2 };
  const priorities = { high: 6, normal: 3, low: 1 };
  return withQueue(
    redis,
    async (q) => {
      const ledger = ledgerFile();
      const counts: Record<string, number> = { normal: 30, high: 60, low: 10 };
      const levelOf = new Map<string, string>();
      for (const [level, n] of Object.entries(counts)) {
        const ids = await q.enqueueMany(Array.from({ length: n }, () => ({ name: 'stamp', args: [ledger], priority: level })));
        for (const id of ids) levelOf.set(id, level);
      }
      const total = levelOf.size;
      const env = { KIND: 'inline', CONCURRENCY: '2', RATE: JSON.stringify(rate), PRIORITIES: JSON.stringify(priorities) };
      const workers = [workerProcess(q, env), workerProcess(q, env)];
      try {
        await waitFor('every task to start', () => starts(ledger).length === total, 30_000);
      } finally {
        for (const w of workers) w.proc.kill('SIGKILL');
      }
      const lines = stamped(ledger);
      const times = lines.map(([, at]) => at);
      checkWindows(times, rate, 150);
      const spanMs = (times.at(-1) as number) - (times[0] as number);
      const ideal = ((total - rate.burst) * rate.perMs) / rate.limit;
      console.log(
        `# ${total} tasks of 3 levels at ${rate.limit}/s (burst ${rate.burst}): first to last start ${spanMs} ms (ideal ${ideal} ms)`,
      );
      assert.ok(spanMs >= ideal - 150 && spanMs <= ideal + 1500, `${spanMs} ms, ideal ${ideal} ms`);
      // Every level busy for the first 100 dispatches: the first 50 starts hold 30 / 15 / 5 (6:3:1). Starts are
      // stamped by four workers, so neighbours may swap: ±2 at the cut.
      const first = lines.slice(0, 50).map(([id]) => levelOf.get(id));
      const share = (level: string) => first.filter((l) => l === level).length;
      console.log(`# first 50 starts: high ${share('high')}, normal ${share('normal')}, low ${share('low')} (weights 6:3:1 → 30/15/5)`);
      assert.ok(Math.abs(share('high') - 30) <= 2, `high ${share('high')} of the first 50`);
      assert.ok(Math.abs(share('normal') - 15) <= 2, `normal ${share('normal')} of the first 50`);
      assert.ok(Math.abs(share('low') - 5) <= 2, `low ${share('low')} of the first 50`);
    },
    { rate, priorities },
  );
});

test('bad rate options are refused with typed errors', () => {
  const make =
    (rate: unknown, more: object = {}) =>
    () =>
      new Queue({ name: 'r', redis: REDIS_URL, rate: rate as never, ...more });
  const cases: [unknown, RegExp][] = [
    [{ limit: 0, perMs: 1000 }, /Expected `rate.limit` to be an integer from 1 to 1,000,000, got `0`/],
    [{ limit: 10 }, /Expected `rate.perMs` to be an integer/],
    [{ limit: 10, perMs: 1000, burst: 1.5 }, /Expected `rate.burst` to be an integer from 1/],
    ['10/s', /Expected `rate` to be \{ limit, perMs, burst\? \}/],
  ];
  for (const [rate, message] of cases) assert.throws(make(rate), (e: Error) => e instanceof InvalidOptionError && message.test(e.message));
});

test('burst defaults to what 10 ms of the limit allows, at least 1; a given burst is kept', () => {
  const burstOf = (limit: number, perMs: number, burst?: number) =>
    rateOption(burst === undefined ? { limit, perMs } : { limit, perMs, burst }, 1)?.burst;
  assert.equal(burstOf(20, 1000), 1);
  assert.equal(burstOf(100, 1000), 1);
  assert.equal(burstOf(1000, 1000), 10);
  assert.equal(burstOf(10_000, 1000), 100);
  assert.equal(burstOf(5, 1), 50, '5 per ms');
  assert.equal(burstOf(1000, 1000, 1), 1);
  assert.throws(() => rateOption({ limit: 10, perMs: 1000, burst: 0 }, 1), /Expected `rate.burst`/);
});
