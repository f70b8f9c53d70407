// BullMQ's sandboxed processor for the chaos benchmark (bench/chaos.ts): BullMQ's child processes import it.
import { work } from './chaos-work.mjs';

export default async function chaosWork(job) {
  await work(job.data, job.attemptsMade + 1);
}
