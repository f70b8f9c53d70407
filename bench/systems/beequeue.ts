// Bee-Queue adapter: Job.save / Queue.saveAll; Queue.process(concurrency, handler) in-process.
// Settings (PEER_SETTINGS): 'tuned', as Bee-Queue's README describes its settings for saving Redis work and
// memory: the producer with isWorker, getEvents, sendEvents and storeJobs off; the worker with getEvents,
// sendEvents and storeJobs off and removeOnSuccess on (the worker's own 'succeeded' event, which the bench
// counts, is local and stays). 'defaults': all of those as they come (on, and removeOnSuccess: false).
// Bee-Queue has no child-process mode.
import BeeQueue from 'bee-queue';
import { record, type Payload } from '../record.ts';
import { type Mode, PEER_SETTINGS, type System, type SystemFactory } from './types.ts';

const TUNED = PEER_SETTINGS === 'tuned';
const PRODUCER = TUNED ? { isWorker: false, getEvents: false, sendEvents: false, storeJobs: false } : {};
const WORKER = TUNED ? { getEvents: false, sendEvents: false, storeJobs: false, removeOnSuccess: true } : {};

const NAME = 'bench';

export const open: SystemFactory = async ({ host, port }) => {
  const producer = new BeeQueue<Payload>(NAME, { redis: { host, port }, ...PRODUCER });
  producer.on('error', (e) => console.error('[bee-queue producer]', e));
  await producer.ready();

  const system: System = {
    name: 'Bee-Queue',
    peer: true,
    api: { one: 'Job.save()', many: 'Queue.saveAll()' },
    modeLabel: (mode: Mode) => (mode === 'inline' ? 'Queue.process()' : undefined),
    async enqueueOne(p) {
      await producer.createJob(p).save();
    },
    async enqueueMany(ps) {
      const errors = await producer.saveAll(ps.map((p) => producer.createJob(p)));
      if (errors.size > 0) throw new Error(`saveAll: ${errors.size} jobs failed, e.g. ${[...errors.values()][0]}`);
    },
    async startWorker(mode, concurrency, events) {
      if (mode !== 'inline') throw new Error('Bee-Queue has no child-process mode');
      const worker = new BeeQueue<Payload>(NAME, { redis: { host, port }, ...WORKER });
      worker.on('succeeded', () => events.completed());
      worker.on('failed', (_job, err) => events.failed(err));
      worker.on('error', (e) => console.error('[bee-queue worker]', e));
      worker.process(concurrency, async (job) => {
        record(job.data);
      });
      await worker.ready();
      return { close: () => worker.close() };
    },
    close: () => producer.close(),
  };
  return system;
};
