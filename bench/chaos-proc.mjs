// One worker process of the chaos benchmark (bench/chaos.ts), run with plain `node` as a user's worker would be:
//   node bench/chaos-proc.mjs <delayed|bullmq|beequeue> <redis url> <ledger dir>
// It notes in the ledger when it is ready and each outcome it reports ('ok' / 'fail'; BullMQ's failed attempts
// that will be retried as 'retry'). Settings: bench/chaos-settings.mjs.
import { fileURLToPath } from 'node:url';
import { note } from './chaos-work.mjs';
import { QUEUE, SETTINGS } from './chaos-settings.mjs';

const [system, url, ledger] = process.argv.slice(2);
const ready = () => note(ledger, 'ready', '-', 0);

if (system === 'delayed') {
  const { PreforkedWorker, Queue } = await import('delayed-queue');
  const queue = new Queue({ name: QUEUE, redis: url });
  const quiet = { debug() {}, info() {}, warn() {}, error: (fields, msg) => console.error('[delayed]', msg, fields) };
  const worker = new PreforkedWorker({
    queue,
    tasks: [new URL('./chaos-tasks.mjs', import.meta.url)],
    concurrency: SETTINGS.delayed.concurrency,
    logger: quiet,
    successHandler: (task) => note(ledger, 'ok', task.args[0].id, task.attempt),
    errorHandler: (task, failure) => note(ledger, 'fail', task.args?.[0]?.id ?? task.id, task.attempt, failure.reason),
  });
  worker.once('ready', ready);
  await worker.run();
  await queue.close();
} else if (system === 'bullmq') {
  const { Worker } = await import('bullmq');
  const { hostname, port } = new URL(url);
  const s = SETTINGS.bullmq;
  const worker = new Worker(QUEUE, fileURLToPath(new URL('./chaos-bullmq-processor.js', import.meta.url)), {
    connection: { host: hostname, port: Number(port), maxRetriesPerRequest: null },
    workerForkOptions: { execArgv: [] },
    ...s.worker,
  });
  worker.on('completed', (job) => note(ledger, 'ok', job.data.id, job.attemptsMade));
  worker.on('failed', (job, err) => {
    if (!job) return;
    const final = job.attemptsMade >= (job.opts.attempts ?? 1) || /stalled more than/.test(err?.message ?? '');
    note(ledger, final ? 'fail' : 'retry', job.data.id, job.attemptsMade, (err?.message ?? '?').replace(/\s+/g, '_').slice(0, 60));
  });
  worker.on('error', (e) => console.error('[bullmq worker]', e.message));
  await worker.waitUntilReady();
  ready();
  process.once('SIGTERM', () => worker.close().then(() => process.exit(0)));
} else if (system === 'beequeue') {
  const { default: BeeQueue } = await import('bee-queue');
  const { hostname, port } = new URL(url);
  const s = SETTINGS.beequeue;
  const queue = new BeeQueue(QUEUE, { redis: { host: hostname, port: Number(port) }, ...s.queue });
  const { work } = await import('./chaos-work.mjs');
  queue.on('succeeded', (job) => note(ledger, 'ok', job.data.id, 0));
  queue.on('failed', (job, err) => note(ledger, 'fail', job.data.id, 0, (err?.message ?? '?').replace(/\s+/g, '_').slice(0, 60)));
  queue.on('error', (e) => console.error('[bee-queue]', e.message));
  queue.process(s.concurrency, (job) => work(job.data, 0));
  await queue.ready();
  queue.checkStalledJobs(s.checkStalledJobsMs);
  ready();
  process.once('SIGTERM', () => queue.close().then(() => process.exit(0)));
} else {
  console.error(`chaos-proc.mjs: unknown system ${system}`);
  process.exit(2);
}
