// The scenarios of issue 5 that look at Redis itself: f (memory per waiting task), g (commands per task) and
// h (what one round trip costs on this machine, from redis-benchmark).
import { drainHere } from './drain.ts';
import { fail, getRow, log, preload, push, sleep, withSystem, type Ctx } from './harness.ts';
import { makePayload } from './record.ts';
import { commandCalls, dataMemory, redisBenchmark, someKeys } from './redis.ts';
import { fmt, scenario, type Scenario } from './scenarios.ts';
import { PEER_SETTINGS } from './systems/types.ts';
import type { Metric } from './table.ts';

// f. memory ---------------------------------------------------------------------------------------
export function memory(ctx: Ctx): Scenario {
  const n = ctx.cfg.memory;
  const sc = scenario('f', `Redis memory: ${fmt(n)} waiting tasks, then after draining them`, [
    { key: 'perTask', label: 'bytes / waiting task', better: 'lower', digits: 0, ratio: true },
    { key: 'keys', label: 'keys left after drain', better: 'lower', digits: 0, ratio: false },
    { key: 'left', label: 'bytes left after drain', better: 'lower', digits: 0, ratio: false },
  ]);
  sc.notes.push(
    'Memory is INFO used_memory minus mem_clients_normal (client buffers) and used_memory_scripts (Lua script cache), as a delta from the empty database with the producer connected.',
    "Tasks are enqueued with each system's bulk API and drained by one in-process worker at concurrency 64.",
    PEER_SETTINGS === 'tuned'
      ? 'Peers tuned as their docs advise: BullMQ removes completed jobs (removeOnComplete: true) but keeps its events stream; Bee-Queue removes succeeded jobs (removeOnSuccess: true), events off.'
      : 'Peers run with their defaults: BullMQ keeps completed jobs (removeOnComplete: false) and an events stream; Bee-Queue keeps succeeded jobs (removeOnSuccess: false).',
  );
  return {
    result: sc,
    rep: async (rep: number) => {
      for (const sys of ctx.systems) {
        const row = getRow(sc, sys, sys.peer ? PEER_SETTINGS : 'defaults', 'memory');
        await withSystem(ctx, sys, async (s) => {
          const admin = ctx.redis.admin;
          await sleep(200);
          const base = await dataMemory(admin);
          await preload(ctx, s, n);
          await sleep(200);
          const perTask = ((await dataMemory(admin)) - base) / n;
          const out = await drainHere(ctx, s, 'inline', 64, n);
          if (out.problem) fail(row, rep, out.problem);
          await sleep(1_000); // let serverCron shrink the emptied hash tables
          const keys = await admin.dbsize();
          const left = (await dataMemory(admin)) - base;
          if (rep === 1 && keys > 0) row.notes.push(`left after drain: ${(await someKeys(admin)).join(', ')}${keys > 8 ? ', …' : ''}`);
          push(row, 'perTask', perTask);
          push(row, 'keys', keys);
          push(row, 'left', left);
          log(`[f] ${sys.name} rep ${rep}: ${perTask.toFixed(0)} B/task, ${keys} keys and ${left} B left`);
        });
      }
    },
  };
}

// g. commands per task ----------------------------------------------------------------------------
export interface CommandBreakdown {
  system: string;
  variant: string;
  enqueue: Record<string, number>;
  process: Record<string, number>;
}

export function commands(ctx: Ctx, breakdown: CommandBreakdown[]): Scenario {
  const n = ctx.cfg.commands;
  const per = (key: string, label: string, ratio: boolean): Metric => ({ key, label, better: 'lower', digits: 2, ratio });
  const sc = scenario('g', `Redis commands per task, enqueue + process (${fmt(n)} tasks)`, [
    per('enqueue', 'enqueue cmds/task', false),
    per('process', 'process cmds/task', false),
    per('total', 'total cmds/task', true),
  ]);
  sc.notes.push(
    'Sum of calls over INFO commandstats after CONFIG RESETSTAT, divided by tasks; this includes the commands run inside Lua scripts (and EVALSHA/EVAL themselves), connection set-up and idle polling.',
    'Processing is by one in-process worker; it is closed before the count.',
  );
  const variants = [
    { label: 'one-at-a-time enqueue, worker concurrency 1', bulk: false, concurrency: 1 },
    { label: 'bulk enqueue, worker concurrency 64', bulk: true, concurrency: 64 },
  ];
  const perTask = (m: Map<string, number>) =>
    Object.fromEntries([...m].map(([k, v]) => [k, v / n]).sort((a, b) => (b[1] as number) - (a[1] as number)));
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  return {
    result: sc,
    rep: async (rep: number) => {
      for (const v of variants) {
        for (const sys of ctx.systems) {
          const label = sys.label('inline');
          if (!label) continue;
          const row = getRow(sc, sys, label, v.label);
          const admin = ctx.redis.admin;
          await withSystem(ctx, sys, async (s) => {
            await admin.config('RESETSTAT');
            if (v.bulk) await preload(ctx, s, n);
            else for (let i = 0; i < n; i++) await s.enqueueOne(makePayload(i));
            const enq = await commandCalls(admin);
            await admin.config('RESETSTAT');
            const out = await drainHere(ctx, s, 'inline', v.concurrency, n);
            const proc = await commandCalls(admin);
            if (out.problem) fail(row, rep, out.problem);
            push(row, 'enqueue', sum(enq) / n);
            push(row, 'process', sum(proc) / n);
            push(row, 'total', (sum(enq) + sum(proc)) / n);
            if (rep === 1) breakdown.push({ system: sys.name, variant: v.label, enqueue: perTask(enq), process: perTask(proc) });
            log(`[g] ${sys.name} ${v.label} rep ${rep}: ${((sum(enq) + sum(proc)) / n).toFixed(2)} cmds/task`);
          });
        }
      }
    },
  };
}

// h. ceiling --------------------------------------------------------------------------------------
export function ceiling(ctx: Ctx): Scenario {
  const n = ctx.cfg.ceiling;
  const sc = scenario('h', `Ceiling: redis-benchmark, trivial EVAL "return 1" 0 (${fmt(n)} requests)`, [
    { key: 'rps', label: 'requests/s', better: 'higher', digits: 0, ratio: false },
  ]);
  sc.notes.push(
    'What one Redis round trip costs on this machine; the target for one-at-a-time enqueue is ≥80% of the 1-client unpipelined line.',
  );
  const who = { name: 'redis-benchmark', peer: false };
  return {
    result: sc,
    rep: async (rep: number) => {
      for (const clients of [1, 50]) {
        for (const pipeline of [1, 16]) {
          const row = getRow(
            sc,
            who,
            `${clients} client${clients > 1 ? 's' : ''}, ${pipeline === 1 ? 'unpipelined' : `pipeline ${pipeline}`} (-c ${clients} -P ${pipeline})`,
            'ceiling',
          );
          await ctx.redis.admin.flushall();
          const { rps, output } = await redisBenchmark([
            '-h',
            ctx.conn.host,
            '-p',
            String(ctx.conn.port),
            '-n',
            String(n),
            '-q',
            '-c',
            String(clients),
            '-P',
            String(pipeline),
            'eval',
            'return 1',
            '0',
          ]);
          if (!Number.isFinite(rps)) fail(row, rep, `could not parse redis-benchmark output: ${output}`);
          push(row, 'rps', rps);
          log(`[h] -c ${clients} -P ${pipeline} rep ${rep}: ${fmt(rps)} requests/s`);
        }
      }
    },
  };
}
