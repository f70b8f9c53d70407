/**
 * The entry point of a worker's child process. It loads the task modules it is told to (paths the worker's
 * owner configured), then runs the tasks the parent sends over IPC, one at a time, and answers each.
 *
 * Parent death: fd 4 is a pipe whose other end only the parent holds. A watchdog waits on it, asleep in the
 * kernel while the parent lives (no polling); when the parent dies, even by kill -9, the kernel closes that
 * end, the read ends, and the watchdog kills this process group at once, even while the main thread is stuck
 * in `while (true) {}`: no orphan run goes on beside the copy the sweeper hands to another worker. The
 * watchdog is a `/bin/sh` in this process group (one fork and exec, ~1 MB, ~10 ms of this process' time at
 * start); without a `/bin/sh` (e.g. a distroless image) it is a thread of this process, which costs ~70 ms
 * of CPU more per child start (a thread boots its own JavaScript environment).
 *
 * What a child loads is kept small, as children start often (each worker start, each crash, timeout or
 * recycle): this file, the task modules and what they import; not the Redis client, and the tracing module
 * only when a run carries a trace context.
 *
 * Per task the child does no more than it must (measured, µs of child CPU per no-op task with two children:
 * ~80 before, ~45 after, ~42 for a bare IPC echo): the run's AbortSignal is made only when the task asks for
 * it, and the resident set size is read only when the worker recycles children by size (`maxRssBytes`).
 */
import { spawn } from 'node:child_process';
import { existsSync, writeSync } from 'node:fs';
import { ChildFlow } from './child-flow.ts';
import { checkProgress, FLOW, type RunContext, runInContext } from './context.ts';
import { ModuleLoadError } from './errors.ts';
import { toError } from './executor.ts';
import { failpoint } from './failpoints.ts';
import { retryAdvice } from './retry.ts';
import { loadTasks, type AnyTask } from './task.ts';
import { type ChildMessage, LIFELINE_FD, type ParentMessage, RECEIPT_FD } from './child-protocol.ts';

const SHELL = '/bin/sh';

// The shell's stdin is the lifeline: `read` blocks until the parent's end closes (nothing is ever written),
// then the whole group goes, the shell included. `kill -9 -PGID` is the form dash, bash and busybox all take.
// It ignores the SIGTERM a timeout sends to the group (a task may outlive it by the grace period); the SIGKILL
// that follows, or the one the parent sends the group when the child exits, ends it.
const SHELL_WATCHDOG = `trap '' TERM INT HUP; while read -r _; do :; done; kill -9 -"$1"`;

// Our own constant source (no task payload ever reaches it): kill the group when the parent's end closes.
const THREAD_WATCHDOG = `
const { Socket } = require('node:net');
const die = () => {
  try { process.kill(-process.pid, 'SIGKILL'); } catch {}
  process.kill(process.pid, 'SIGKILL');
};
const lifeline = new Socket({ fd: ${LIFELINE_FD}, readable: true, writable: false });
lifeline.on('data', () => undefined);
lifeline.on('end', die);
lifeline.on('close', die);
lifeline.on('error', die);
`;

/** Started first thing, before the modules load; it never holds this process open. */
async function startWatchdog(): Promise<void> {
  if (existsSync(SHELL)) {
    try {
      const shell = spawn(SHELL, ['-c', SHELL_WATCHDOG, 'delayed-queue-watchdog', String(process.pid)], {
        stdio: [LIFELINE_FD, 'ignore', 'ignore'],
      });
      // A shell that cannot start (EACCES, say) reports it here, later: the thread instead.
      shell.once('error', () => void startThread());
      if (shell.pid !== undefined) {
        shell.unref();
        // Should it end while this process lives on (killed from outside), a thread takes over.
        shell.once('exit', () => void startThread());
        return;
      }
    } catch {
      // fall through to the thread
    }
  }
  await startThread();
}

let threadStarted = false;

async function startThread(): Promise<void> {
  if (threadStarted) return;
  threadStarted = true;
  const { Worker: Thread } = await import('node:worker_threads');
  new Thread(THREAD_WATCHDOG, { eval: true }).unref();
}

void startWatchdog();

function reply(message: ChildMessage): boolean {
  if (!process.connected || !process.send) return false;
  process.send(message);
  return true;
}

const flow = new ChildFlow(reply);

function serializable(value: unknown): unknown {
  if (value === undefined || value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  try {
    return JSON.parse(JSON.stringify(value)) as unknown;
  } catch {
    return undefined;
  }
}

let tasks = new Map<string, AnyTask>();
let reportRss = false;

const rss = () => (reportRss ? process.memoryUsage.rss() : 0);

function succeeded(value: unknown): void {
  failpoint('child-before-reply');
  reply({ t: 'done', ok: true, value: serializable(value), rss: rss() });
}

/** Answers a run that threw, with the retry advice of the task's policy (which lives here, in the child). */
function failed(thrown: unknown, task: AnyTask, message: Extract<ParentMessage, { t: 'run' }>): void {
  const error = toError(thrown);
  const retry = retryAdvice(task.retry, { failures: message.failures ?? 0, retries: message.retries, backoff: message.backoff }, thrown);
  reply({ t: 'done', ok: false, error: { name: error.name, message: error.message, stack: error.stack }, retry, rss: rss() });
}

/** The run's facts; its AbortSignal is made on first use (an AbortController per task costs ~20 µs). */
function contextOf(message: Extract<ParentMessage, { t: 'run' }>): RunContext {
  let controller: AbortController | undefined;
  return {
    id: message.id,
    name: message.name,
    attempt: message.attempt,
    get signal() {
      controller ??= new AbortController();
      return controller.signal;
    },
    progress(value: unknown) {
      reply({ t: 'progress', value: checkProgress(value) });
    },
    [FLOW]: flow.gate,
  };
}

/** The tracing module, loaded with the first run that carries a trace context (tracing on). */
let tracing: Promise<typeof import('./tracing.ts')> | undefined;

/** Runs `fn` inside the remote trace context `traceparent`, when `@opentelemetry/api` loads here. */
async function traced<T>(traceparent: string, fn: () => T): Promise<T> {
  const { contextOf: contextOfTrace, within } = await (tracing ??= import('./tracing.ts'));
  const context = contextOfTrace(traceparent);
  return context === undefined ? fn() : within(context, fn);
}

function run(message: Extract<ParentMessage, { t: 'run' }>): void {
  const task = tasks.get(message.name);
  if (!task) {
    reply({ t: 'done', ok: false, unknown: true, rss: rss() });
    return;
  }
  const onFail = (thrown: unknown) => failed(thrown, task, message);
  let value: unknown;
  try {
    const args = JSON.parse(message.args) as unknown[];
    const call = () => runInContext(contextOf(message), () => task.fn(...args));
    // Traced: the task's own spans nest under its run's span, if this process has an SDK started.
    value = message.traceparent === undefined ? call() : traced(message.traceparent, call);
    // A promise, or any thenable: wait for it. Reading `then` may throw (a getter): that is the task's throw.
    if (value instanceof Promise) {
      value.then(succeeded, onFail);
      return;
    }
    if (value !== null && (typeof value === 'object' || typeof value === 'function')) {
      const then = (value as { then?: unknown }).then;
      if (typeof then === 'function') {
        Promise.resolve(value).then(succeeded, onFail);
        return;
      }
    }
  } catch (thrown) {
    onFail(thrown);
    return;
  }
  succeeded(value);
}

const RECEIPT = new Uint8Array([1]);

/** Tells the parent this run reached the child (RECEIPT_FD), before the task starts. */
function receipt(): void {
  try {
    writeSync(RECEIPT_FD, RECEIPT);
  } catch {
    // No parent to tell (it died): the watchdog ends this process.
  }
}

process.on('message', (raw: ParentMessage) => {
  if (raw.t === 'run') {
    receipt();
    run(raw);
  } else if (raw.t === 'flow-reply') flow.answered(raw.seq, raw.answer);
  else if (raw.t === 'exit') process.exit(0);
  else if (raw.t === 'init') {
    reportRss = raw.rss;
    loadTasks(raw.modules).then(
      (loaded) => {
        tasks = loaded;
        reply({ t: 'ready', names: [...loaded.keys()] });
      },
      (err: unknown) => {
        const detail =
          err instanceof ModuleLoadError
            ? { module: err.module, message: err.detail }
            : { module: raw.modules.join(', '), message: toError(err).message };
        const message: ChildMessage = { t: 'init-error', ...detail };
        if (process.send && process.connected) process.send(message, undefined, {}, () => process.exit(1));
        else process.exit(1);
      },
    );
  }
});
// The parent went away in good order: nothing more will come.
process.on('disconnect', () => process.exit(0));
