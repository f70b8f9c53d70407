// Shared machinery of the scenarios: configuration, opening systems on a fresh database, preloading,
// draining in this process or in forked worker processes, and the correctness check.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildMsg, ParentMsg } from './drain-proc.ts';
import { installSink, makePayload, monoMs } from './record.ts';
import type { PrivateRedis } from './redis.ts';
import type { SystemId } from './systems/index.ts';
import type { Connection, Mode, System, SystemFactory } from './systems/types.ts';
import { median, type Row, type ScenarioResult } from './table.ts';
import { Tally, type Check } from './tally.ts';

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

/** Completion counting (cumulative over a drain's phases) with a stall watchdog. */
export class Progress {
  done = 0;
  failed = 0;
  firstAt = 0;
  lastAt = 0;
  firstError: unknown;
  private target = Infinity;
  private wake: (() => void) | undefined;

  completed(at = monoMs()): void {
    if (this.done === 0) this.firstAt = at;
    this.done++;
    this.lastAt = at;
    if (this.done + this.failed >= this.target) this.wake?.();
  }

  failure(e: unknown, at = monoMs()): void {
    this.failed++;
    this.firstError ??= e;
    this.lastAt = at;
    if (this.done + this.failed >= this.target) this.wake?.();
  }

  /** Totals reported by worker processes, with their earliest and latest completion times. */
  set(done: number, failed: number, firstAt: number, lastAt: number, error: unknown): void {
    this.done = done;
    this.failed = failed;
    this.firstAt = firstAt;
    this.lastAt = lastAt;
    if (failed > 0) this.firstError ??= error;
    if (this.done + this.failed >= this.target) this.wake?.();
  }

  /** Resolves true once `target` tasks in all finished; false when none finished for stallMs, or after capMs. */
  async wait(target: number, stallMs: number, capMs: number): Promise<boolean> {
    this.target = target;
    let seen = -1;
    let since = Date.now();
    const until = Date.now() + capMs;
    while (this.done + this.failed < target) {
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 250);
      });
      const now = this.done + this.failed;
      if (now !== seen) {
        seen = now;
        since = Date.now();
      } else if (Date.now() - since > stallMs) return false;
      if (Date.now() > until) return false;
    }
    return true;
  }
}

export function recordDir(): string {
  return mkdtempSync(join(tmpdir(), 'delayed-bench-records-'));
}

/** Processes (other than this one) whose environment names this record dir: the workers' children. */
export function processesWithDir(dir: string): number[] {
  const needle = `BENCH_RECORD_DIR=${dir}\0`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if ((readFileSync(`/proc/${pid}/environ`, 'latin1') + '\0').includes(needle)) pids.push(pid);
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

/** The command lines of the child processes of a drain (the workers' children; not drain-proc.ts itself). */
export function childCommandLines(dir: string): string[] {
  const lines = new Set<string>();
  for (const pid of processesWithDir(dir)) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (argv.some((a) => a.endsWith('drain-proc.ts'))) continue;
      lines.add(['node', ...argv.slice(1)].join(' '));
    } catch {
      // gone
    }
  }
  return [...lines];
}

/** CPU time (s) used so far by the given processes. */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // gone
    }
  }
  return ticks / 100;
}

/**
 * Waits (max 30 s) until the worker's child processes are idle: together under 10% of a core for 500 ms.
 * Run between the first and the warm batch, so that "warm" does not include children still starting.
 */
export async function settle(dir: string): Promise<void> {
  if (process.platform !== 'linux') return;
  for (let i = 0; i < 60; i++) {
    const pids = processesWithDir(dir);
    const before = cpuSeconds(pids);
    await sleep(500);
    if (cpuSeconds(pids) - before < 0.05) return;
  }
}

/** Waits for the children of a drain to be gone (max 15 s), then kills stragglers by pid. Returns how many. */
export async function reapStrays(dir: string): Promise<number> {
  if (process.platform !== 'linux') return 0;
  for (let i = 0; i < 60; i++) {
    if (processesWithDir(dir).length === 0) return 0;
    await sleep(250);
  }
  const left = processesWithDir(dir);
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  return left.length;
}

export interface DrainOutcome {
  /** tasks / (worker start → last completion), the tasks enqueued before the worker started */
  rate: number;
  /** a second batch enqueued once the first is done, while the worker is warm: tasks / (enqueue start → last completion) */
  warm: number;
  /** then tasks enqueued one at a time, each once the worker's children are idle: median ms from enqueue to handler start */
  pickup: number;
  firstMs: number;
  check: Check;
  problem: string | undefined;
  /** The distinct command lines of the worker's child processes, seen once the first batch was done. */
  children: string[];
}

interface Started {
  stop(): Promise<void>;
}

/**
 * The common shape of every drain: `n` tasks are waiting; start the worker(s) and time until all are done;
 * then, if `warm` > 0, enqueue `warm` more and time those; then, if `pickups` > 0, enqueue that many one at a time,
 * each once the children are idle (for ForkedWorker: with a warm spare), and take the median latency from enqueue
 * to handler start; stop; check the records.
 */
async function drainPhases(
  ctx: Ctx,
  s: System,
  n: number,
  warm: number,
  pickups: number,
  dir: string,
  tally: Tally,
  p: Progress,
  start: () => Promise<Started>,
): Promise<DrainOutcome> {
  const { stallMs, drainCapMs } = ctx.cfg;
  const t0 = monoMs();
  const workers = await start();
  let finished = await p.wait(n, stallMs, drainCapMs);
  const rate = finished && p.lastAt > t0 ? n / ((p.lastAt - t0) / 1000) : NaN;
  const firstMs = p.firstAt ? p.firstAt - t0 : NaN;
  const children = process.platform === 'linux' ? childCommandLines(dir) : [];
  let warmRate = NaN;
  if (finished && warm > 0) {
    await settle(dir);
    const t1 = monoMs();
    await preload(ctx, s, warm, n);
    finished = await p.wait(n + warm, stallMs, drainCapMs);
    if (finished) warmRate = warm / ((p.lastAt - t1) / 1000);
  }
  for (let i = 0; finished && i < pickups; i++) {
    await settle(dir);
    await s.enqueueOne(makePayload(n + warm + i));
    finished = await p.wait(n + warm + i + 1, stallMs, drainCapMs);
  }
  await workers.stop();
  const strays = await reapStrays(dir);
  tally.readDir(dir);
  const check = tally.check();
  const problems: string[] = [];
  if (!finished)
    problems.push(
      `gave up (no progress for ${stallMs / 1000} s, or over ${drainCapMs / 1000} s): ${p.done} done, ${p.failed} failed of ${n + warm + pickups}`,
    );
  if (p.failed > 0) problems.push(`${p.failed} tasks failed, e.g. ${describe(p.firstError)}`);
  if (!check.ok) problems.push(check.summary);
  if (strays > 0) problems.push(`${strays} child processes still alive 15 s after the worker closed (killed)`);
  const pickup = pickups > 0 && finished ? median(tally.latencies) : NaN;
  return { rate, warm: warmRate, pickup, firstMs, check, problem: problems.length ? problems.join('; ') : undefined, children };
}

export function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  if (e && typeof e === 'object') return JSON.stringify(e).slice(0, 300);
  return String(e);
}

/** Drains with one worker in this process (its handlers in this process, or in its children). */
export async function drainHere(
  ctx: Ctx,
  s: System,
  mode: Mode,
  concurrency: number,
  n: number,
  warm = 0,
  pickups = 0,
): Promise<DrainOutcome> {
  const tally = new Tally(n + warm + pickups, n + warm);
  const dir = recordDir();
  process.env.BENCH_RECORD_DIR = dir;
  installSink(tally.sink);
  const p = new Progress();
  try {
    return await drainPhases(ctx, s, n, warm, pickups, dir, tally, p, async () => {
      const worker = await s.startWorker(mode, concurrency, { completed: () => p.completed(), failed: (e) => p.failure(e) });
      return { stop: () => worker.close() };
    });
  } finally {
    installSink(undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

const DRAIN_PROC = fileURLToPath(new URL('./drain-proc.ts', import.meta.url));

/** A forked bench/drain-proc.ts worker process. */
export class WorkerProc {
  readonly child: ChildProcess;
  done = 0;
  failed = 0;
  firstAt = 0;
  lastAt = 0;
  private waiters: Array<{ type: ChildMsg['type']; resolve: () => void }> = [];
  private exited = false;
  error: string | undefined;

  constructor(ctx: Ctx, sys: Sys, mode: Mode, concurrency: number, dir: string, onProgress: () => void, conn: Connection = ctx.conn) {
    this.child = fork(DRAIN_PROC, [sys.id, mode, String(concurrency), JSON.stringify(conn)], {
      env: { ...process.env, BENCH_RECORD_DIR: dir },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (m: ChildMsg) => {
      if (m.type === 'progress') {
        this.done = m.done;
        this.failed = m.failed;
        this.firstAt = m.firstAt;
        this.lastAt = m.lastAt;
        onProgress();
      } else if (m.type === 'error') {
        this.error ??= m.message;
        log(`[drain-proc ${this.child.pid}] ${m.message}`);
      }
      for (const w of this.waiters.filter((w) => w.type === m.type)) w.resolve();
      this.waiters = this.waiters.filter((w) => w.type !== m.type);
    });
    this.child.on('exit', () => {
      this.exited = true;
      for (const w of this.waiters) w.resolve();
      this.waiters = [];
    });
  }

  private until(type: ChildMsg['type'], ms: number): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.waiters.push({ type, resolve });
      setTimeout(resolve, ms);
    });
  }

  ready(): Promise<void> {
    return this.until('ready', 30_000);
  }

  send(m: ParentMsg): void {
    if (!this.exited) this.child.send(m);
  }

  async stop(): Promise<void> {
    const closed = this.until('closed', 30_000);
    this.send({ type: 'stop' });
    await closed;
    if (!this.exited) {
      await Promise.race([new Promise((r) => this.child.once('exit', r)), sleep(2_000)]);
      if (!this.exited) this.child.kill('SIGKILL');
    }
  }
}

/** Drains with `procs` worker processes forked from here (bench/drain-proc.ts), all sharing the queue. */
export async function drainInProcs(
  ctx: Ctx,
  sys: Sys,
  s: System,
  mode: Mode,
  concurrency: number,
  n: number,
  procs: number,
  warm = 0,
  pickups = 0,
  conn: Connection = ctx.conn,
): Promise<DrainOutcome> {
  const tally = new Tally(n + warm + pickups, n + warm);
  const dir = recordDir();
  const p = new Progress();
  const workers: WorkerProc[] = [];
  const onProgress = () => {
    const sum = (f: (w: WorkerProc) => number) => workers.reduce((a, w) => a + f(w), 0);
    const firsts = workers.map((w) => w.firstAt).filter((t) => t > 0);
    p.set(
      sum((w) => w.done),
      sum((w) => w.failed),
      firsts.length ? Math.min(...firsts) : 0,
      Math.max(...workers.map((w) => w.lastAt)),
      workers.find((w) => w.error)?.error ?? 'a task failed (see the log)',
    );
  };
  try {
    for (let i = 0; i < procs; i++) workers.push(new WorkerProc(ctx, sys, mode, concurrency, dir, onProgress, conn));
    await Promise.all(workers.map((w) => w.ready()));
    return await drainPhases(ctx, s, n, warm, pickups, dir, tally, p, async () => {
      for (const w of workers) w.send({ type: 'start' });
      return {
        stop: async () => {
          await Promise.all(workers.map((w) => w.stop()));
        },
      };
    });
  } finally {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
