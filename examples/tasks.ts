// Tasks are defined once, in a module the workers load. The handle keeps the argument types.
import { setTimeout as sleep } from 'node:timers/promises';
import { defineTask, taskContext } from 'delayed-queue/task';

export const add = defineTask('add', (a: number, b: number) => a + b);

export const resize = defineTask('resize', async (url: string, width: number) => {
  await sleep(50); // pretend to work
  return { url, width, by: process.pid, attempt: taskContext()?.attempt };
});
