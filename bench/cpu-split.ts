// Where the CPU of a warm kept-children drain goes: the worker process (this one), its children and redis-server,
// in µs per task, against the wall time per task (on 2 cores, 2× the wall time is all the CPU there is).
// Starts a private redis-server, runs a PreforkedWorker over the built package (dist/) with bench/tasks.mjs, warms it
// until all its children run (1,000 tasks, or 20 a child), then times `tasks` more, bulk-enqueued while it runs (as scenario c's "warm" rate).
//   npx tsx bench/cpu-split.ts [concurrency=8] [tasks=20000]
// CPU from /proc/<pid>/stat (utime + stime, 10 ms ticks) for the children and Redis, process.cpuUsage() here.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureBuilt } from './build.ts';
import { startRedis } from './redis.ts';

const concurrency = Number(process.argv[2] ?? 8);
const tasks = Number(process.argv[3] ?? 20_000);
const dir = mkdtempSync(join(tmpdir(), 'cpu-split-'));
// The children inherit it: bench/record-run.mjs appends each run there, and it is how we find them in /proc.
process.env.BENCH_RECORD_DIR = dir;

/** CPU ms used so far by process `pid` (all its threads), from /proc/<pid>/stat. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The worker's children: processes running dist/child.js with our record dir in their environment. */
function children(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${pid}/environ`, 'latin1');
      if (env.includes(`BENCH_RECORD_DIR=${dir}\0`) && readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('child.js')) pids.push(pid);
    } catch {
      // gone, or not ours
    }
  }
  return pids;
}

console.log(ensureBuilt(() => undefined));
const redis = await startRedis();
const redisPid = Number(/process_id:(\d+)/.exec(await redis.admin.info('server'))?.[1]);
const { Queue, PreforkedWorker } = await import('delayed-queue');
const queue = new Queue({ name: 'bench', redis: redis.url, defaultTimeoutMs: 60_000 });
let done = 0;
let want = 0;
let reached: (() => void) | undefined;
const worker = new PreforkedWorker({
  queue,
  tasks: [new URL('./tasks.mjs', import.meta.url).href],
  concurrency,
  handleSignals: false,
  successHandler: () => {
    if (++done >= want) reached?.();
  },
  errorHandler: (_task, failure) => console.error('task failed:', failure.message),
});
const stopped = worker.run();

/** Enqueues n no-op tasks in batches of 1,000 and waits until the worker finished them. */
async function batch(n: number): Promise<void> {
  want = done + n;
  const finished = new Promise<void>((resolve) => (reached = resolve));
  for (let i = 0; i < n; i += 1000) {
    const size = Math.min(1000, n - i);
    await queue.enqueueMany(
      Array.from({ length: size }, (_, k) => ({
        name: 'noop',
        args: [{ seq: i + k, t: Number(process.hrtime.bigint()) / 1e6, pad: 'x'.repeat(60) }],
      })),
    );
  }
  await finished;
}

try {
  await batch(1000);
  // Children start a few at a time: wait for all of them (else their start-up lands in the measurement), then warm them.
  const deadline = performance.now() + 60_000;
  while (children().length < concurrency && performance.now() < deadline) await sleep(100);
  await batch(Math.max(1000, 20 * concurrency));
  const kids = children();
  const snap = () => ({
    at: performance.now(),
    self: process.cpuUsage(),
    kids: kids.reduce((sum, pid) => sum + cpuMs(pid), 0),
    redis: cpuMs(redisPid),
  });
  const a = snap();
  await batch(tasks);
  const b = snap();
  const perTask = (ms: number) => ((ms * 1000) / tasks).toFixed(0);
  const selfMs = (b.self.user + b.self.system - a.self.user - a.self.system) / 1000;
  const wallMs = b.at - a.at;
  const total = selfMs + (b.kids - a.kids) + (b.redis - a.redis);
  console.log(
    `PreforkedWorker c=${concurrency}, ${tasks} warm no-op tasks: ${Math.round((tasks * 1000) / wallMs)} tasks/s; µs of CPU per task: ` +
      `worker ${perTask(selfMs)}, children ${perTask(b.kids - a.kids)} (${kids.length} processes), redis ${perTask(b.redis - a.redis)}, ` +
      `all ${perTask(total)}; wall ${perTask(wallMs)} µs per task (${Math.round((100 * total) / (2 * wallMs))}% of 2 cores)`,
  );
} finally {
  await worker.close();
  await stopped.catch(() => undefined);
  await queue.close();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
}
