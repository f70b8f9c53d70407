// Shared machinery of the scenarios: configuration, the context they run in, result rows, logging, opening
// systems on a fresh database and preloading. Draining is in drain.ts, the /proc readings in procfs.ts.
import { makePayload } from './record.ts';
import type { PrivateRedis } from './redis.ts';
import type { SystemId } from './systems/index.ts';
import type { Connection, Mode, System, SystemFactory } from './systems/types.ts';
import type { Row, ScenarioResult } from './table.ts';

export interface Config {
  quick: boolean;
  repeat: number;
  budgetSeconds: number;
  only: Set<string> | undefined;
  single: number; // a, and each enqueue phase of g
  bulk: number; // b
  bulkBatch: number;
  drainInline: number; // c, d: in-process workers at concurrency 64
  drainInlineC1: number; // c, d: in-process workers at concurrency 1
  childConcurrency: number; // the "high" concurrency of kept-child modes (64; 8 in quick mode)
  forkedConcurrency: number; // the "high" concurrency of the fork-per-task mode (8)
  drainChildren: number; // c, d: one kept child process per slot (prefork / sandboxed)
  drainForked: number; // c, d: one new child process per task
  pickups: number; // c, d: ForkedWorker tasks enqueued one at a time, each with a warm spare waiting
  latencySeconds: number;
  latencyRate: number;
  latencyConcurrency: number;
  latencyWarmup: number;
  memory: number; // f
  commands: number; // g
  ceiling: number; // h
  stallMs: number;
  drainCapMs: number;
}

export function config(env = process.env): Config {
  const quick = env.BENCH_QUICK === '1';
  const num = (name: string, full: number, q: number) => Number(env[name] ?? (quick ? q : full));
  return {
    quick,
    repeat: Math.max(1, num('BENCH_REPEAT', 3, 1)),
    budgetSeconds: num('BENCH_BUDGET_S', 860, 240),
    only: env.BENCH_ONLY ? new Set(env.BENCH_ONLY.split(',').map((s) => s.trim())) : undefined,
    single: num('BENCH_SINGLE', 5_000, 500),
    bulk: num('BENCH_BULK', 50_000, 5_000),
    bulkBatch: 1_000,
    drainInline: num('BENCH_DRAIN', 50_000, 2_000),
    drainInlineC1: num('BENCH_DRAIN_C1', 5_000, 1_000),
    childConcurrency: num('BENCH_CHILD_CONCURRENCY', 64, 8),
    forkedConcurrency: num('BENCH_FORKED_CONCURRENCY', 8, 4),
    drainChildren: num('BENCH_DRAIN_CHILDREN', 1_000, 200),
    drainForked: num('BENCH_DRAIN_FORKED', 5, 4),
    pickups: num('BENCH_PICKUPS', 9, 5),
    latencySeconds: num('BENCH_LATENCY_SECONDS', 10, 2),
    latencyRate: 200,
    latencyConcurrency: num('BENCH_LATENCY_CONCURRENCY', 1, 1),
    latencyWarmup: 100,
    memory: num('BENCH_MEMORY', 100_000, 10_000),
    commands: num('BENCH_COMMANDS', 5_000, 500),
    ceiling: num('BENCH_CEILING', 100_000, 20_000),
    stallMs: num('BENCH_STALL_MS', 30_000, 15_000),
    drainCapMs: num('BENCH_DRAIN_CAP_MS', 90_000, 30_000),
  };
}

export interface Sys {
  id: SystemId;
  name: string;
  peer: boolean;
  api: { one: string; many: string };
  open: SystemFactory;
  label(mode: Mode): string | undefined;
}

export interface Ctx {
  redis: PrivateRedis;
  conn: Connection;
  cfg: Config;
  systems: Sys[];
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function log(msg: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${msg}\n`);
}

export function getRow(sc: ScenarioResult, sys: { name: string; peer: boolean }, variant: string, group: string): Row {
  let row = sc.rows.find((r) => r.system === sys.name && r.variant === variant && r.group === group);
  if (!row) {
    row = { system: sys.name, peer: sys.peer, variant, group, values: {}, fails: [], notes: [] };
    sc.rows.push(row);
  }
  return row;
}

export function push(row: Row, key: string, value: number): void {
  (row.values[key] ??= []).push(value);
}

export function fail(row: Row, rep: number, what: string): void {
  row.fails.push(`rep ${rep}: ${what}`);
  log(`!!! FAIL ${row.system} / ${row.variant} [${row.group}] rep ${rep}: ${what}`);
}

/** FLUSHALL, open the system, run fn, close it. */
export async function withSystem<T>(ctx: Ctx, sys: Sys, fn: (s: System) => Promise<T>): Promise<T> {
  await ctx.redis.admin.flushall();
  const s = await sys.open(ctx.conn);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

export async function preload(ctx: Ctx, s: System, n: number, from = 0): Promise<void> {
  for (let i = from; i < from + n; i += ctx.cfg.bulkBatch) {
    const batch = [];
    for (let j = i; j < Math.min(from + n, i + ctx.cfg.bulkBatch); j++) batch.push(makePayload(j));
    await s.enqueueMany(batch);
  }
}

export function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  if (e && typeof e === 'object') return JSON.stringify(e).slice(0, 300);
  return String(e);
}
