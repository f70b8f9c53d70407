// Preloaded (`node -r`) into the children of the start-up phase benchmark (bench/startup-phases.ts): records
// when the child's Node runtime reached user code, before the child's own entry point loads. CommonJS, so the
// mark costs no ESM loader of its own. Writes "<monotonic ms>" to BENCH_RECORD_DIR/<pid>.boot
// (bench/tasks.mjs writes <pid>.loaded when a child has loaded it).
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const dir = process.env.BENCH_RECORD_DIR;
if (dir) writeFileSync(join(dir, `${process.pid}.boot`), `${Number(process.hrtime.bigint()) / 1e6}\n`);
