// Worker: runs tasks in preforked child processes until SIGTERM / Ctrl-C.  Run: npx tsx examples/worker.ts
import { PreforkedWorker } from 'delayed-queue';
import { queue } from './queue.ts';

const worker = new PreforkedWorker({
  queue,
  tasks: [new URL('./tasks.ts', import.meta.url)],
  concurrency: 2,
  successHandler: (task, result) => console.log(`task ${task.id} (${task.name}) finished:`, result),
  errorHandler: (task, failure) => console.error(`task ${task.id} (${task.name}) failed: ${failure.reason}: ${failure.message}`),
});
await worker.run(); // resolves after SIGTERM / SIGINT, once running tasks finished or were put back
await queue.close();
