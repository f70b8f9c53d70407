// A standalone sweeper (optional: every worker also sweeps).  Run: npx tsx examples/sweeper.ts
import { Sweeper } from 'delayed-queue';
import { queue } from './queue.ts';

const sweeper = new Sweeper({ queue });
const running = sweeper.run(); // stops on SIGTERM / SIGINT from here on
console.log(`sweeping queue ${queue.name}`);
await running;
await queue.close();
