/**
 * The sample task of `delayed demo`. Each run sleeps a little (the "work"), then counts itself in a Redis
 * hash under a demo-only key (task id → runs), so the demo can tell completed, lost and run-twice tasks apart.
 * The demo gives the Redis URL through DELAYED_DEMO_REDIS (children inherit the worker's environment) and
 * deletes the hash when it ends.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { defineTask, taskContext } from '../../index.ts';

let redis: Redis | undefined;

function ledger(): Redis {
  redis ??= new Redis(process.env.DELAYED_DEMO_REDIS ?? 'redis://127.0.0.1:6379', {
    maxRetriesPerRequest: null,
    connectionName: 'delayed-demo:task',
  });
  return redis;
}

/** Works for `ms` milliseconds, then records the run in the hash `ledgerKey`. */
export const work = defineTask('demo.work', async (ledgerKey: string, ms: number) => {
  await sleep(ms);
  const id = taskContext()?.id ?? 'unknown';
  await ledger().hincrby(ledgerKey, id, 1);
  return id;
});
