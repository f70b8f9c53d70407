// A standalone sweeper (optional: every worker also sweeps).  Run: npx tsx examples/sweeper.ts
import { Sweeper } from 'delayed-queue';
import { queue } from './queue.ts';

await new Sweeper({ queue }).run();
await queue.close();
