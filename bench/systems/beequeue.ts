// Bee-Queue adapter: Job.save / Queue.saveAll; Queue.process(concurrency, handler) in-process.
// All settings are Bee-Queue's defaults (storeJobs, getEvents, sendEvents on; removeOnSuccess: false).
// Bee-Queue has no child-process mode.
import BeeQueue from 'bee-queue';
import { record, type Payload } from '../record.ts';
import type { Mode, System, SystemFactory } from './types.ts';

const NAME = 'bench';

export const open: SystemFactory = async ({ host, port }) => {
  const producer = new BeeQueue<Payload>(NAME, { redis: { host, port } });
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
      const worker = new BeeQueue<Payload>(NAME, { redis: { host, port } });
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
