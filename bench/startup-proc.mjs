// The start-up scenario's worker process (bench/startup.ts), run with plain `node` as a user's `node worker.js`
// would be: no TypeScript loader, the built package. One kept-child worker with BullMQ's or delayed-queue's
// library defaults, the same no-op handlers as scenario c; it works until SIGTERM.
//   node bench/startup-proc.mjs <delayed|bullmq> <concurrency> <redis url>
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [system, concurrencyText, url] = process.argv.slice(2);
const concurrency = Number(concurrencyText);

// bench/startup-phases.ts sets BENCH_STARTUP_MARKS: the process notes when it loaded the library and when the
// worker said 'ready', and its children note when their runtime reached user code (bench/startup-mark.cjs).
const marks = process.env.BENCH_STARTUP_MARKS === '1';
const mark = (what) => {
  if (marks) appendFileSync(join(process.env.BENCH_RECORD_DIR, 'worker.marks'), `${what} ${Number(process.hrtime.bigint()) / 1e6}\n`);
};

if (system === 'delayed') {
  const { PreforkedWorker, Queue } = await import('delayed-queue');
  mark('imported');
  const queue = new Queue({ name: 'bench', redis: url, defaultTimeoutMs: 60_000 });
  const childExecArgv = marks ? ['-r', fileURLToPath(new URL('./startup-mark.cjs', import.meta.url))] : [];
  // With marks: the worker's own debug line 'registered' is noted too (other lines go nowhere, as with a quiet logger).
  const logger = marks
    ? { debug: (_, msg) => msg === 'registered' && mark('registered'), info() {}, warn() {}, error: console.error }
    : undefined;
  const worker = new PreforkedWorker({ queue, tasks: [new URL('./tasks.mjs', import.meta.url)], concurrency, childExecArgv, logger });
  worker.once('ready', () => mark('ready'));
  await worker.run();
  await queue.close();
} else if (system === 'bullmq') {
  const { Worker } = await import('bullmq');
  const { hostname, port } = new URL(url);
  const worker = new Worker('bench', fileURLToPath(new URL('./sandbox-processor.js', import.meta.url)), {
    connection: { host: hostname, port: Number(port), maxRetriesPerRequest: null },
    concurrency,
    useWorkerThreads: false,
    workerForkOptions: { execArgv: [] },
  });
  worker.on('error', (e) => console.error('[bullmq worker]', e));
  process.once('SIGTERM', () => {
    worker.close().then(() => process.exit(0));
  });
} else {
  console.error(`startup-proc.mjs: no kept-child worker for ${system}`);
  process.exit(2);
}
