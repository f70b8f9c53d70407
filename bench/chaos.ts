// npm run bench:chaos — the same kill -9 chaos against delayed-queue (PreforkedWorker), BullMQ (sandboxed
// processor in child processes) and Bee-Queue (jobs in the worker process), one system after the other on a
// private redis-server. Per system: 4 worker processes × concurrency 4 (bench/chaos-proc.mjs, plain Node), the
// same tasks (each sleeps 200-300 ms and notes its start and end in a ledger no fault touches), one kill -9 every
// 500 ms for 30 s — in turn a worker process and a child process running tasks (a worker when the system has no
// children or none is up) — and a supervisor that starts a replacement worker at once. Then the drain, and:
//   lost            tasks that never ran to their end and that the system no longer holds (or still holds at
//                   the drain's deadline, 5 min): with a task counted done when it has an outcome in the ledger,
//                   or its body ended and the system let it go (the kill cut off the worker's notice: 'unseen')
//   failed          tasks the system failed (interrupted too often)
//   duplicates      runs of a task beyond its first (a run cut off by a kill, or two at once)
//   finished twice  tasks whose body ran to its end more than once
//   during chaos    tasks finished while the kills went on
//   restart p50/p99 from the kill that cut a run off to the next start of that task
//   drain           from the last kill to the last task's outcome
//   ready p50/p90   a (replacement) worker process from its spawn to ready (for delayed-queue: its first child
//                   ready; BullMQ and Bee-Queue: connected, their children start with the first job)
// Settings: bench/chaos-settings.mjs (printed). Options: CHAOS_SYSTEMS=delayed,bullmq,beequeue CHAOS_TASKS=3000
// CHAOS_MS=30000 CHAOS_KILL_EVERY_MS=500 CHAOS_SEED=7 CHAOS_ROUNDS=1 (rounds run the systems interleaved).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { percentile, readLedger, type LedgerEvent } from '../test/faults/ledger.ts';
// mulberry32 (the same task lengths and victim picks for every system) and /proc children, as the soak uses them.
import { childrenOf, random } from '../test/faults/soak-lib.ts';
import { ensureBuilt } from './build.ts';
import { CONCURRENCY, QUEUE, SETTINGS } from './chaos-settings.mjs';
import { log, sleep } from './harness.ts';
import { reapStrays } from './procfs.ts';
import { startRedis, type PrivateRedis } from './redis.ts';

type SystemId = 'delayed' | 'bullmq' | 'beequeue';
const NAMES: Record<SystemId, string> = {
  delayed: 'delayed-queue (PreforkedWorker)',
  bullmq: 'BullMQ (sandboxed, child processes)',
  beequeue: 'Bee-Queue (in the worker process)',
};
const HAS_CHILDREN: Record<SystemId, boolean> = { delayed: true, bullmq: true, beequeue: false };
const PROC = fileURLToPath(new URL('./chaos-proc.mjs', import.meta.url));
const WORKERS = 4;
const env = process.env;
const TASKS = Number(env.CHAOS_TASKS ?? 3000);
const CHAOS_MS = Number(env.CHAOS_MS ?? 30_000);
const KILL_EVERY_MS = Number(env.CHAOS_KILL_EVERY_MS ?? 500);
const SEED = Number(env.CHAOS_SEED ?? 7);
const DRAIN_DEADLINE_MS = 300_000;

interface Task {
  readonly ledger: string;
  readonly id: string;
  readonly ms: number;
}

/** How many of the run's tasks the system still holds (waiting, delayed, running): 0 when it is done with them. */
async function pendingCounter(
  system: SystemId,
  redis: PrivateRedis,
): Promise<{ pending: () => Promise<number>; close: () => Promise<void> }> {
  if (system === 'delayed') {
    const { Queue, queueStatus } = await import('delayed-queue');
    const queue = new Queue({ name: QUEUE, redis: redis.url });
    return {
      pending: async () => {
        const s = await queueStatus(queue);
        return s.waiting + s.scheduled + s.inFlight;
      },
      close: () => queue.close(),
    };
  }
  if (system === 'bullmq') {
    const { Queue } = await import('bullmq');
    const queue = new Queue(QUEUE, { connection: { host: redis.host, port: redis.port, maxRetriesPerRequest: null } });
    return {
      pending: async () => {
        const c = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
        return Object.values(c).reduce((a, b) => a + b, 0);
      },
      close: () => queue.close(),
    };
  }
  const { default: BeeQueue } = await import('bee-queue');
  const queue = new BeeQueue(QUEUE, {
    redis: { host: redis.host, port: redis.port },
    isWorker: false,
    getEvents: false,
    sendEvents: false,
  });
  await queue.ready();
  return {
    pending: async () => {
      const h = await queue.checkHealth();
      return h.waiting + h.active + h.delayed;
    },
    close: () => queue.close(),
  };
}

async function enqueue(system: SystemId, redis: PrivateRedis, tasks: Task[]): Promise<void> {
  if (system === 'delayed') {
    const { Queue } = await import('delayed-queue');
    const queue = new Queue({ name: QUEUE, redis: redis.url });
    for (let i = 0; i < tasks.length; i += 1000)
      await queue.enqueueMany(tasks.slice(i, i + 1000).map((t) => ({ name: 'chaos-work', args: [t] })));
    await queue.close();
  } else if (system === 'bullmq') {
    const { Queue } = await import('bullmq');
    const queue = new Queue(QUEUE, { connection: { host: redis.host, port: redis.port, maxRetriesPerRequest: null } });
    for (let i = 0; i < tasks.length; i += 1000)
      await queue.addBulk(tasks.slice(i, i + 1000).map((t) => ({ name: 'chaos-work', data: t, opts: SETTINGS.bullmq.job })));
    await queue.close();
  } else {
    const { default: BeeQueue } = await import('bee-queue');
    const queue = new BeeQueue<Task>(QUEUE, {
      redis: { host: redis.host, port: redis.port },
      isWorker: false,
      getEvents: false,
      sendEvents: false,
    });
    await queue.ready();
    for (let i = 0; i < tasks.length; i += 1000) {
      const errors = await queue.saveAll(tasks.slice(i, i + 1000).map((t) => queue.createJob(t)));
      if (errors.size > 0) throw new Error(`Bee-Queue saveAll: ${errors.size} failed`);
    }
    await queue.close();
  }
}

interface Worker {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly spawnedAt: number;
  exited: boolean;
}

interface Kill {
  readonly t: number;
  readonly kind: 'worker' | 'child';
  readonly pid: number;
}

export interface ChaosFigures {
  system: string;
  load: string;
  kills: string;
  lost: number;
  unseen: number;
  failed: number;
  duplicates: number;
  finishedTwice: number;
  duringChaos: number;
  restartP50: number;
  restartP99: number;
  restarts: number;
  drainS: number;
  readyP50: number;
  readyP90: number;
}

async function runOne(system: SystemId, redis: PrivateRedis): Promise<ChaosFigures> {
  await redis.admin.flushall();
  const ledger = mkdtempSync(join(os.tmpdir(), `delayed-chaos-${system}-`));
  const rand = random(SEED);
  const tasks: Task[] = Array.from({ length: TASKS }, (_, i) => ({ ledger, id: `t${i}`, ms: 200 + Math.floor(rand() * 101) }));
  const loadBefore = os.loadavg()[0] ?? 0;
  const workers: Worker[] = [];
  const start = (): Worker => {
    const proc = spawn(process.execPath, [PROC, system, redis.url, ledger], {
      // BENCH_RECORD_DIR: how bench/procfs.ts finds every process of this run (children inherit it) at the end.
      env: { ...env, BENCH_RECORD_DIR: ledger },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const w: Worker = { proc, pid: proc.pid ?? 0, spawnedAt: Date.now(), exited: false };
    proc.once('exit', () => void (w.exited = true));
    return w;
  };
  try {
    await enqueue(system, redis, tasks);
    for (let i = 0; i < WORKERS; i++) workers.push(start());
    let supervising = true;
    const all: Worker[] = [...workers];
    const supervisor = (async () => {
      while (supervising) {
        for (let i = 0; i < workers.length; i++) {
          if (workers[i]!.exited) {
            workers[i] = start();
            all.push(workers[i]!);
          }
        }
        await sleep(20);
      }
    })();
    // The chaos starts when the first worker is ready, for every system alike.
    const readyDeadline = Date.now() + 60_000;
    while (!readLedger(ledger).some((e) => e.event === 'ready') && Date.now() < readyDeadline) await sleep(20);
    const kills: Kill[] = [];
    const chaosStart = Date.now();
    let missedChildTurns = 0;
    for (let round = 0; Date.now() - chaosStart < CHAOS_MS; round++) {
      const live = workers.filter((w) => !w.exited);
      const children = live.flatMap((w) => childrenOf(w.pid));
      const childTurn = HAS_CHILDREN[system] && round % 2 === 1;
      if (childTurn && children.length === 0) missedChildTurns++;
      const [kind, pool] =
        childTurn && children.length > 0 ? (['child', children] as const) : (['worker', live.map((w) => w.pid)] as const);
      const pid = pool[Math.floor(rand() * pool.length)];
      if (pid !== undefined) {
        try {
          process.kill(pid, 'SIGKILL');
          kills.push({ t: Date.now(), kind, pid });
        } catch {
          // it ended by itself
        }
      }
      await sleep(KILL_EVERY_MS);
    }
    const chaosEnd = Date.now();
    const loadAfterChaos = os.loadavg()[0] ?? 0;
    const doneBy = (events: LedgerEvent[], t: number) =>
      new Set(events.filter((e) => (e.event === 'ok' || e.event === 'fail') && e.t <= t).map((e) => e.id));
    const duringChaos = doneBy(readLedger(ledger), chaosEnd).size;
    log(`${system}: chaos over, ${kills.length} kills, ${duringChaos} tasks done; draining`);
    // Drained: every task has an outcome in the ledger, or the system holds none of them any more (an outcome
    // whose notice a kill cut off is done all the same).
    const counter = await pendingCounter(system, redis);
    let events = readLedger(ledger);
    const drainDeadline = Date.now() + DRAIN_DEADLINE_MS;
    try {
      for (;;) {
        if (doneBy(events, Number.POSITIVE_INFINITY).size >= TASKS || (await counter.pending()) === 0 || Date.now() > drainDeadline) break;
        await sleep(250);
        events = readLedger(ledger);
      }
    } finally {
      await counter.close();
    }
    // A last look for late duplicates (an orphan finishing, a stalled job rerun) before stopping.
    await sleep(2000);
    events = readLedger(ledger);
    supervising = false;
    await supervisor;
    for (const w of workers) if (!w.exited) w.proc.kill('SIGTERM');
    await Promise.race([
      Promise.all(workers.map((w) => new Promise<void>((r) => (w.exited ? r() : w.proc.once('exit', () => r()))))),
      sleep(10_000),
    ]);
    for (const w of workers) if (!w.exited) w.proc.kill('SIGKILL');
    await reapStrays(ledger);

    // The figures, from the ledger alone.
    const byId = new Map<string, LedgerEvent[]>();
    for (const e of events) if (e.id !== '-') (byId.get(e.id) ?? byId.set(e.id, []).get(e.id)!).push(e);
    const killedAt = new Map(kills.map((k) => [k.pid, k.t]));
    let lost = 0;
    let unseen = 0;
    let failed = 0;
    let duplicates = 0;
    let finishedTwice = 0;
    let lastOutcome = chaosEnd;
    const restart: number[] = [];
    for (const t of tasks) {
      const h = byId.get(t.id) ?? [];
      const outcomes = h.filter((e) => e.event === 'ok' || e.event === 'fail');
      const starts = h.filter((e) => e.event === 'start');
      const ends = h.filter((e) => e.event === 'end');
      if (outcomes.length > 0) {
        if (!outcomes.some((e) => e.event === 'ok')) failed++;
        lastOutcome = Math.max(lastOutcome, outcomes[0]!.t);
      } else if (ends.length > 0) {
        // Its body ran to its end and the system let it go, but the kill cut off the worker's notice.
        unseen++;
        lastOutcome = Math.max(lastOutcome, ends[0]!.t);
      } else lost++;
      duplicates += Math.max(0, starts.length - 1);
      if (ends.length > 1) finishedTwice++;
      for (const s of starts) {
        if (ends.some((e) => e.pid === s.pid && e.t >= s.t)) continue;
        const at = [killedAt.get(s.pid), killedAt.get(s.ppid)]
          .filter((x): x is number => x !== undefined && x >= s.t)
          .sort((a, b) => a - b)[0];
        const next = starts.find((e) => e.t > s.t);
        if (at !== undefined && next !== undefined) restart.push(next.t - at);
      }
    }
    const readyAt = new Map<number, number>();
    for (const e of events) if (e.event === 'ready' && !readyAt.has(e.pid)) readyAt.set(e.pid, e.t);
    const toReady = all.filter((w) => readyAt.has(w.pid)).map((w) => readyAt.get(w.pid)! - w.spawnedAt);
    const byKind = (k: Kill['kind']) => kills.filter((x) => x.kind === k).length;
    const figures: ChaosFigures = {
      system: NAMES[system],
      load: `${loadBefore.toFixed(1)} / ${loadAfterChaos.toFixed(1)}`,
      kills: `${byKind('worker')} workers + ${byKind('child')} children${missedChildTurns ? ` (${missedChildTurns} child turns with no child up)` : ''}`,
      lost,
      unseen,
      failed,
      duplicates,
      finishedTwice,
      duringChaos,
      restartP50: percentile(restart, 50),
      restartP99: percentile(restart, 99),
      restarts: restart.length,
      drainS: Math.round((lastOutcome - chaosEnd) / 100) / 10,
      readyP50: percentile(toReady, 50),
      readyP90: percentile(toReady, 90),
    };
    log(`${system}: ${JSON.stringify(figures)}`);
    return figures;
  } finally {
    for (const w of workers) if (!w.exited) w.proc.kill('SIGKILL');
    await reapStrays(ledger);
    rmSync(ledger, { recursive: true, force: true });
  }
}

function table(rows: ChaosFigures[]): string {
  const head = [
    'system',
    'load 1 min (start / end of chaos)',
    'kills',
    'lost',
    'done, notice cut off',
    'failed',
    'duplicate runs',
    'finished twice',
    'done during chaos',
    'restart p50 / p99 ms (n)',
    'drain after faults s',
    'worker ready p50 / p90 ms',
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 3 ? '---' : '---:')).join('|')}|`];
  for (const r of rows)
    lines.push(
      `| ${[r.system, r.load, r.kills, r.lost, r.unseen, r.failed, r.duplicates, r.finishedTwice, r.duringChaos, `${r.restartP50} / ${r.restartP99} (${r.restarts})`, r.drainS, `${r.readyP50} / ${r.readyP90}`].join(' | ')} |`,
    );
  return lines.join('\n');
}

async function main(): Promise<void> {
  const systems = (env.CHAOS_SYSTEMS ?? 'delayed,bullmq,beequeue').split(',') as SystemId[];
  if (systems.includes('delayed')) log(ensureBuilt(log));
  const redis = await startRedis();
  const rows: ChaosFigures[] = [];
  try {
    log(
      `${TASKS} tasks of 200-300 ms, ${WORKERS} workers × ${CONCURRENCY}, a kill -9 every ${KILL_EVERY_MS} ms for ${CHAOS_MS / 1000} s, seed ${SEED}; ${os.cpus().length} CPUs`,
    );
    log(`settings: ${JSON.stringify(SETTINGS)}`);
    const rounds = Number(env.CHAOS_ROUNDS ?? 1);
    for (let round = 0; round < rounds; round++) {
      for (const system of round % 2 ? [...systems].reverse() : systems) rows.push(await runOne(system, redis));
    }
  } finally {
    await redis.stop();
  }
  console.log(`\n${table(rows)}`);
}

await main();
