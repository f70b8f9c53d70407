// delayed-queue adapter (ours): queue.enqueue / queue.enqueueMany; InlineWorker (handler in the worker
// process), PreforkedWorker (kept child processes), ForkedWorker (a new child process per task).
// It runs the compiled package (dist/, through the package's self-reference 'delayed-queue'; run.ts builds it
// when stale) with the plain-JavaScript task module bench/tasks.mjs, as a user of the published package would.
import type * as DelayedQueue from '../../src/index.ts';
import type { Payload } from '../record.ts';
import type { Mode, System, SystemFactory } from './types.ts';

const TASKS = new URL('../tasks.mjs', import.meta.url).href;
const LABELS: Record<Mode, string | undefined> = {
  inline: 'InlineWorker',
  sandboxed: 'PreforkedWorker',
  threads: undefined,
  forked: 'ForkedWorker',
};

// A specifier TypeScript does not resolve (the types come from src/, so type-checking needs no dist/).
const PACKAGE: string = 'delayed-queue';

/**
 * The runner and bench/drain-proc.ts run under tsx, whose loader flags are in process.execArgv; child workers
 * pass the parent's flags on to their children (src/child-pool.ts inheritedExecArgv), and tsx would add ~0.15 s
 * to every child's start. A user's `node app.js` has no such flags, and BullMQ's sandbox gets
 * `workerForkOptions: { execArgv: [] }`: so the worker is constructed (when it reads the flags) without tsx's.
 */
function withoutTsxFlags<T>(make: () => T): T {
  const saved = process.execArgv;
  const kept: string[] = [];
  for (let i = 0; i < saved.length; i++) {
    const arg = saved[i] ?? '';
    const next = saved[i + 1] ?? '';
    if ((arg === '--require' || arg === '--import' || arg === '--loader') && /[\\/]tsx[\\/]/.test(next)) i++;
    else if (/^--(require|import|loader)=.*[\\/]tsx[\\/]/.test(arg)) continue;
    else kept.push(arg);
  }
  process.execArgv = kept;
  try {
    return make();
  } finally {
    process.execArgv = saved;
  }
}

export const open: SystemFactory = async ({ url, partitions }) => {
  const { ForkedWorker, InlineWorker, PreforkedWorker, Queue } = (await import(PACKAGE)) as typeof DelayedQueue;
  const queue = new Queue({ name: 'bench', redis: url, defaultTimeoutMs: 60_000, ...(partitions ? { partitions } : {}) });

  const system: System = {
    name: 'delayed-queue',
    peer: false,
    api: { one: 'queue.enqueue()', many: 'queue.enqueueMany()' },
    modeLabel: (mode) => LABELS[mode],
    async enqueueOne(p) {
      await queue.enqueue('noop', [p]);
    },
    async enqueueMany(ps: Payload[]) {
      await queue.enqueueMany(ps.map((p) => ({ name: 'noop', args: [p] })));
    },
    async startWorker(mode, concurrency, events) {
      if (mode === 'threads') throw new Error('delayed-queue runs tasks in child processes, not worker threads');
      const Worker = mode === 'inline' ? InlineWorker : mode === 'sandboxed' ? PreforkedWorker : ForkedWorker;
      const worker = withoutTsxFlags(
        () =>
          new Worker({
            queue,
            tasks: [TASKS],
            concurrency,
            successHandler: () => events.completed(),
            errorHandler: (_task, failure) => events.failed(failure),
          }),
      );
      const stopped = worker.run();
      stopped.catch((e: unknown) => events.failed(e));
      return {
        async close() {
          await worker.close();
          await stopped.catch(() => {});
        },
      };
    },
    close: () => queue.close(),
  };
  return system;
};
