// Figures for issue 12 (README "Running later", "Retries", "Schedules"), on a private redis-server:
//   1. lateness of tasks scheduled >= 1 s ahead and with shorter notice (start in the worker − due time, both
//      on this machine's clock, which is Redis' clock here), one InlineWorker, default sweep interval;
//   2. 10,000 tasks that throw twice then succeed: runs per task, lost, the gaps between runs against the
//      backoff's bounds (fixed 300 ms here: 'equal' jitter would be [d/2, d]);
//   3. four worker processes firing a 1 s schedule for 60 s: occurrences = ticks, duplicates, missed; and the same
//      with a kill -9 of one of them every 5 s (restarted at once).
// Also commands per task for a task that runs later (INFO commandstats). `TIME_QUICK=1` shortens 3 to 15 s;
// `TIME_ONLY=cost` stops after the cost, `TIME_ONLY=lateness` after 1.
//   node --import tsx bench/time.ts
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { defineTask, InlineWorker, Queue, taskContext } from '../src/index.ts';
import { startRedis } from '../scripts/redis-server.mjs';

const server = await startRedis([], undefined, { killOnExit: true });
const admin = new Redis(server.url);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- 0. cost per task of a task for later: commands (INFO commandstats) and bytes (MEMORY USAGE) ----
{
  const { promote } = await import('../src/store-time.ts');
  const calls = async () =>
    [...(await admin.info('commandstats')).matchAll(/^cmdstat_(?!config|info)[^:]+:calls=(\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
  const queue = new Queue({ name: 'cost', redis: server.url });
  await queue.enqueue('stamp', [], { delayMs: 1 }); // connect, load the script
  await admin.del(queue.keys.scheduled, queue.keys.waiting);
  const n = 1000;
  await admin.config('RESETSTAT');
  for (let i = 0; i < n; i++) await queue.enqueue('stamp', [], { delayMs: 1 });
  const enqueueCalls = (await calls()) / n;
  await sleep(10);
  await admin.config('RESETSTAT');
  const moved = await promote(queue.redis, queue.keys, 1000);
  const promoteCalls = await calls();
  await admin.config('RESETSTAT');
  await promote(queue.redis, queue.keys, 1000);
  const idleCalls = await calls();
  // A whole timekeeper round on an idle queue with one schedule not yet due (what every worker does each second).
  const { Timekeeper } = await import('../src/timekeeper.ts');
  await queue.schedule('idle-cost', { everyMs: 3_600_000, task: 'stamp', args: [] });
  const keeper = new Timekeeper({ queue, redis: queue.redis });
  await keeper.round();
  await admin.config('RESETSTAT');
  const rounds = 10;
  for (let i = 0; i < rounds; i++) await keeper.round();
  const roundCalls = (await calls()) / rounds;
  await queue.unschedule('idle-cost');
  await admin.del(queue.keys.waiting);
  const m = 100_000;
  for (let i = 0; i < m; i += 1000)
    await queue.enqueueMany(Array.from({ length: 1000 }, () => ({ name: 'stamp', args: [], delayMs: 3_600_000 })));
  const bytes = Number(await admin.call('MEMORY', 'USAGE', queue.keys.scheduled, 'SAMPLES', '0'));
  await admin.del(queue.keys.scheduled);
  await queue.close();
  console.log(
    `cost: enqueue for later ${enqueueCalls.toFixed(2)} commands a task; one promotion of ${moved.moved}: ${promoteCalls} commands (${(promoteCalls / moved.moved).toFixed(3)} a task); a promotion with nothing due: ${idleCalls}; an idle timekeeper round (a schedule not due): ${roundCalls}; ${(bytes / m).toFixed(0)} B per scheduled task (${m.toLocaleString('en')} scheduled)`,
  );
  if (process.env.TIME_ONLY === 'cost') {
    await admin.quit();
    await server.stop();
    process.exit(0);
  }
}

// ---- 1. lateness ----
const starts = new Map<string, number>();
const stamp = defineTask('stamp', () => undefined);
{
  const queue = new Queue({ name: 'lateness', redis: server.url });
  const worker = new InlineWorker({ queue, tasks: [stamp], concurrency: 16, handleSignals: false });
  worker.on('start', (t) => starts.set(t.id, Date.now()));
  const running = worker.run();
  await new Promise<void>((r) => worker.once('ready', () => r()));
  const due = new Map<string, number>();
  const kinds = new Map<string, 'ahead' | 'short'>();
  await admin.config('RESETSTAT');
  for (let i = 0; i < 400; i++) {
    const short = i % 2 === 1;
    const delayMs = short ? 50 + Math.floor(Math.random() * 900) : 1000 + Math.floor(Math.random() * 2000);
    const id = await stamp.with({ delayMs }).delay(queue);
    const score = await admin.zscore(queue.keys.scheduled, `1|0|0||${id}|stamp|600000|3|[]`);
    if (score !== null) due.set(id, Number(score));
    kinds.set(id, short ? 'short' : 'ahead');
    await sleep(25);
  }
  const stats = await admin.info('commandstats');
  const enqueueCommands = [...stats.matchAll(/calls=(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
  while (starts.size < 400) await sleep(50);
  await worker.close();
  await running;
  await queue.close();
  for (const kind of ['ahead', 'short'] as const) {
    const late = [...due].filter(([id]) => kinds.get(id) === kind).map(([id, d]) => (starts.get(id) as number) - d);
    console.log(
      `lateness, ${kind === 'ahead' ? 'scheduled 1-3 s ahead' : 'scheduled 50-950 ms ahead'} (${late.length} tasks): p50 ${pct(late, 50)} ms, p99 ${pct(late, 99)} ms, max ${Math.max(...late)} ms, min ${Math.min(...late)} ms`,
    );
  }
  console.log(`commands while enqueueing 400 tasks for later (with the worker's loop running, ~10 s): ${enqueueCommands}`);
  if (process.env.TIME_ONLY === 'lateness') {
    await admin.quit();
    await server.stop();
    process.exit(0);
  }
}

// ---- 2. retries ----
{
  const N = 10_000;
  const runs = new Map<string, number[]>();
  const lost: string[] = [];
  const twice = defineTask(
    'twice',
    () => {
      const ctx = taskContext();
      const id = ctx?.id ?? '?';
      const list = runs.get(id) ?? [];
      list.push(Date.now());
      runs.set(id, list);
      if (list.length <= 2) throw new Error(`failure ${list.length}`);
      return list.length;
    },
    { retries: 2, backoff: { type: 'fixed', delayMs: 300 } },
  );
  const queue = new Queue({ name: 'retries', redis: server.url });
  const successes = new Set<string>();
  const failures: string[] = [];
  const worker = new InlineWorker({
    queue,
    tasks: [twice],
    concurrency: 64,
    handleSignals: false,
    successHandler: (t) => void successes.add(t.id),
    errorHandler: (t) => void failures.push(t.id),
  });
  const running = worker.run();
  await new Promise<void>((r) => worker.once('ready', () => r()));
  const started = Date.now();
  const ids: string[] = [];
  for (let i = 0; i < N; i += 1000)
    ids.push(...(await queue.enqueueMany(Array.from({ length: 1000 }, () => ({ name: 'twice', args: [] })))));
  while (successes.size + failures.length < N && Date.now() - started < 300_000) await sleep(100);
  await worker.close();
  await running;
  for (const id of ids) if (!successes.has(id)) lost.push(id);
  const counts = new Map<number, number>();
  const gaps: number[] = [];
  for (const id of ids) {
    const list = runs.get(id) ?? [];
    counts.set(list.length, (counts.get(list.length) ?? 0) + 1);
    for (let i = 1; i < list.length; i++) gaps.push((list[i] as number) - (list[i - 1] as number));
  }
  console.log(
    `retries: ${N} tasks that throw twice then succeed (retries 2, fixed 300 ms): runs per task ${JSON.stringify(Object.fromEntries(counts))}, error handler ${failures.length}, lost ${lost.length}, ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  console.log(
    `retries: gap between a throw and the next run (bound: >= 300 ms): min ${Math.min(...gaps)} ms, p50 ${pct(gaps, 50)} ms, p99 ${pct(gaps, 99)} ms, max ${Math.max(...gaps)} ms, below 300: ${gaps.filter((g) => g < 300).length}`,
  );
  await queue.close();
}

// ---- 3. cron with four processes ----
async function cronRun(seconds: number, killEvery: number | undefined): Promise<string> {
  const name = `cron-${killEvery ? 'kill' : 'calm'}`;
  const ledger = join(mkdtempSync(join(tmpdir(), 'dq-cron-')), 'ledger.txt');
  appendFileSync(ledger, '');
  const fixture = new URL('../test/fixtures/time-worker.ts', import.meta.url).pathname;
  const start = (): { proc: ChildProcess; ready: Promise<void> } => {
    const proc = spawn(process.execPath, ['--import', 'tsx', fixture], {
      env: { ...process.env, QUEUE: name, REDIS_URL: server.url },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const ready = new Promise<void>((resolve) => {
      createInterface({ input: proc.stdout! }).on('line', (line) => line.includes('"ready"') && resolve());
    });
    return { proc, ready };
  };
  const procs = Array.from({ length: 4 }, start);
  await Promise.all(procs.map((p) => p.ready));
  const queue = new Queue({ name, redis: server.url });
  const { nextDueAt } = await queue.schedule('beat', { everyMs: 1000, task: 'stamp', args: [ledger] });
  const first = nextDueAt.getTime();
  let kills = 0;
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    await sleep(killEvery ?? 1000);
    if (killEvery && Date.now() < until) {
      const i = kills++ % procs.length;
      procs[i]?.proc.kill('SIGKILL');
      procs[i] = start();
    }
  }
  await queue.unschedule('beat');
  const last = Date.now() - 2000; // ticks due up to here must have run
  await sleep(3000);
  for (const p of procs) p.proc.kill('SIGTERM');
  await queue.close();
  const ids = readFileSync(ledger, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[0] as string);
  const ticks = new Set(ids.map((id) => Number(id.split(':')[2])));
  let expected = 0;
  let missed = 0;
  for (let t = first; t <= last; t += 1000) {
    expected++;
    if (!ticks.has(t)) missed++;
  }
  return `${seconds} s, 4 processes${killEvery ? `, kill -9 of one every ${killEvery / 1000} s (${kills} kills)` : ''}: ticks ${expected}, occurrences run ${ids.length}, distinct ${ticks.size}, duplicates ${ids.length - ticks.size}, missed ${missed}`;
}
const seconds = process.env.TIME_QUICK ? 15 : 60;
console.log(`cron: ${await cronRun(seconds, undefined)}`);
console.log(`cron: ${await cronRun(seconds, 5000)}`);
await admin.quit();
await server.stop();
