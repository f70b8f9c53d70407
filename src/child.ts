/**
 * The entry point of a worker's child process. It loads the task modules it is told to (paths the worker's
 * owner configured), then runs the tasks the parent sends over IPC, one at a time, and answers each.
 *
 * A watchdog thread checks every 100 ms that the parent is alive; when it is not, it kills this process
 * group at once, even while the main thread is stuck in `while (true) {}`, so no orphan run goes on beside
 * the copy the sweeper hands to another worker.
 */
import { Worker as Thread } from 'node:worker_threads';
import { runInContext } from './context.ts';
import { ModuleLoadError } from './errors.ts';
import { toError } from './executor.ts';
import { failpoint } from './failpoints.ts';
import { retryAdvice } from './retry.ts';
import { loadTasks, type AnyTask } from './task.ts';
import type { ChildMessage, ParentMessage } from './child-protocol.ts';

// Our own constant source (no task payload ever reaches it): poll the parent, kill the group when it is gone.
const WATCHDOG = `
const { workerData } = require('node:worker_threads');
const parent = workerData.parentPid;
setInterval(() => {
  let alive = process.ppid === parent;
  if (alive) { try { process.kill(parent, 0); } catch { alive = false; } }
  if (!alive) {
    try { process.kill(-process.pid, 'SIGKILL'); } catch {}
    process.kill(process.pid, 'SIGKILL');
  }
}, 100);
`;

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

function serializable(value: unknown): unknown {
  try {
    return value === undefined ? undefined : (JSON.parse(JSON.stringify(value)) as unknown);
  } catch {
    return undefined;
  }
}

let tasks = new Map<string, AnyTask>();

async function run(message: Extract<ParentMessage, { t: 'run' }>): Promise<void> {
  const task = tasks.get(message.name);
  const rss = () => process.memoryUsage.rss();
  if (!task) return send({ t: 'done', ok: false, unknown: true, rss: rss() });
  const controller = new AbortController();
  const context = { id: message.id, name: message.name, attempt: message.attempt, signal: controller.signal };
  try {
    const args = JSON.parse(message.args) as unknown[];
    const value: unknown = await runInContext(context, () => task.fn(...args));
    failpoint('child-before-reply');
    await send({ t: 'done', ok: true, value: serializable(value), rss: rss() });
  } catch (thrown) {
    const error = toError(thrown);
    const retry = retryAdvice(task.retry, { failures: message.failures ?? 0, retries: message.retries, backoff: message.backoff }, thrown);
    await send({ t: 'done', ok: false, error: { name: error.name, message: error.message, stack: error.stack }, retry, rss: rss() });
  }
}

process.on('message', (raw: ParentMessage) => {
  if (raw.t === 'run') void run(raw);
  else if (raw.t === 'exit') process.exit(0);
  else if (raw.t === 'init') {
    const watchdog = new Thread(WATCHDOG, { eval: true, workerData: { parentPid: raw.parentPid } });
    watchdog.unref();
    loadTasks(raw.modules).then(
      (loaded) => {
        tasks = loaded;
        void send({ t: 'ready', names: [...loaded.keys()] });
      },
      (err: unknown) => {
        const detail =
          err instanceof ModuleLoadError
            ? { module: err.module, message: err.detail }
            : { module: raw.modules.join(', '), message: toError(err).message };
        void send({ t: 'init-error', ...detail }).then(() => process.exit(1));
      },
    );
  }
});
// The parent went away in good order: nothing more will come.
process.on('disconnect', () => process.exit(0));
