// Scenario 25: the queue rate limit under clock skew. Four workers in two processes, one process's clock 30 s
// ahead and the other's 30 s behind (Debian's faketime), share a rate of 20 a second (burst 2). The limit is
// kept on Redis' clock (GCRA in the fetch script, TIME inside it), so the skew must change nothing: over any
// window of length T at most limit·T/perMs + burst tasks start, measured from a ledger that Redis' clock stamps
// (each task appends its start with TIME in one script), and the backlog takes (n − burst)/rate, no more.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { hasRedisServer } from '../../scripts/redis-server.mjs';
import { inspector, waitFor, withQueue, workerProcess } from '../helpers.ts';
import { faketimeProblem } from './faketime.ts';
import { busiest } from '../windows.ts';

const skip = !hasRedisServer() ? 'redis-server is not installed' : faketimeProblem();

let redis: Redis;
before(() => {
  redis = inspector();
});
after(async () => {
  await redis.quit();
});

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

test("25. rate limit with worker clocks 30 s ahead and 30 s behind: the bound holds on Redis' clock", { skip, timeout: 120_000 }, () => {
  const rate = { limit: 20, perMs: 1000, burst: 2 };
  return withQueue(
    redis,
    async (q) => {
      const ledger = `${q.prefix}:{${q.name}}:test-ledger`;
      const n = 60;
      const env = { KIND: 'inline', CONCURRENCY: '2', RATE: JSON.stringify(rate), STAMP_EARLY: '1' };
      const skews = [30_000, -30_000];
      const workers = skews.map((ms) => workerProcess(q, env, true, ['faketime', '-f', `${ms > 0 ? '+' : ''}${ms / 1000}s`]));
      let lines: string[][] = [];
      try {
        // Both processes registered (their task module, and its stamping connection, loaded) before the backlog.
        await waitFor('both workers to register', () => workers.every((w) => w.events.some((e) => e.event === 'registered')), 60_000);
        await q.enqueueMany(Array.from({ length: n }, () => ({ name: 'redisStamp', args: [ledger] })));
        await waitFor('every task to start', async () => (await redis.llen(ledger)) === n, 60_000, 50);
        lines = (await redis.lrange(ledger, 0, -1)).map((l) => l.split(' '));
      } finally {
        for (const w of workers) if (w.proc.pid) process.kill(-w.proc.pid, 'SIGKILL');
      }
      // The skew was in force: each worker process's clock differs from Redis' by its ±30 s.
      const pids = [...new Set(lines.map((l) => l[3] as string))];
      const offsets = pids.map((pid) => median(lines.filter((l) => l[3] === pid).map((l) => Number(l[2]) - Number(l[1]))));
      console.log(`# clock offsets of the worker processes vs Redis: ${offsets.map((o) => `${o} ms`).join(', ')}`);
      assert.equal(pids.length, 2, 'both processes started tasks');
      assert.ok(offsets.some((o) => Math.abs(o - 30_000) < 5000) && offsets.some((o) => Math.abs(o + 30_000) < 5000));
      const times = lines.map((l) => Number(l[1])).sort((a, b) => a - b);
      // A start is stamped a little after the dispatch the limit spaces: allow 150 ms of that (a loaded machine).
      const margin = 150;
      for (const windowMs of [100, 250, 500, 1000, 2000]) {
        const bound = Math.floor((rate.limit * (windowMs + margin)) / rate.perMs) + rate.burst;
        const seen = busiest(times, windowMs);
        console.log(`# window ${windowMs} ms: at most ${seen} starts on Redis' clock (bound ${bound} with the ${margin} ms margin)`);
        assert.ok(seen <= bound, `${seen} starts within ${windowMs} ms, bound ${bound}`);
      }
      const spanMs = (times.at(-1) as number) - (times[0] as number);
      const ideal = ((n - rate.burst) * rate.perMs) / rate.limit;
      console.log(
        `# ${n} tasks at ${rate.limit}/s (burst ${rate.burst}), clocks ±30 s: first to last start ${spanMs} ms (ideal ${ideal} ms)`,
      );
      assert.ok(spanMs >= ideal - margin, `never faster than the rate: ${spanMs} ms`);
      assert.ok(spanMs <= ideal + 1500, `limited workers wait only as needed: ${spanMs} ms, ideal ${ideal} ms (+1.5 s)`);
    },
    { rate },
  );
});
