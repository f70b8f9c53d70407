// BullMQ adapter: Queue.add / Queue.addBulk; Worker with an in-process processor, or with the processor
// given as a file path: sandboxed child processes (useWorkerThreads: false) or worker threads (true).
// Settings (PEER_SETTINGS): 'tuned', as BullMQ's "Going to production" guide advises, removes completed jobs
// (defaultJobOptions.removeOnComplete: true); 'defaults' keeps them (removeOnComplete: false).
import { fileURLToPath } from 'node:url';
import { Queue, Worker } from 'bullmq';
import { record, type Payload } from '../record.ts';
import { type Mode, PEER_SETTINGS, type System, type SystemFactory } from './types.ts';

const NAME = 'bench';
const SANDBOX_FILE = fileURLToPath(new URL('../sandbox-processor.js', import.meta.url));

export const open: SystemFactory = async ({ host, port }) => {
  const connection = { host, port, maxRetriesPerRequest: null };
  const queue = new Queue<Payload>(NAME, {
    connection,
    ...(PEER_SETTINGS === 'tuned' ? { defaultJobOptions: { removeOnComplete: true } } : {}),
  });
  queue.on('error', (e) => console.error('[bullmq queue]', e));
  await queue.waitUntilReady();

  const system: System = {
    name: 'BullMQ',
    peer: true,
    api: { one: 'Queue.add()', many: 'Queue.addBulk()' },
    modeLabel: (mode: Mode) =>
      mode === 'inline'
        ? 'Worker, in-process processor'
        : mode === 'sandboxed'
          ? 'Worker, sandboxed processor file (child processes)'
          : mode === 'threads'
            ? 'Worker, sandboxed processor file (worker threads)'
            : undefined,
    async enqueueOne(p) {
      await queue.add('noop', p);
    },
    async enqueueMany(ps) {
      await queue.addBulk(ps.map((data) => ({ name: 'noop', data })));
    },
    async startWorker(mode, concurrency, events) {
      if (mode === 'forked') throw new Error('BullMQ has no fork-per-task mode');
      const processor =
        mode === 'inline'
          ? async (job: { data: Payload }) => {
              record(job.data);
            }
          : SANDBOX_FILE;
      // The processor file is plain JavaScript, so BullMQ's children get plain Node: no TypeScript loader
      // inherited from the runner (which would add start-up time that BullMQ users don't pay).
      const worker = new Worker<Payload>(NAME, processor, {
        connection,
        concurrency,
        useWorkerThreads: mode === 'threads',
        workerForkOptions: { execArgv: [] },
      });
      worker.on('completed', () => events.completed());
      worker.on('failed', (_job, err) => events.failed(err));
      worker.on('error', (e) => console.error('[bullmq worker]', e));
      await worker.waitUntilReady();
      return { close: () => worker.close() };
    },
    close: () => queue.close(),
  };
  return system;
};
