// What `Worker.terminate()` stops: the question behind "a worker-thread mode?" (issue 16). Runs five kinds of
// stuck task in a worker thread, calls terminate() 300 ms later and prints how long it took, and whether a
// process the task started is still alive afterwards.
//   node bench/thread-terminate.mjs
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

const dir = mkdtempSync(join(tmpdir(), 'thread-terminate-'));
const fifo = join(dir, 'fifo');
const pidFile = join(dir, 'grandchild.pid');
execFileSync('mkfifo', [fifo]);

const GIVE_UP_MS = 5_000;
const STUCK = [
  ['a JavaScript loop: while (true) {}', 'for (;;) {}'],
  ['Atomics.wait for 3 s', 'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000)'],
  ["a synchronous child process: execSync('sleep 3')", "require('node:child_process').execSync('sleep 3')"],
  ['a synchronous read that never returns (a FIFO nobody writes)', `require('node:fs').readFileSync(${JSON.stringify(fifo)})`],
  [
    'a loop after starting a process of its own (sleep 30)',
    `const c = require('node:child_process').spawn('sleep', ['30'], { stdio: 'ignore' });
     require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(c.pid));
     for (;;) {}`,
  ],
];

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

console.log('| stuck task | terminate() took | afterwards |');
console.log('|---|---:|---|');
for (const [what, source] of STUCK) {
  const thread = new Worker(source, { eval: true });
  thread.on('error', () => undefined);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const start = performance.now();
  const ended = await Promise.race([
    thread.terminate().then(() => true),
    new Promise((resolve) => setTimeout(resolve, GIVE_UP_MS, false).unref()),
  ]);
  const took = ended ? `${Math.round(performance.now() - start)} ms` : `not ended after ${GIVE_UP_MS / 1000} s`;
  let after = ended ? 'thread gone' : 'thread still running';
  if (source.includes(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8'));
    after += alive(pid) ? `; the process it started (pid ${pid}) still runs` : '; the process it started is gone';
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  console.log(`| ${what} | ${took} | ${after} |`);
}

// The same blocked read in a process of its own that then calls process.exit(): does the process end?
const exiting = `const { Worker } = require('node:worker_threads');
new Worker("require('node:fs').readFileSync(${JSON.stringify(fifo).replaceAll('"', '\\"')})", { eval: true });
setTimeout(() => process.exit(0), 300);`;
const start = performance.now();
const run = spawnSync(process.execPath, ['-e', exiting], { timeout: GIVE_UP_MS, killSignal: 'SIGKILL' });
const took = run.signal === 'SIGKILL' ? `not ended after ${GIVE_UP_MS / 1000} s` : `${Math.round(performance.now() - start - 300)} ms`;
console.log(
  `| the same read, then process.exit() in the main thread | ${took} | ${run.signal === 'SIGKILL' ? 'ended only by SIGKILL' : 'process gone'} |`,
);

// Only an outside event unblocks the read: open the FIFO for writing and close it (the reader sees its end).
closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
rmSync(dir, { recursive: true, force: true });
