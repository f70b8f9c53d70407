// Draining: a drain's phases (first batch, warm batch, pickups) with completion counting and a stall watchdog,
// run with one worker in this process or with worker processes forked from here (bench/drain-proc.ts), and
// the correctness check of the records.
import { fork, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ChildMsg, ParentMsg } from './drain-proc.ts';
import { describe, log, preload, sleep, type Ctx, type Sys } from './harness.ts';
import { childCommandLines, reapStrays, recordDir, settle } from './procfs.ts';
import { installSink, makePayload, monoMs } from './record.ts';
import type { Connection, Mode, System } from './systems/types.ts';
import { median } from './table.ts';
import { Tally, type Check } from './tally.ts';

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
