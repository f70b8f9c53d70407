/**
 * One child process as its parent sees it: it leads its own process group, loads the task modules once and runs
 * one task at a time; the parent enforces the run's timeout (SIGTERM to the whole group, SIGKILL after the grace
 * period, so busy loops and grandchildren die too) and settles each run exactly once, from the child's answer or
 * from its exit. `ChildPool` (child-pool.ts) keeps a set of these.
 */
import { fork, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModuleLoadError, TaskError } from './errors.ts';
import type { RunOutcome } from './executor.ts';
import type { FlowHandler, FlowRequest } from './flow-types.ts';
import { type ChildMessage, LIFELINE_FD, type ParentMessage, RECEIPT_FD, runMessage } from './child-protocol.ts';
import { MAX_TIMER_MS } from './options.ts';
import type { TaskEntry } from './payload.ts';
import { moduleUrl, type TaskModule } from './task.ts';
import { afterArrivedIo } from './time.ts';

export interface PoolOptions {
  readonly modules: readonly TaskModule[];
  /** Children kept ready (busy ones not counted in fresh-per-task mode). */
  readonly size: number;
  readonly tasksPerChild: number;
  readonly maxRssBytes: number;
  readonly killGraceMs: number;
  readonly execArgv: readonly string[];
}

const CHILD_SCRIPT = fileURLToPath(new URL(`./child${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

interface Run {
  readonly taskId: string;
  readonly resolve: (outcome: RunOutcome) => void;
  timer: NodeJS.Timeout | undefined;
  ending: 'timeout' | 'killed' | 'cancelled' | undefined;
}

export class Child {
  readonly proc: ChildProcess;
  readonly ready: Promise<void>;
  tasks = 0;
  rss = 0;
  exited = false;
  /** True when the child was killed by a signal before it was ready. */
  killedWhileLoading = false;
  /** The run in progress; it stays here until its outcome is settled (an answer, or the child's exit). */
  run: Run | undefined;
  /** A run was ended: the child is on its way out and is never given another task. */
  stopping = false;
  onExit: (child: Child) => void = () => undefined;
  onProgress: (taskId: string, value: unknown) => void = () => undefined;
  /** Answers the running task's `limit()` / `semaphore()` calls; the answer goes back only to the run that asked. */
  onFlow: FlowHandler = () => Promise.resolve({ ok: false, error: 'no worker answers' });
  /** SIGKILL armed once a run is being ended; it stays armed until the child exited, whatever the child says. */
  #killTimer: NodeJS.Timeout | undefined;
  readonly #killGraceMs: number;
  /**
   * The receipts file (RECEIPT_FD in the child; unlinked, so nothing is left behind) and the runs sent since it
   * was last emptied: when the child dies, fewer bytes than runs sent means the last run never reached it.
   * Undefined when no such file could be made: every run then counts as reached, as before receipts.
   */
  readonly #receipts: number | undefined;
  #sent = 0;

  constructor(options: PoolOptions) {
    this.#killGraceMs = options.killGraceMs;
    // fd 3 is the IPC channel; fd LIFELINE_FD a pipe that only this process holds the other end of: the
    // child's watchdog kills its group when it closes (this process died). Nothing is ever written to it.
    const stdio: StdioOptions = ['ignore', 'inherit', 'inherit', 'ipc'];
    stdio[LIFELINE_FD] = 'pipe';
    this.#receipts = openReceipts();
    stdio[RECEIPT_FD] = this.#receipts ?? 'ignore';
    this.proc = fork(CHILD_SCRIPT, [], { detached: true, execArgv: [...options.execArgv], stdio, serialization: 'json' });
    // Never written to; its end comes with the child's exit (no error can matter, none may crash the worker).
    this.proc.stdio[LIFELINE_FD]?.on('error', () => undefined);
    this.ready = new Promise<void>((resolve, reject) => {
      const modules = options.modules.map(String).join(', ');
      let loaded = false;
      const onMessage = (message: ChildMessage) => {
        if (message.t === 'ready') {
          loaded = true;
          resolve();
        } else if (message.t === 'init-error') reject(new ModuleLoadError(message.module, message.message));
        else if (message.t === 'progress') {
          if (this.run) this.onProgress(this.run.taskId, message.value);
        } else if (message.t === 'flow') this.#flow(message.seq, message.request);
        else this.#done(message);
      };
      this.proc.on('message', onMessage);
      // A failed spawn or a write to a dead child: the 'exit' that follows (or already came) decides.
      this.proc.on('error', () => undefined);
      // 'exit' can come before the child's last messages were read; 'close' comes after the IPC channel
      // closed, so an answer sent just before exiting is never mistaken for a crash. (A grandchild holding the
      // channel open would delay 'close': the group is killed at 'exit', and a second later it counts anyway.)
      let concluded = false;
      const conclude = (code: number | null, signal: NodeJS.Signals | null) => {
        if (concluded) return;
        concluded = true;
        // Killed by a signal while loading (from outside, or the machine's OOM killer): not the module's fault.
        this.killedWhileLoading = !loaded && signal !== null;
        reject(new ModuleLoadError(modules, `the child process exited while loading (code ${code}, signal ${signal})`));
        this.#exit(code, signal);
        if (this.#receipts !== undefined) closeSync(this.#receipts);
      };
      this.proc.on('exit', (code, signal) => {
        this.exited = true;
        clearTimeout(this.#killTimer);
        this.#killGroup();
        setTimeout(() => conclude(code, signal), 1000).unref();
      });
      this.proc.on('close', (code, signal) => conclude(code, signal));
    });
    this.ready.catch(() => undefined);
    const init: ParentMessage = { t: 'init', modules: options.modules.map(moduleUrl), rss: Number.isFinite(options.maxRssBytes) };
    try {
      this.proc.send(init);
    } catch {
      // The child is already gone; its 'exit' rejects `ready`.
    }
  }

  start(task: TaskEntry): Promise<RunOutcome> {
    return new Promise<RunOutcome>((resolve) => {
      this.tasks++;
      // No run is outstanding now (one at a time): a long-lived child's receipts start over now and then.
      if (this.#receipts !== undefined && this.#sent >= RECEIPTS_KEPT) {
        ftruncateSync(this.#receipts, 0);
        this.#sent = 0;
      }
      this.#sent++;
      const run: Run = { taskId: task.id, resolve, timer: undefined, ending: undefined };
      this.run = run;
      // An answer that came in time while this process was busy is read first (afterArrivedIo): only a run still
      // going then is timed out.
      run.timer = setTimeout(() => afterArrivedIo(() => this.run === run && this.end('timeout')), clampTimer(task.timeoutMs));
      const message = runMessage(task);
      try {
        this.proc.send(message);
      } catch {
        this.kill('SIGKILL');
      }
    });
  }

  /**
   * Ends the current run: SIGTERM to the group now, SIGKILL `graceMs` later (at once with 0). The run settles
   * when the child exits, never before; asked again with a shorter grace, the SIGKILL comes sooner.
   */
  end(why: 'timeout' | 'killed' | 'cancelled', graceMs = this.#killGraceMs): void {
    const run = this.run;
    if (!run) return;
    this.stopping = true;
    if (run.ending === undefined) {
      run.ending = why;
      if (graceMs > 0) this.kill('SIGTERM');
    }
    if (graceMs <= 0) {
      clearTimeout(this.#killTimer);
      this.kill('SIGKILL');
    } else if (this.#killTimer === undefined) {
      this.#killTimer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    }
  }

  kill(signal: NodeJS.Signals): void {
    if (this.exited || this.proc.pid === undefined) return;
    try {
      process.kill(-this.proc.pid, signal);
    } catch {
      try {
        this.proc.kill(signal);
      } catch {
        // already gone
      }
    }
  }

  /** A request of the running task: answered if the same run still goes on (a late answer goes nowhere). */
  #flow(seq: number, request: FlowRequest): void {
    const run = this.run;
    const answer = run ? this.onFlow(run.taskId, request) : Promise.resolve({ ok: false as const, error: 'the run is over' });
    void answer.then((reply) => {
      if (this.run !== run || this.exited || !this.proc.connected) return;
      try {
        this.proc.send({ t: 'flow-reply', seq, answer: reply } satisfies ParentMessage);
      } catch {
        // the child is going away: its exit decides the run
      }
    });
  }

  #done(message: Extract<ChildMessage, { t: 'done' }>): void {
    const run = this.run;
    if (!run) return;
    if (run.ending === 'timeout') {
      // The answer came after the timeout began: the timeout stands. The child is being stopped; its exit
      // (on SIGTERM, or the SIGKILL that stays armed) settles the run.
      return;
    }
    if (run.ending === 'killed' || run.ending === 'cancelled') {
      // Stopped by the worker, yet the task finished: that outcome is true and saves a second run. Anything
      // else waits for the exit ('killed'). The child is not reused: it is being stopped either way.
      if (!message.ok) return;
      this.#settle({ kind: 'success', value: message.value });
      return;
    }
    this.rss = message.rss;
    if (message.ok) this.#settle({ kind: 'success', value: message.value });
    else if (message.unknown) this.#settle({ kind: 'unknown-task' });
    else
      this.#settle({
        kind: 'thrown',
        error: new TaskError(message.error?.name ?? 'Error', message.error?.message ?? '', message.error?.stack),
        ...(message.retry ? { retry: message.retry } : {}),
      });
  }

  /** Grandchildren the task left behind share the group: end them with their parent. */
  #killGroup(): void {
    if (this.proc.pid === undefined) return;
    try {
      process.kill(-this.proc.pid, 'SIGKILL');
    } catch {
      // no one left in the group
    }
  }

  #exit(code: number | null, signal: NodeJS.Signals | null): void {
    const run = this.run;
    if (run) {
      if (run.ending === 'timeout') this.#settle({ kind: 'timeout', ...(signal ? { signal } : {}) });
      else if (run.ending === 'killed') this.#settle({ kind: 'killed', started: this.#reached() });
      else if (run.ending === 'cancelled') this.#settle({ kind: 'cancelled' });
      // Read after the pipes closed ('close'), every receipt the child wrote is counted by now.
      else this.#settle({ kind: 'crashed', exitCode: code, signal, started: this.#reached() });
    }
    this.onExit(this);
  }

  /** True unless the receipts say the last run sent never reached the child (read once it is dead). */
  #reached(): boolean {
    if (this.#receipts === undefined) return true;
    try {
      return fstatSync(this.#receipts).size >= this.#sent;
    } catch {
      return true;
    }
  }

  #settle(outcome: RunOutcome): void {
    const run = this.run;
    if (!run) return;
    this.run = undefined;
    clearTimeout(run.timer);
    run.resolve(outcome);
  }
}

/** Receipts a child's file holds before it is emptied (between two runs): 64 KB at most. */
const RECEIPTS_KEPT = 65_536;
/** Where receipts files are made, and unlinked at once: memory (tmpfs) where there is one. */
const RECEIPTS_DIR = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

/**
 * A file for a child's receipts (src/child-protocol.ts RECEIPT_FD): opened for appending, unlinked at once (it
 * lives as long as an fd refers to it). The child appends a byte per run: no wake-up of this process per task,
 * unlike a pipe. Undefined if it cannot be made.
 */
function openReceipts(): number | undefined {
  const path = join(RECEIPTS_DIR, `delayed-receipts-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    const fd = openSync(path, 'a', 0o600);
    unlinkSync(path);
    return fd;
  } catch {
    return undefined;
  }
}

/** Node's timers fire at once past 2^31 - 1 ms; options are checked against that, this is the last guard. */
function clampTimer(ms: number): number {
  return Math.min(Math.max(0, ms), MAX_TIMER_MS);
}
