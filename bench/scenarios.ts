// The scenarios of issue 5, a–e (enqueueing, draining, latency; f–h, which look at Redis itself, are in
// redis-scenarios.ts). Each returns a ScenarioResult; every repetition runs every system in turn
// (interleaved), each on a fresh database.
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { drainHere, drainInProcs, WorkerProc } from './drain.ts';
import { fail, getRow, log, preload, push, sleep, withSystem, type Ctx } from './harness.ts';
import { recordDir } from './procfs.ts';
import { makePayload, monoMs } from './record.ts';
import { redisBenchmark } from './redis.ts';
import type { Mode } from './systems/types.ts';
import type { Metric, ScenarioResult } from './table.ts';
import { percentile, Tally } from './tally.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const rate: Metric = { key: 'rate', label: 'tasks/s', better: 'higher', digits: 0, ratio: true };
export const fmt = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : String(x));

export function scenario(id: string, title: string, metrics: Metric[]): ScenarioResult {
  return { id, title, metrics, rows: [], notes: [] };
}

/** A scenario's table, and one repetition of it (every system in turn). The runner interleaves the
 *  repetitions of all scenarios: rep 1 of a–h, then rep 2 of a–h, … */
export interface Scenario {
  result: ScenarioResult;
  rep(rep: number): Promise<void>;
  /** Called once after the last repetition (e.g. to stop servers the scenario started). */
  close?(): Promise<void>;
}

// a. one task at a time ---------------------------------------------------------------------------
export function enqueueOne(ctx: Ctx): Scenario {
  const n = ctx.cfg.single;
  const ceilingN = Math.min(ctx.cfg.ceiling, 20_000);
  const sc = scenario('a', `Enqueue one task at a time, each awaited (${fmt(n)} tasks)`, [
    rate,
    { key: 'ofCeiling', label: '÷ 1-client EVAL ceiling', better: 'higher', digits: 2, ratio: false },
  ]);
  sc.notes.push(
    'Check: afterwards the tasks are drained (untimed, in-process worker, concurrency 64) and counted.',
    `÷ 1-client EVAL ceiling: tasks/s divided by what \`redis-benchmark -c 1 -P 1 -n ${fmt(ceilingN)} eval "return 1" 0\` gets right after each loop (the round-trip ceiling of h, measured at the same moment: on this machine it moves with the load by up to 2×).`,
    "ioredis LPUSH (reference): no queue library, the same ~150-byte entry built per call (JSON.stringify of the payload) and LPUSHed on an ioredis connection set up like delayed-queue's producer (no auto-pipelining, no resend): the floor of what a Node producer on ioredis pays per call.",
  );
  const ceilingNow = async () =>
    (
      await redisBenchmark([
        '-h',
        ctx.conn.host,
        '-p',
        String(ctx.conn.port),
        '-n',
        String(ceilingN),
        '-q',
        '-c',
        '1',
        '-P',
        '1',
        'eval',
        'return 1',
        '0',
      ])
    ).rps;
  const reference = { name: 'ioredis LPUSH (reference)', peer: false };
  return {
    result: sc,
    rep: async (rep: number) => {
      for (const sys of ctx.systems) {
        const row = getRow(sc, sys, sys.api.one, 'one at a time');
        await withSystem(ctx, sys, async (s) => {
          const t0 = monoMs();
          for (let i = 0; i < n; i++) await s.enqueueOne(makePayload(i));
          const r = n / ((monoMs() - t0) / 1000);
          const ceiling = await ceilingNow();
          push(row, 'rate', r);
          push(row, 'ofCeiling', r / ceiling);
          log(`[a] ${sys.name} rep ${rep}: ${fmt(r)} tasks/s, ${(r / ceiling).toFixed(2)} of the EVAL ceiling (${fmt(ceiling)}/s)`);
          const out = await drainHere(ctx, s, 'inline', 64, n);
          if (out.problem) fail(row, rep, `verification drain: ${out.problem}`);
        });
      }
      const row = getRow(sc, reference, 'redis.lpush(), awaited', 'one at a time');
      await ctx.redis.admin.flushall();
      const redis = new Redis({
        host: ctx.conn.host,
        port: ctx.conn.port,
        enableAutoPipelining: false,
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 3,
      });
      try {
        await redis.ping();
        const t0 = monoMs();
        for (let i = 0; i < n; i++)
          await redis.lpush('reference:waiting', `1|0|0||abcdefgh.${i.toString(36)}|noop|60000|3|${JSON.stringify([makePayload(i)])}`);
        const r = n / ((monoMs() - t0) / 1000);
        const ceiling = await ceilingNow();
        push(row, 'rate', r);
        push(row, 'ofCeiling', r / ceiling);
        log(`[a] ${reference.name} rep ${rep}: ${fmt(r)} tasks/s, ${(r / ceiling).toFixed(2)} of the EVAL ceiling (${fmt(ceiling)}/s)`);
      } finally {
        redis.disconnect();
      }
    },
  };
}

// b. bulk -----------------------------------------------------------------------------------------
export function enqueueBulk(ctx: Ctx): Scenario {
  const { bulk: n, bulkBatch } = ctx.cfg;
  const sc = scenario('b', `Bulk enqueue (${fmt(n)} tasks in batches of ${fmt(bulkBatch)})`, [rate]);
  sc.notes.push('Check: the same bulk calls preload every drain of c and d, whose checks count every task.');
  return {
    result: sc,
    rep: async (rep: number) => {
      for (const sys of ctx.systems) {
        const row = getRow(sc, sys, `${sys.api.many}, ${fmt(bulkBatch)} per call`, 'bulk');
        await withSystem(ctx, sys, async (s) => {
          const t0 = monoMs();
          await preload(ctx, s, n);
          const r = n / ((monoMs() - t0) / 1000);
          push(row, 'rate', r);
          log(`[b] ${sys.name} rep ${rep}: ${fmt(r)} tasks/s`);
        });
      }
    },
  };
}

// c, d. draining ----------------------------------------------------------------------------------
interface DrainCase {
  mode: Mode;
  concurrency: number;
  group: string;
  n: number;
  /** A second batch timed once the worker is warm (child-process modes: their start-up dominates the first). */
  warm: number;
  /** Then tasks enqueued one at a time once the children are idle (ForkedWorker: pickup with a warm spare). */
  pickups: number;
}

function drainCases(ctx: Ctx): DrainCase[] {
  const { drainInline, drainInlineC1, drainChildren, drainForked, childConcurrency, forkedConcurrency, pickups } = ctx.cfg;
  const cases: DrainCase[] = [];
  for (const concurrency of [1, 64]) {
    const n = concurrency === 1 ? drainInlineC1 : drainInline;
    cases.push({ mode: 'inline', concurrency, group: `handler in the worker process, concurrency ${concurrency}`, n, warm: 0, pickups: 0 });
  }
  // Kept children at 1, 8 and the high concurrency (the targets of issue 16); BullMQ's worker-thread sandbox joins
  // each group, so "÷ best peer" is against the faster of BullMQ's two sandboxes.
  for (const concurrency of [...new Set([1, 8, childConcurrency])]) {
    const group = `handler in kept child processes (or BullMQ's worker threads), concurrency ${concurrency}`;
    for (const mode of ['sandboxed', 'threads'] as const)
      cases.push({ mode, concurrency, group, n: drainChildren, warm: drainChildren, pickups: 0 });
  }
  for (const concurrency of [1, forkedConcurrency]) {
    const group = `a new child process per task, concurrency ${concurrency} (no peer has this mode)`;
    cases.push({ mode: 'forked', concurrency, group, n: drainForked, warm: drainForked, pickups });
  }
  return cases;
}

export function drain(ctx: Ctx, procs: 1 | 2): Scenario {
  const title =
    procs === 1
      ? 'Drain pre-enqueued no-op tasks with one worker process (forked by the runner)'
      : `Drain pre-enqueued no-op tasks with ${procs} worker processes (forked by the runner, sharing the queue)`;
  const metrics: Metric[] = [
    rate,
    { key: 'warm', label: 'warm tasks/s', better: 'higher', digits: 0, ratio: true },
    { key: 'first', label: 'ms to 1st task', better: 'lower', digits: 0, ratio: false },
    { key: 'pickup', label: 'pickup p50 ms', better: 'lower', digits: 1, ratio: false },
  ];
  const sc = scenario(procs === 1 ? 'c' : 'd', title, metrics);
  sc.notes.push(
    'tasks/s: the tasks are enqueued (bulk) before the worker starts; time from starting the worker(s) to the last completion, so it includes start-up (forking children, connecting).',
    "warm tasks/s (child-process modes): then, once the worker's child processes are idle, the same number again, enqueued while the worker runs; time from the first enqueue call to the last completion.",
    "Child processes run plain Node and plain JavaScript for both systems: delayed-queue's from the built package (dist/) with bench/tasks.mjs, BullMQ's with bench/sandbox-processor.js; the command lines they ran with are listed below.",
    `pickup p50 ms (a new child process per task): then ${ctx.cfg.pickups} tasks enqueued one at a time, each once the worker's children are idle (a warm spare waiting); median ms from enqueue to handler start.`,
    'Check: every handler records its task id; each id must appear exactly once.',
  );
  return {
    result: sc,
    rep: async (rep: number) => {
      for (const c of drainCases(ctx)) {
        for (const sys of ctx.systems) {
          const label = sys.label(c.mode);
          if (!label || c.n <= 0) continue;
          const row = getRow(
            sc,
            sys,
            `${label} (${fmt(c.n)}${c.warm ? ` + ${fmt(c.warm)}` : ''}${c.pickups ? ` + ${fmt(c.pickups)}` : ''} tasks)`,
            c.group,
          );
          await withSystem(ctx, sys, async (s) => {
            await preload(ctx, s, c.n);
            const out =
              // Every system's worker(s) in fresh processes forked the same way (bench/drain-proc.ts).
              await drainInProcs(ctx, sys, s, c.mode, c.concurrency, c.n, procs, c.warm, c.pickups);
            push(row, 'rate', out.rate);
            push(row, 'warm', out.warm);
            push(row, 'first', out.firstMs);
            push(row, 'pickup', out.pickup);
            if (out.problem) fail(row, rep, out.problem);
            for (const line of out.children) {
              // The watchdog shell of each child names its child's pid: one note for all of them.
              const note = `${sys.name}'s children ran: ${line.replaceAll(ROOT, '').replace(/(delayed-queue-watchdog) \d+$/, '$1 <pid>')}`;
              if (!sc.notes.includes(note)) sc.notes.push(note);
            }
            log(
              `[${sc.id}] ${sys.name} ${c.mode} c=${c.concurrency} rep ${rep}: ${fmt(out.rate)} tasks/s, warm ${fmt(out.warm)}${c.pickups ? `, pickup p50 ${out.pickup.toFixed(1)} ms` : ''}`,
            );
          });
        }
      }
    },
  };
}

// e. latency --------------------------------------------------------------------------------------
export function latency(ctx: Ctx): Scenario {
  const { latencySeconds, latencyRate, latencyConcurrency: conc, latencyWarmup } = ctx.cfg;
  const n = Math.round(latencySeconds * latencyRate);
  const ms = (key: string, label: string, ratio: boolean): Metric => ({ key, label, better: 'lower', digits: 2, ratio });
  const sc = scenario('e', `Latency from enqueue to handler start, steady ${latencyRate} tasks/s for ${latencySeconds} s`, [
    ms('p50', 'p50 ms', true),
    ms('p99', 'p99 ms', true),
    ms('max', 'max ms', false),
  ]);
  sc.notes.push(
    `One worker process (forked by the runner, in-process handler, concurrency ${conc}); the producer is the runner.`,
    "The producer stamps the payload with the machine's monotonic clock (process.hrtime, shared by all processes) just before enqueueing; the handler subtracts it first thing.",
    `The first ${latencyWarmup} tasks are warm-up and left out of the percentiles.`,
  );
  return {
    result: sc,
    rep: async (rep: number) => {
      for (const sys of ctx.systems) {
        const label = sys.label('inline');
        if (!label) continue;
        const row = getRow(sc, sys, label, 'latency');
        await withSystem(ctx, sys, async (s) => {
          const dir = recordDir();
          const tally = new Tally(n, latencyWarmup);
          let done = 0;
          const proc = new WorkerProc(ctx, sys, 'inline', conc, dir, () => {
            done = proc.done + proc.failed;
          });
          try {
            await proc.ready();
            proc.send({ type: 'start' });
            await sleep(500); // let the worker reach its idle wait
            const interval = 1000 / latencyRate;
            const t0 = monoMs();
            const pending: Promise<void>[] = [];
            for (let i = 0; i < n; i++) {
              const wait = t0 + i * interval - monoMs();
              if (wait > 1) await sleep(wait - 1);
              while (monoMs() < t0 + i * interval) {
                /* spin the last millisecond */
              }
              pending.push(s.enqueueOne(makePayload(i)));
            }
            await Promise.all(pending);
            const deadline = Date.now() + ctx.cfg.stallMs;
            while (done < n && Date.now() < deadline) await sleep(20);
            await proc.stop();
            tally.readDir(dir);
          } finally {
            if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
            rmSync(dir, { recursive: true, force: true });
          }
          const lat = tally.latencies.sort((a, b) => a - b);
          push(row, 'p50', percentile(lat, 50));
          push(row, 'p99', percentile(lat, 99));
          push(row, 'max', lat[lat.length - 1] ?? NaN);
          const check = tally.check();
          if (!check.ok) fail(row, rep, check.summary);
          if (proc.failed) fail(row, rep, `${proc.failed} tasks failed`);
          log(`[e] ${sys.name} rep ${rep}: p50 ${percentile(lat, 50).toFixed(2)} ms, p99 ${percentile(lat, 99).toFixed(2)} ms`);
        });
      }
    },
  };
}
