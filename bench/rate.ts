// npm run bench:rate: the queue rate limit measured. For each limit (10/s, 1,000/s, 10,000/s; burst 1, then
// the largest burst allowed as 1% of the limit) a backlog is taken by two in-process InlineWorkers of one
// queue; each start is stamped when the worker emits 'start'. Prints a table: achieved rate (starts − 1 over
// first to last start) against the limit, and the largest burst observed: the most starts in any window of
// length T beyond limit·T/perMs, over T from one interval to one second (the bound: `burst`, plus what the
// stamping adds). Runs against a private redis-server; run it under `flock /tmp/delayed-heavy.lock`.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type * as DelayedQueue from '../src/index.ts';
import { startRedis } from './redis.ts';
import { busiest } from '../test/windows.ts';

const TASKS = new URL('./tasks.mjs', import.meta.url).href;
// The compiled package, as bench/features.ts and the task module use it (`npm run build` first).
const PACKAGE: string = 'delayed-queue';
const { InlineWorker, Queue } = (await import(PACKAGE)) as typeof DelayedQueue;

interface Case {
  readonly limit: number;
  readonly burst: number;
  readonly seconds: number;
  readonly concurrency: number;
}

const CASES: readonly Case[] = [
  { limit: 10, burst: 1, seconds: 4, concurrency: 4 },
  { limit: 1_000, burst: 1, seconds: 3, concurrency: 50 },
  { limit: 10_000, burst: 1, seconds: 3, concurrency: 200 },
  { limit: 1_000, burst: 10, seconds: 3, concurrency: 50 },
  { limit: 10_000, burst: 100, seconds: 3, concurrency: 200 },
];

async function run(url: string, c: Case): Promise<string[]> {
  const n = Math.max(c.burst + 2, Math.round(c.limit * c.seconds) + c.burst);
  const name = `rate-${c.limit}-${c.burst}`;
  const rate = { limit: c.limit, perMs: 1000, burst: c.burst };
  const queue = new Queue({ name, redis: url, rate });
  for (let i = 0; i < n; i += 1000)
    await queue.enqueueMany(Array.from({ length: Math.min(1000, n - i) }, () => ({ name: 'noop', args: [{}] })));
  const starts: number[] = [];
  const workers = [0, 1].map(
    () =>
      new InlineWorker({
        queue: new Queue({ name, redis: url, rate }),
        tasks: [TASKS],
        concurrency: c.concurrency / 2,
        handleSignals: false,
      }),
  );
  for (const w of workers) w.on('start', () => starts.push(performance.timeOrigin + performance.now()));
  const running = workers.map((w) => w.run());
  const deadline = Date.now() + c.seconds * 4000 + 20_000;
  while (starts.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await Promise.all(workers.map((w) => w.close()));
  await Promise.all(running);
  await queue.close();
  starts.sort((a, b) => a - b);
  const span = (starts.at(-1) as number) - (starts[0] as number);
  const achieved = ((starts.length - 1) * 1000) / span;
  const interval = 1000 / c.limit;
  // The excess over the steady rate in windows of length T: at most `burst` on Redis' clock; the stamps here
  // come from the worker's event loop, which can bunch starts dispatched a few ms apart (short windows show it).
  const excess = (windows: readonly number[]) => {
    let worst = 0;
    let at = 0;
    for (const t of windows) {
      const e = busiest(starts, t) - (c.limit * t) / 1000;
      if (e > worst) [worst, at] = [e, t];
    }
    return `${worst.toFixed(1)} (T = ${at < 1 ? at.toFixed(2) : at.toFixed(0)} ms)`;
  };
  const windows = [interval, 2 * interval, 5 * interval, 10 * interval, 100, 250, 500, 1000];
  return [
    `${c.limit.toLocaleString('en')}/s`,
    String(c.burst),
    `${starts.length.toLocaleString('en')}${starts.length < n ? ` of ${n}` : ''}`,
    `${achieved.toFixed(c.limit < 100 ? 2 : 0)}/s`,
    `${((achieved / c.limit) * 100).toFixed(1)}%`,
    excess(windows),
    excess(windows.filter((t) => t >= 10)),
  ];
}

const redis = await startRedis();
try {
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const rows = [['limit', 'burst', 'tasks', 'achieved', 'of limit', 'largest burst: starts − limit·T', 'same, T ≥ 10 ms']];
  for (const c of CASES) {
    await redis.admin.flushall();
    rows.push(await run(redis.url, c));
    console.error(`done ${c.limit}/s burst ${c.burst}`);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((cell, i) => cell.padStart(widths[i]!)).join('  '));
  console.log(`load before: ${load}; after: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
} finally {
  await redis.stop();
}
