/**
 * Child processes that run tasks for a worker: each child leads its own process group, loads the task modules
 * once, and runs one task at a time. The parent enforces the timeout: SIGTERM to the whole group, SIGKILL
 * after a grace period, so busy loops and grandchildren die too.
 *
 * Two policies on top: a fresh child per task (`tasksPerChild: 1`, ForkedWorker), with warm children started
 * ahead so a task does not wait for a process to boot; or long-lived children (PreforkedWorker), replaced after
 * a crash, a timeout, N tasks or an RSS limit. A child that dies while idle is replaced before it is used.
 */
import { fork, type ChildProcess, type StdioOptions } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModuleLoadError, TaskError } from './errors.ts';
import type { Executor, RunOutcome } from './executor.ts';
import { type ChildMessage, LIFELINE_FD, type ParentMessage, runMessage } from './child-protocol.ts';
import { MAX_TIMER_MS } from './options.ts';
import type { TaskEntry } from './payload.ts';
import { moduleUrl, type TaskModule } from './task.ts';

export interface PoolOptions {
  readonly modules: readonly TaskModule[];
  /** Children kept ready (busy ones not counted in fresh-per-task mode). */
  readonly size: number;
  readonly tasksPerChild: number;
  readonly maxRssBytes: number;
  readonly killGraceMs: number;
  readonly execArgv: readonly string[];
}

/**
 * Children booting at once, at most: enough that a worker with a few children has them all within one boot
 * time, few enough that dozens of Node processes booting together do not starve the worker (and its lease
 * renewals) of CPU.
 */
const MAX_STARTING = Math.min(8, Math.max(2, availableParallelism() * 2));

const CHILD_SCRIPT = fileURLToPath(new URL(`./child${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/** The parent's Node flags minus those that must not pass on (test runner, inspector, watch mode, profilers). */
export function inheritedExecArgv(): string[] {
  return process.execArgv.filter((arg) => !/^--(test|inspect|watch|experimental-test|cpu-prof|heap-prof|prof)/.test(arg));
}

interface Run {
  readonly taskId: string;
  readonly resolve: (outcome: RunOutcome) => void;
  timer: NodeJS.Timeout | undefined;
  ending: 'timeout' | 'killed' | 'cancelled' | undefined;
}

class Child {
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
  /** SIGKILL armed once a run is being ended; it stays armed until the child exited, whatever the child says. */
  #killTimer: NodeJS.Timeout | undefined;
  readonly #killGraceMs: number;

  constructor(options: PoolOptions) {
    this.#killGraceMs = options.killGraceMs;
    // fd 3 is the IPC channel; fd LIFELINE_FD a pipe that only this process holds the other end of: the
    // child's watchdog kills its group when it closes (this process died). Nothing is ever written to it.
    const stdio: StdioOptions = ['ignore', 'inherit', 'inherit', 'ipc'];
    stdio[LIFELINE_FD] = 'pipe';
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
        } else this.#done(message);
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
      const run: Run = { taskId: task.id, resolve, timer: undefined, ending: undefined };
      this.run = run;
      run.timer = setTimeout(() => this.end('timeout'), clampTimer(task.timeoutMs));
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
      else if (run.ending === 'killed') this.#settle({ kind: 'killed', started: true });
      else if (run.ending === 'cancelled') this.#settle({ kind: 'cancelled' });
      else this.#settle({ kind: 'crashed', exitCode: code, signal });
    }
    this.onExit(this);
  }

  #settle(outcome: RunOutcome): void {
    const run = this.run;
    if (!run) return;
    this.run = undefined;
    clearTimeout(run.timer);
    run.resolve(outcome);
  }
}

/** Node's timers fire at once past 2^31 - 1 ms; options are checked against that, this is the last guard. */
function clampTimer(ms: number): number {
  return Math.min(Math.max(0, ms), MAX_TIMER_MS);
}

interface Waiter {
  readonly task: TaskEntry;
  readonly resolve: (outcome: Promise<RunOutcome> | RunOutcome) => void;
}

export class ChildPool implements Executor {
  readonly #options: PoolOptions;
  readonly #oneShot: boolean;
  readonly #idle: Child[] = [];
  readonly #starting = new Set<Child>();
  readonly #busy = new Set<Child>();
  /** Runs that found no ready child (one died after the worker counted it): they start on the next one. */
  readonly #waiters: Waiter[] = [];
  #closed = false;
  #failures = 0;
  /** Settles `start()`: the first child ready, or the modules failed to load. */
  #started: { resolve: () => void; reject: (err: Error) => void } | undefined;
  onFatal?: (error: Error) => void;
  onAvailable?: () => void;
  onProgress?: (taskId: string, value: unknown) => void;

  constructor(options: PoolOptions) {
    this.#options = options;
    this.#oneShot = options.tasksPerChild === 1;
  }

  /**
   * Starts children (several at once) and resolves when the first one loaded the modules, so a broken
   * module fails the start; the others join as they become ready (`onAvailable`).
   */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#started = { resolve, reject };
      this.#fill();
    });
  }

  /** Ready children with nothing to do: the runs that can start now. */
  available(): number {
    return this.#closed ? 0 : this.#idle.length;
  }

  /**
   * Starts children until `size` exist (fresh-per-task: until `size` are ready or starting, busy ones not
   * counted, as they exit after their task), at most MAX_STARTING at a time.
   */
  #fill(): void {
    const counted = () => this.#idle.length + this.#starting.size + (this.#oneShot ? 0 : this.#busy.size);
    while (!this.#closed && this.#starting.size < MAX_STARTING && counted() < this.#options.size) this.#spawn();
  }

  #spawn(): Child {
    const child = new Child(this.#options);
    this.#starting.add(child);
    child.onExit = (c) => this.#gone(c);
    child.onProgress = (taskId, value) => this.onProgress?.(taskId, value);
    child.ready.then(
      () => {
        this.#starting.delete(child);
        this.#failures = 0;
        if (this.#closed) return child.kill('SIGKILL');
        this.#started?.resolve();
        this.#started = undefined;
        this.#release(child);
        this.#fill();
      },
      (err: Error) => {
        this.#starting.delete(child);
        if (this.#closed) {
          this.#started?.reject(err);
          return;
        }
        // One killed by a signal while loading says nothing about the modules: start another, for as long as
        // it takes (a kill loop from outside is the operator's to stop). A child that cannot load the modules
        // will not do better next time: the start fails at once, later on the third in a row.
        if (child.killedWhileLoading) setTimeout(() => this.#fill(), 100).unref();
        else if (this.#started) {
          this.#started.reject(err);
          this.#started = undefined;
        } else if (++this.#failures >= 3) this.onFatal?.(err);
        else setTimeout(() => this.#fill(), 100 * this.#failures).unref();
      },
    );
    return child;
  }

  #release(child: Child): void {
    if (child.exited) return;
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter.resolve(this.#runOn(child, waiter.task));
      return;
    }
    this.#idle.push(child);
    this.onAvailable?.();
  }

  #gone(child: Child): void {
    this.#busy.delete(child);
    const at = this.#idle.indexOf(child);
    if (at >= 0) this.#idle.splice(at, 1);
    if (!this.#closed) this.#fill();
  }

  run(task: TaskEntry): Promise<RunOutcome> {
    if (this.#closed) return Promise.resolve({ kind: 'killed', started: false });
    // The child that finished last: its caches are still warm.
    const child = this.#idle.pop();
    if (child) return this.#runOn(child, task);
    return new Promise((resolve) => this.#waiters.push({ task, resolve }));
  }

  async #runOn(child: Child, task: TaskEntry): Promise<RunOutcome> {
    this.#busy.add(child);
    // The task goes out first: starting the replacement (a fork, 2-3 ms) would hold it up.
    const running = child.start(task);
    if (this.#oneShot) this.#fill();
    const outcome = await running;
    this.#busy.delete(child);
    const reusable =
      !child.exited &&
      !this.#oneShot &&
      !this.#closed &&
      outcome.kind !== 'timeout' &&
      outcome.kind !== 'killed' &&
      !child.stopping &&
      child.tasks < this.#options.tasksPerChild &&
      child.rss <= this.#options.maxRssBytes;
    if (reusable) this.#release(child);
    else {
      // A child that answered while being stopped is still being stopped (its SIGKILL stays armed).
      if (!child.exited && !child.stopping) {
        try {
          child.proc.send({ t: 'exit' } satisfies ParentMessage);
        } catch {
          child.kill('SIGKILL');
        }
      }
      this.#fill();
    }
    return outcome;
  }

  /**
   * Ends every run. 'stop': SIGTERM, SIGKILL after the grace period; 'lost' (the lease is gone and another
   * worker may take the tasks): SIGKILL at once. Runs still waiting for a child end without starting.
   */
  killAll(how: 'stop' | 'lost' = 'stop'): void {
    for (const waiter of this.#waiters.splice(0)) waiter.resolve({ kind: 'killed', started: false });
    for (const child of this.#busy) child.end('killed', how === 'lost' ? 0 : this.#options.killGraceMs);
  }

  cancel(taskId: string): void {
    const at = this.#waiters.findIndex((w) => w.task.id === taskId);
    if (at >= 0) this.#waiters.splice(at, 1)[0]?.resolve({ kind: 'cancelled' });
    for (const child of this.#busy) if (child.run?.taskId === taskId) child.end('cancelled');
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter.resolve({ kind: 'killed', started: false });
    const all = [...this.#idle, ...this.#starting, ...this.#busy];
    this.#idle.length = 0;
    await Promise.all(
      all.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exited) return resolve();
            child.proc.once('exit', () => resolve());
            if (child.run) child.end('killed');
            else {
              child.kill('SIGTERM');
              setTimeout(() => child.kill('SIGKILL'), this.#options.killGraceMs).unref();
            }
          }),
      ),
    );
  }
}
