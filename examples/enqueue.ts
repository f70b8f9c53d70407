// Producer: enqueue a few tasks and exit.  Run: npx tsx examples/enqueue.ts
import { queue } from './queue.ts';
import { add, resize } from './tasks.ts';

const ids = [
  await add.delay(queue, 1, 2), // enqueue; resolves with the task id once Redis has it
  await add.timeout(10_000).delay(queue, 3, 4), // with a per-call timeout, in ms
  await queue.delay(resize)('https://example.com/cat.png', 640), // queue-bound form
  await queue.enqueue('add', [5, 6], { timeoutMs: 5_000 }), // by name, for dynamic producers
];
console.log(`enqueued ${ids.join(' ')}`);
console.log(`add(1, 2) called directly runs now: ${add(1, 2)}`);
await queue.close();
