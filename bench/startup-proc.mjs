// The start-up scenario's worker process (bench/startup.ts), run with plain `node` as a user's `node worker.js`
// would be: no TypeScript loader, the built package. One kept-child worker with BullMQ's or delayed-queue's
// library defaults, the same no-op handlers as scenario c; it works until SIGTERM.
//   node bench/startup-proc.mjs <delayed|bullmq> <concurrency> <redis url>
import { fileURLToPath } from 'node:url';

const [system, concurrencyText, url] = process.argv.slice(2);
const concurrency = Number(concurrencyText);

if (system === 'delayed') {
  const { PreforkedWorker, Queue } = await import('delayed-queue');
  const queue = new Queue({ name: 'bench', redis: url, defaultTimeoutMs: 60_000 });
  const worker = new PreforkedWorker({ queue, tasks: [new URL('./tasks.mjs', import.meta.url)], concurrency });
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
