// The queue rate limit (`rate: { limit, perMs, burst }`): GCRA on Redis' clock. Four workers in two processes
// start tasks at most limit·T/perMs + burst over any window T (measured from their start times), the limited
// workers wait exactly as long as needed (the whole backlog takes (n − burst)/rate, no more), bad options are
// refused. The scripts' behaviour on both stores is in test/conformance/rate-cases.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { InvalidOptionError, Queue } from '../src/index.ts';
import { REDIS_URL, inspector, ledgerFile, waitFor, withQueue, workerProcess } from './helpers.ts';

let redis: Redis;
before(() => {
  redis = inspector();
});
after(async () => {
  await redis.quit();
});

const starts = (ledger: string) =>
  (existsSync(ledger) ? readFileSync(ledger, 'utf8') : '')
    .split('\n')
    .filter(Boolean)
    .map((line) => Number(line.split(' ')[1]))
    .sort((a, b) => a - b);

/** The most starts inside any window of `ms` (a window opening at each start). */
function busiest(times: readonly number[], ms: number): number {
  let most = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (j < times.length && (times[j] as number) < (times[i] as number) + ms) j++;
    most = Math.max(most, j - i);
  }
  return most;
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
      for (const windowMs of [100, 250, 500, 1000, 2000]) {
        const bound = Math.floor((rate.limit * (windowMs + margin)) / rate.perMs) + rate.burst;
        const seen = busiest(times, windowMs);
        console.log(`# window ${windowMs} ms: at most ${seen} starts (bound ${bound} with the ${margin} ms margin)`);
        assert.ok(seen <= bound, `${seen} starts within ${windowMs} ms, bound ${bound}`);
      }
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
  assert.throws(
    make({ limit: 10, perMs: 1000 }, { priorities: { high: 2, normal: 1 } }),
    /Expected `rate` or `priorities` \(not both yet\)/,
  );
});
