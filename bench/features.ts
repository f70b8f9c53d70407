// k. What each opt-in feature of delayed-queue costs per task, beside a plain task (priority levels and a rate
// limit included): Redis commands to enqueue
// and to process (one at a time, one in-process worker at concurrency 1), bytes per waiting task, and what a
// drained queue still holds (a kept result stays for its TTL, by design). Peers are not in this table: it
// answers "what does turning this on cost", the zero-cost-when-unused promise included.
import type * as DelayedQueue from '../src/index.ts';
import { fail, getRow, log, push, sleep, type Ctx } from './harness.ts';
import { makePayload } from './record.ts';
import { SINK } from './record-run.mjs';
import { commandCalls, dataMemory } from './redis.ts';
import { fmt, scenario, type Scenario } from './scenarios.ts';

// A specifier TypeScript does not resolve (types come from src/): the compiled package, as in systems/delayed.ts.
const PACKAGE: string = 'delayed-queue';
const TASKS = new URL('./tasks.mjs', import.meta.url).href;

interface Variant {
  readonly label: string;
  readonly task: string;
  /** Queue options beyond the name and connection (the same for the producer and the worker). */
  readonly options?: Partial<DelayedQueue.QueueOptions>;
  enqueue(queue: DelayedQueue.Queue, i: number): Promise<unknown>;
}

const LEVELS = { priorities: { high: 6, normal: 3, low: 1 } };

const VARIANTS: readonly Variant[] = [
  { label: 'plain task', task: 'noop', enqueue: (q, i) => q.enqueue('noop', [makePayload(i)]) },
  {
    label: 'keepResult (kept 60 s)',
    task: 'noop',
    enqueue: (q, i) => q.enqueue('noop', [makePayload(i)], { keepResult: { ttlMs: 60_000 } }),
  },
  {
    label: "unique key ('until-finish')",
    task: 'noop',
    enqueue: (q, i) => q.enqueueUnique('noop', [makePayload(i)], { unique: { key: `k${i}` } }),
  },
  { label: 'progress reported once', task: 'noopProgress', enqueue: (q, i) => q.enqueue('noopProgress', [makePayload(i)]) },
  { label: 'priorities, default level', task: 'noop', options: LEVELS, enqueue: (q, i) => q.enqueue('noop', [makePayload(i)]) },
  {
    label: "priorities, level 'high'",
    task: 'noop',
    options: LEVELS,
    enqueue: (q, i) => q.enqueue('noop', [makePayload(i)], { priority: 'high' }),
  },
  {
    // A rate the worker never reaches here: what configuring one costs, not its waiting.
    label: 'rate (1,000,000/s, burst 1000)',
    task: 'noop',
    options: { rate: { limit: 1_000_000, perMs: 1000, burst: 1000 } },
    enqueue: (q, i) => q.enqueue('noop', [makePayload(i)]),
  },
];

export function features(ctx: Ctx): Scenario {
  const n = ctx.cfg.commands;
  const sc = scenario('k', `delayed-queue: cost per task of each opt-in feature (${fmt(n)} tasks, one at a time)`, [
    { key: 'enqueue', label: 'enqueue cmds/task', better: 'lower', digits: 2, ratio: false },
    { key: 'process', label: 'process cmds/task', better: 'lower', digits: 2, ratio: false },
    { key: 'bytes', label: 'bytes / waiting task', better: 'lower', digits: 0, ratio: false },
    { key: 'left', label: 'bytes / task after drain', better: 'lower', digits: 0, ratio: false },
  ]);
  sc.notes.push(
    'Commands as in g (INFO commandstats, Lua inside scripts included, idle polling included); bytes as in f. Enqueued one at a time, processed by one InlineWorker at concurrency 1.',
    'A kept result stays until its TTL (the "after drain" bytes); a unique key goes with the finish; progress rides on the lease renewal (no command per call).',
  );
  const me = { name: 'delayed-queue', peer: false };
  return {
    result: sc,
    rep: async (rep: number) => {
      const { InlineWorker, Queue } = (await import(PACKAGE)) as typeof DelayedQueue;
      const sinks = globalThis as unknown as Record<symbol, unknown>;
      const saved = sinks[SINK];
      sinks[SINK] = () => undefined;
      try {
        for (const v of VARIANTS) {
          const row = getRow(sc, me, v.label, 'features');
          const admin = ctx.redis.admin;
          await admin.flushall();
          const queue = new Queue({ name: 'bench', redis: ctx.conn.url, ...v.options });
          try {
            await sleep(100);
            const base = await dataMemory(admin);
            await admin.config('RESETSTAT');
            for (let i = 0; i < n; i++) await v.enqueue(queue, i);
            const enq = await commandCalls(admin);
            const bytes = ((await dataMemory(admin)) - base) / n;
            await admin.config('RESETSTAT');
            let done = 0;
            let failed = '';
            const worker = new InlineWorker({
              queue,
              tasks: [TASKS],
              concurrency: 1,
              handleSignals: false,
              successHandler: () => void done++,
              errorHandler: (_t, f) => void (failed ||= `${f.reason}: ${f.message}`),
            });
            const running = worker.run();
            const until = Date.now() + ctx.cfg.drainCapMs;
            while (done < n && !failed && Date.now() < until) await sleep(5);
            await worker.close();
            await running;
            const proc = await commandCalls(admin);
            if (done < n) fail(row, rep, failed || `${done} of ${n} done in ${ctx.cfg.drainCapMs} ms`);
            await sleep(1_000); // let serverCron shrink the emptied hash tables, as f does
            const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
            push(row, 'enqueue', sum(enq) / n);
            push(row, 'process', sum(proc) / n);
            push(row, 'bytes', bytes);
            push(row, 'left', ((await dataMemory(admin)) - base) / n);
            log(`[k] ${v.label} rep ${rep}: ${(sum(enq) / n).toFixed(2)} + ${(sum(proc) / n).toFixed(2)} cmds/task, ${bytes.toFixed(0)} B`);
          } finally {
            await queue.close();
          }
        }
      } finally {
        sinks[SINK] = saved;
      }
    },
  };
}
