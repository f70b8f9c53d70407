// A worker (or a standalone sweeper) in its own process, for the fault-injection tests. Configured by
// environment variables (FQ_*); run with `node --import tsx test/faults/worker-main.ts`.
//
// It writes every terminal outcome its handlers see to the ledger (FQ_LEDGER), and prints one line per event on
// stdout as `@@ <json>`: `registered` each time the worker holds a new registration, `leaseLost`, `dataLoss`,
// `requeue`, `ready` (sweeper), `closed`. Logs (level info) go to stderr; with FQ_LOG_EVENTS=1 each warning or
// error is also a `log` message (level, message, err). FQ_PARTITIONS: the queue's partition count (default 1).
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { ForkedWorker, InlineWorker, PreforkedWorker, Queue, Sweeper, consoleLogger, type Logger, type Worker } from '../../src/index.ts';
import { writeLedger } from './ledger.ts';

// The task module beside this file: tasks.ts under tsx, tasks.js when the suite runs a compiled copy (built.ts).
const TASKS = new URL(`./tasks${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

const env = process.env;
const num = (name: string, fallback: number): number => (env[name] !== undefined && env[name] !== '' ? Number(env[name]) : fallback);

function say(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`@@ ${JSON.stringify({ ev: event, pid: process.pid, t: Date.now(), mono: performance.now(), ...fields })}\n`);
}

const ledger = env.FQ_LEDGER ?? '';
const kind = env.FQ_KIND ?? 'preforked';
const logger = withLogEvents(consoleLogger((env.FQ_LOG as 'info' | undefined) ?? 'info'));
const queue = new Queue({
  name: env.FQ_QUEUE ?? 'faults',
  redis: env.FQ_REDIS ?? 'redis://127.0.0.1:6379',
  partitions: num('FQ_PARTITIONS', 1),
  deadLetters: num('FQ_DEAD_LETTERS', 0),
});

/** The logger as is, or (FQ_LOG_EVENTS=1) one that also says each warning and error as a `log` message. */
function withLogEvents(base: Logger): Logger {
  if (env.FQ_LOG_EVENTS !== '1') return base;
  const tell = (level: 'warn' | 'error') => (fields: object, message: string) => {
    base[level](fields, message);
    const err = (fields as { err?: unknown }).err;
    say('log', { level, message, err: err instanceof Error ? `${err.name}: ${err.message}` : '' });
  };
  return { ...base, warn: tell('warn'), error: tell('error') };
}

if (kind === 'sweeper') {
  const sweeper = new Sweeper({ queue, intervalMs: num('FQ_SWEEP', 500), logger });
  const running = sweeper.run();
  say('ready');
  await running;
  say('closed');
  await queue.close();
  process.exit(0);
}

const sweepMs = num('FQ_SWEEP', 500);
const common = {
  queue,
  tasks: [TASKS.href],
  concurrency: num('FQ_CONCURRENCY', 2),
  leaseMs: num('FQ_LEASE', 1500),
  sweep: sweepMs > 0,
  sweepIntervalMs: sweepMs > 0 ? sweepMs : 1000,
  shutdownTimeoutMs: num('FQ_SHUTDOWN', 5000),
  killGraceMs: num('FQ_KILL_GRACE', 300),
  logger,
  successHandler: (task: { id: string; attempt: number }) => {
    if (ledger) writeLedger(ledger, 'ok', task.id, task.attempt, worker.workerId);
  },
  errorHandler: (task: { id: string; attempt: number }, failure: { reason: string }) => {
    if (ledger) writeLedger(ledger, 'fail', task.id, task.attempt, failure.reason);
  },
};
const childExecArgv = env.FQ_CHILD_ARGV ? (JSON.parse(env.FQ_CHILD_ARGV) as string[]) : [];
const worker: Worker =
  kind === 'inline'
    ? new InlineWorker(common)
    : kind === 'forked'
      ? new ForkedWorker({ ...common, tasks: [TASKS], childExecArgv })
      : new PreforkedWorker({ ...common, tasks: [TASKS], childExecArgv });

worker.on('ready', (id) => say('ready', { id }));
worker.on('leaseLost', (id, why) => say('leaseLost', { id, why }));
worker.on('dataLoss', (previous, current) => say('dataLoss', { previous, current }));
worker.on('requeue', (task, why) => say('requeue', { id: task.id, attempt: task.attempt, why }));

let announced = '';
const watch = setInterval(() => {
  const id = worker.workerId;
  if (id !== '' && id !== announced) {
    announced = id;
    say('registered', { id });
  }
}, 5);

try {
  await worker.run();
  say('closed');
} catch (err) {
  say('fatal', { message: (err as Error).message });
  process.exitCode = 1;
}
clearInterval(watch);
await queue.close();
process.exit();
