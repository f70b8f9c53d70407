// j. What each new kind of delayed-queue task costs in Redis, beside a plain one: commands per task (INFO
// commandstats after CONFIG RESETSTAT, commands inside scripts included) to enqueue one at a time and to process
// at concurrency 1, and bytes per task while it waits (MEMORY USAGE of the list or set that holds it, exact). No
// peer rows: the peers' delayed and retried jobs are other machinery (BullMQ's delayed set, its events stream).
import { defineTask, InlineWorker, Queue, taskContext } from '../src/index.ts';
import { fail, getRow, log, push, type Ctx } from './harness.ts';
import { commandCalls } from './redis.ts';
import { fmt, scenario, type Scenario } from './scenarios.ts';

const noop = defineTask('noop', (i: number) => i);
const flaky = defineTask(
  'flaky',
  (i: number) => {
    if (taskContext()?.attempt === 0) throw new Error('first run fails');
    return i;
  },
  { retries: 1, backoff: { type: 'fixed', delayMs: 1, jitter: 'none' } },
);

interface Kind {
  readonly label: string;
  /** Enqueue task i. */
  enqueue(queue: Queue, i: number): Promise<unknown>;
}

const KINDS: readonly Kind[] = [
  { label: 'plain', enqueue: (q, i) => noop.delay(q, i) },
  { label: 'per-call retries (task.with({ retries: 2 }))', enqueue: (q, i) => noop.with({ retries: 2 }).delay(q, i) },
  { label: 'run later (delayMs: 1)', enqueue: (q, i) => noop.with({ delayMs: 1 }).delay(q, i) },
  { label: 'throws once, retried after 1 ms', enqueue: (q, i) => flaky.delay(q, i) },
];

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

export function kinds(ctx: Ctx): Scenario {
  const n = ctx.cfg.commands;
  const sc = scenario('j', `delayed-queue: commands and bytes per task by kind of task (${fmt(n)} tasks, one at a time)`, [
    { key: 'enqueue', label: 'enqueue cmds/task', better: 'lower', digits: 2, ratio: false },
    { key: 'process', label: 'process cmds/task', better: 'lower', digits: 2, ratio: false },
    { key: 'total', label: 'total cmds/task', better: 'lower', digits: 2, ratio: false },
    { key: 'bytes', label: 'bytes / task while it waits', better: 'lower', digits: 0, ratio: false },
  ]);
  sc.notes.push(
    'Enqueued one at a time, then processed by one InlineWorker at concurrency 1 (closed before the count). Processing includes promotion of due tasks and scheduling a retry; idle polling of the sweep and promotion loops is counted too.',
    'Bytes: MEMORY USAGE (SAMPLES 0) of the waiting list or the scheduled set holding 10,000 tasks of the kind (due in an hour for the later kind), divided by 10,000.',
  );
  const who = { name: 'delayed-queue', peer: false };
  return {
    result: sc,
    rep: async (rep: number) => {
      const admin = ctx.redis.admin;
      for (const kind of KINDS) {
        const row = getRow(sc, who, kind.label, 'kinds');
        await admin.flushall();
        const queue = new Queue({ name: 'bench-kinds', redis: ctx.conn.url });
        try {
          await queue.redis.ping();
          await admin.config('RESETSTAT');
          for (let i = 0; i < n; i++) await kind.enqueue(queue, i);
          const enqueue = sum(await commandCalls(admin)) / n;
          await admin.config('RESETSTAT');
          let done = 0;
          let finished!: () => void;
          const all = new Promise<void>((resolve) => (finished = resolve));
          const worker = new InlineWorker({ queue, tasks: [noop, flaky], concurrency: 1, handleSignals: false });
          worker.on('success', () => {
            if (++done === n) finished();
          });
          worker.on('failure', (_task, failure) => fail(row, rep, `a task failed: ${failure.message}`));
          const running = worker.run();
          const deadline = setTimeout(finished, 120_000);
          await all;
          clearTimeout(deadline);
          await worker.close();
          await running;
          const process = sum(await commandCalls(admin)) / n;
          if (done < n) fail(row, rep, `${done} of ${n} tasks finished in 120 s`);
          push(row, 'enqueue', enqueue);
          push(row, 'process', process);
          push(row, 'total', enqueue + process);
          push(row, 'bytes', await bytesPerTask(ctx, queue, kind));
          log(`[j] ${kind.label} rep ${rep}: ${(enqueue + process).toFixed(2)} cmds/task`);
        } finally {
          await queue.close();
        }
      }
    },
  };
}

/** Bytes per waiting task of this kind: 10,000 of them in the list or set that holds them (later: due in an hour). */
async function bytesPerTask(ctx: Ctx, queue: Queue, kind: Kind): Promise<number> {
  const admin = ctx.redis.admin;
  await admin.flushall();
  const m = 10_000;
  const later = kind.label.startsWith('run later');
  for (let i = 0; i < m; i += 1000) {
    const batch = Array.from({ length: 1000 }, (_, j) => i + j);
    if (later) await Promise.all(batch.map((j) => noop.with({ delayMs: 3_600_000 }).delay(queue, j)));
    else await Promise.all(batch.map((j) => kind.enqueue(queue, j)));
  }
  const key = later ? queue.keys.scheduled : queue.keys.waiting;
  const bytes = Number(await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
  await admin.flushall();
  return bytes / m;
}
