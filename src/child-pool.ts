/**
 * The child processes that run tasks for a worker (each one a `Child`, child-process.ts: its own process group,
 * the task modules loaded once, one task at a time, the timeout enforced by the parent).
 *
 * Two policies on top: a fresh child per task (`tasksPerChild: 1`, ForkedWorker), with warm children started
 * ahead so a task does not wait for a process to boot; or long-lived children (PreforkedWorker), replaced after
 * a crash, a timeout, N tasks or an RSS limit. A child that dies while idle is replaced before it is used.
 */
import { availableParallelism } from 'node:os';
import type { ParentMessage } from './child-protocol.ts';
import { Child, type PoolOptions } from './child-process.ts';
import type { Executor, RunOutcome } from './executor.ts';
import type { FlowHandler } from './flow-types.ts';
import type { TaskEntry } from './payload.ts';

/**
 * Children booting at once, at most: enough that a worker with a few children has them all within one boot
 * time, few enough that dozens of Node processes booting together do not starve the worker (and its lease
 * renewals) of CPU.
 */
const MAX_STARTING = Math.min(8, Math.max(2, availableParallelism() * 2));

/** The parent's Node flags minus those that must not pass on (test runner, inspector, watch mode, profilers). */
export function inheritedExecArgv(): string[] {
  return process.execArgv.filter((arg) => !/^--(test|inspect|watch|experimental-test|cpu-prof|heap-prof|prof)/.test(arg));
}

interface Waiter {
  readonly task: TaskEntry;
  readonly resolve: (outcome: Promise<RunOutcome> | RunOutcome) => void;
}

export type { PoolOptions };

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
  flow?: FlowHandler;

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
    child.onFlow = (taskId, request) => this.flow?.(taskId, request) ?? Promise.resolve({ ok: false, error: 'no worker answers' });
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
    // The child that finished last: its caches are still warm. (One that exited while idle is on its way out.)
    let child = this.#idle.pop();
    while (child?.exited) child = this.#idle.pop();
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
