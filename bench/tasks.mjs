// delayed-queue's benchmark task: a no-op that only records that it ran. Plain JavaScript importing the built
// package, as a user's task module would be: PreforkedWorker / ForkedWorker children import it with plain Node
// (no TypeScript loader), and the in-process worker loads the same file.
import { record } from './record-run.mjs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineTask, taskContext } from 'delayed-queue/task';

// The start-up phase benchmark (bench/startup-phases.ts): a child notes when it has loaded its task modules.
if (process.env.BENCH_STARTUP_MARKS === '1' && process.send) {
  writeFileSync(join(process.env.BENCH_RECORD_DIR, `${process.pid}.loaded`), `${Number(process.hrtime.bigint()) / 1e6}\n`);
}

export const noop = defineTask('noop', (p) => {
  record(p);
  // Only the start-up scenario (bench/startup.ts) sets hold; bench/sandbox-processor.js does the same.
  if (p.hold) return new Promise((resolve) => setTimeout(resolve, p.hold));
});

// The per-feature cost scenario (bench/features.ts): a no-op that reports progress once.
export const noopProgress = defineTask('noopProgress', (p) => {
  record(p);
  taskContext()?.progress(1);
});
