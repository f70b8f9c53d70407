/**
 * Child processes that run tasks for a worker: each child leads its own process group, loads the task modules
 * once, and runs one task at a time. The parent enforces the timeout: SIGTERM to the whole group, SIGKILL
 * after a grace period, so busy loops and grandchildren die too.
 *
 * Two policies on top: a fresh child per task (`tasksPerChild: 1`, ForkedWorker), with warm children started
 * ahead so a task does not wait for a process to boot; or long-lived children (PreforkedWorker), replaced after
 * a crash, a timeout, N tasks or an RSS limit. A child that dies while idle is replaced before it is used.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModuleLoadError } from './errors.ts';
import { TaskError } from './errors.ts';
import type { Executor, RunOutcome } from './executor.ts';
import type { ChildMessage, ParentMessage } from './child-protocol.ts';
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

/** Children booting at once, at most. */
const MAX_STARTING = 2;

const CHILD_SCRIPT = fileURLToPath(new URL(`./child${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/** The parent's Node flags minus those that must not pass on (test runner, inspector, watch mode, profilers). */
export function inheritedExecArgv(): string[] {
  return process.execArgv.filter((arg) => !/^--(test|inspect|watch|experimental-test|cpu-prof|heap-prof|prof)/.test(arg));
}

interface Run {
  readonly resolve: (outcome: RunOutcome) => void;
  timer: NodeJS.Timeout | undefined;
  killTimer: NodeJS.Timeout | undefined;
  ending: 'timeout' | 'killed' | undefined;
}

class Child {
  readonly proc: ChildProcess;
  readonly ready: Promise<void>;
  tasks = 0;
  rss = 0;
  exited = false;
  /** True when the child was killed by a signal before it was ready. */
  killedWhileLoading = false;
  run: Run | undefined;
  onExit: (child: Child) => void = () => undefined;
  readonly #killGraceMs: number;

  constructor(options: PoolOptions) {
    this.#killGraceMs = options.killGraceMs;
    this.proc = fork(CHILD_SCRIPT, [], {
      detached: true,
      execArgv: [...options.execArgv],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    this.ready = new Promise<void>((resolve, reject) => {
      const modules = options.modules.map(String).join(', ');
      let loaded = false;
      const onMessage = (message: ChildMessage) => {
        if (message.t === 'ready') {
          loaded = true;
          resolve();
        }
        else if (message.t === 'init-error') reject(new ModuleLoadError(message.module, message.message));
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
      };
      this.proc.on('exit', (code, signal) => {
        this.exited = true;
        this.#killGroup();
        setTimeout(() => conclude(code, signal), 1000).unref();
      });
      this.proc.on('close', (code, signal) => conclude(code, signal));
    });
    this.ready.catch(() => undefined);
    const init: ParentMessage = { t: 'init', modules: options.modules.map(moduleUrl), parentPid: process.pid };
    try {
      this.proc.send(init);
    } catch {
      // The child is already gone; its 'exit' rejects `ready`.
    }
  }

  start(task: TaskEntry): Promise<RunOutcome> {
    return new Promise<RunOutcome>((resolve) => {
      this.tasks++;
      const run: Run = { resolve, timer: undefined, killTimer: undefined, ending: undefined };
      this.run = run;
      run.timer = setTimeout(() => this.end('timeout'), task.timeoutMs);
      const message: ParentMessage = { t: 'run', id: task.id, name: task.name, attempt: task.attempt, args: task.argsJson };
      try {
        this.proc.send(message);
      } catch {
        this.kill('SIGKILL');
      }
    });
  }

  /** Ends the current run: SIGTERM to the group now, SIGKILL after the grace period. */
  end(why: 'timeout' | 'killed'): void {
    const run = this.run;
    if (!run || run.ending) return;
    run.ending = why;
    this.kill('SIGTERM');
    run.killTimer = setTimeout(() => this.kill('SIGKILL'), this.#killGraceMs);
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
    const run = this.#take();
    if (!run || run.ending) return;
    this.rss = message.rss;
    if (message.ok) run.resolve({ kind: 'success', value: message.value });
    else if (message.unknown) run.resolve({ kind: 'unknown-task' });
    else run.resolve({ kind: 'thrown', error: new TaskError(message.error?.name ?? 'Error', message.error?.message ?? '', message.error?.stack) });
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
    const run = this.#take();
    if (run) {
      if (run.ending === 'timeout') run.resolve({ kind: 'timeout', ...(signal ? { signal } : {}) });
      else if (run.ending === 'killed') run.resolve({ kind: 'killed' });
      else run.resolve({ kind: 'crashed', exitCode: code, signal });
    }
    this.onExit(this);
  }

  #take(): Run | undefined {
    const run = this.run;
    this.run = undefined;
    if (run) {
      clearTimeout(run.timer);
      clearTimeout(run.killTimer);
    }
    return run;
  }
}

export class ChildPool implements Executor {
  readonly #options: PoolOptions;
  readonly #oneShot: boolean;
  readonly #idle: Child[] = [];
  readonly #starting = new Set<Child>();
  readonly #busy = new Set<Child>();
  readonly #waiters: ((child: Child) => void)[] = [];
  #closed = false;
  #failures = 0;
  onFatal?: (error: Error) => void;

  constructor(options: PoolOptions) {
    this.#options = options;
    this.#oneShot = options.tasksPerChild === 1;
  }

  /** Starts the first child and waits until it loaded the modules (so a broken module fails the start). */
  async start(): Promise<void> {
    for (;;) {
      const first = this.#spawn();
      try {
        await first.ready;
        break;
      } catch (err) {
        // Killed from outside while loading says nothing about the modules: try again (close() ends this).
        if (!first.killedWhileLoading || this.#closed) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    this.#fill();
  }

  /**
   * Starts children until `size` exist (fresh-per-task: until `size` are ready or starting, busy ones not
   * counted, as they exit after their task), at most MAX_STARTING at a time: dozens of Node
   * processes booting at once would starve the worker itself (and its lease renewals) of CPU.
   */
  #fill(): void {
    const counted = () => this.#idle.length + this.#starting.size + (this.#oneShot ? 0 : this.#busy.size);
    while (!this.#closed && this.#starting.size < MAX_STARTING && counted() < this.#options.size) this.#spawn();
  }

  #spawn(): Child {
    const child = new Child(this.#options);
    this.#starting.add(child);
    child.onExit = (c) => this.#gone(c);
    child.ready.then(
      () => {
        this.#starting.delete(child);
        this.#failures = 0;
        if (this.#closed) return child.kill('SIGKILL');
        this.#release(child);
        this.#fill();
      },
      (err: Error) => {
        this.#starting.delete(child);
        if (this.#closed) return;
        // A child that cannot load the modules will not do better next time: give up after a few in a row.
        // One killed by a signal while loading says nothing about the modules: start another.
        if (child.killedWhileLoading) setTimeout(() => this.#fill(), 100).unref();
        else if (++this.#failures >= 3) this.onFatal?.(err);
        else setTimeout(() => this.#fill(), 100 * this.#failures).unref();
      },
    );
    return child;
  }

  #release(child: Child): void {
    if (child.exited) return;
    const waiter = this.#waiters.shift();
    if (waiter) waiter(child);
    else this.#idle.push(child);
  }

  #gone(child: Child): void {
    this.#busy.delete(child);
    const at = this.#idle.indexOf(child);
    if (at >= 0) this.#idle.splice(at, 1);
    if (!this.#closed) this.#fill();
  }

  #acquire(): Promise<Child> {
    // The child that finished last: its caches are still warm.
    const child = this.#idle.pop();
    if (child) return Promise.resolve(child);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  async run(task: TaskEntry): Promise<RunOutcome> {
    const child = await this.#acquire();
    if (this.#closed) return { kind: 'killed' };
    this.#busy.add(child);
    // The task goes out first: starting the replacement (a fork, 2-3 ms) would hold it up.
    const running = child.start(task);
    if (this.#oneShot) this.#fill();
    const outcome = await running;
    this.#busy.delete(child);
    const reusable =
      !child.exited && !this.#oneShot && outcome.kind !== 'timeout' && outcome.kind !== 'killed' &&
      child.tasks < this.#options.tasksPerChild && child.rss <= this.#options.maxRssBytes;
    if (reusable) this.#release(child);
    else {
      if (!child.exited) {
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

  killAll(): void {
    for (const child of this.#busy) child.end('killed');
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#waiters.length = 0;
    const all = [...this.#idle, ...this.#starting, ...this.#busy];
    this.#idle.length = 0;
    for (const child of all) child.end('killed');
    await Promise.all(
      all.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exited) return resolve();
            child.proc.once('exit', () => resolve());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), this.#options.killGraceMs).unref();
          }),
      ),
    );
  }
}
