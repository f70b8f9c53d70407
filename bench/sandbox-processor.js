// BullMQ's sandboxed processor: BullMQ forks child processes that import this file.
// Plain JavaScript on purpose (no TypeScript loader in BullMQ's children); it records with the same record()
// as delayed-queue's children (bench/record-run.mjs).
import { record } from './record-run.mjs';

export default async function noop(job) {
  record(job.data);
  // Only the start-up scenario (bench/startup.ts) sets hold; bench/tasks.mjs does the same.
  if (job.data.hold) await new Promise((resolve) => setTimeout(resolve, job.data.hold));
}
