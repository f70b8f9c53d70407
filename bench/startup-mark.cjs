// Preloaded (`node -r`) into the children of the start-up phase benchmark (bench/startup-phases.ts): records
// when the child's Node runtime reached user code, before the child's own entry point loads. CommonJS, so the
// mark costs no ESM loader of its own. Writes "<monotonic ms>" to BENCH_RECORD_DIR/<pid>.boot
// (bench/tasks.mjs writes <pid>.loaded when a child has loaded it).
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const { isMainThread } = require('node:worker_threads');

const dir = process.env.BENCH_RECORD_DIR;
// Threads run the preloads too (a build whose watchdog is a thread would overwrite the mark).
if (dir && isMainThread) writeFileSync(join(dir, `${process.pid}.boot`), `${Number(process.hrtime.bigint()) / 1e6}\n`);
