// CPU per task in preforked children, measured without Redis: forks N copies of the built `dist/child.js`
// (as ChildPool does: detached, IPC, the same init message), loads bench/tasks.mjs, and keeps every child busy
// with no-op tasks, one at a time each, for a fixed number of tasks. Prints µs of CPU per task in the children
// (summed over all their threads, from /proc/<pid>/task/*/schedstat, ns resolution) and in this process (the
// parent's side of the IPC), and the time from fork to every child ready.
//   npx tsx bench/child-cpu.ts [children=8] [tasks=20000] [floor|threads]
// `floor` forks a minimal child instead (parses the arguments, calls record(), answers): Node's IPC and the task alone.
// `threads` starts the same minimal runner as worker threads of this process (postMessage instead of a pipe): what a
// worker-thread mode would cost per task at best. Its CPU is this whole process' (threads and parent together).
// CHILD_CPU_FLAGS="--flag …" passes Node/V8 flags to the children (NODE_OPTIONS refuses most V8 flags). CHILD_CPU_SERIALIZATION=advanced uses Node's structured-clone IPC instead of JSON; CHILD_CPU_RSS=1 asks the children for their RSS after each task (as with maxRssBytes); CHILD_CPU_PROF=dir passes --cpu-prof --cpu-prof-dir=dir to the children.
import { fork, type ChildProcess } from 'node:child_process';
import { Worker as Thread } from 'node:worker_threads';
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const children = Number(process.argv[2] ?? 8);
const tasks = Number(process.argv[3] ?? 20_000);
const mode = process.argv[4] === 'floor' || process.argv[4] === 'threads' ? process.argv[4] : 'child.js';
const floor = mode === 'floor';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TASKS = new URL('./tasks.mjs', import.meta.url).href;
/** The bare echo (parse the arguments, `record()`, answer) over a child's IPC channel or a thread's port. */
function echo(port: 'process' | 'parentPort', exit: string): string {
  return `${port === 'parentPort' ? "import { parentPort } from 'node:worker_threads';\n" : ''}import { record } from ${JSON.stringify(new URL('./record-run.mjs', import.meta.url).href)};
${port}.on('message', (m) => {
  if (m.t === 'init') ${port === 'process' ? 'process.send' : 'parentPort.postMessage'}({ t: 'ready', names: ['noop'] });
  else if (m.t === 'run') {
    record(JSON.parse(m.args)[0]);
    ${port === 'process' ? 'process.send' : 'parentPort.postMessage'}({ t: 'done', ok: true, value: undefined, rss: 0 });
  } else ${exit};
});`;
}
const FLOOR = echo('process', 'process.exit(0)');
const THREAD = echo('parentPort', 'parentPort.close()');

/** ns of CPU used so far by every thread of `pid`. */
function cpuNs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').split(' ')[0]);
    } catch {
      // thread gone
    }
  }
  return ns;
}

const dir = mkdtempSync(join(tmpdir(), 'child-cpu-'));
const floorFile = join(dir, 'floor.mjs');
writeFileSync(floorFile, FLOOR);
const threadFile = join(dir, 'thread.mjs');
writeFileSync(threadFile, THREAD);
const script = floor ? floorFile : (process.env.CHILD_SCRIPT ?? join(ROOT, 'dist/child.js'));
const prof = process.env.CHILD_CPU_PROF;
const execArgv = [
  ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []),
  ...(process.env.CHILD_CPU_FLAGS?.split(' ').filter(Boolean) ?? []),
];

interface Kid {
  send(message: object): void;
  stopped: Promise<unknown>;
  pid: number | undefined; // undefined for a thread
  next: (() => void) | undefined;
}

function forkChild(): Kid {
  const proc: ChildProcess = fork(script, [], {
    detached: true,
    execArgv,
    // fd 4 the lifeline, fd 5 the receipts file (src/child-protocol.ts), as src/child-process.ts gives them.
    stdio: ['ignore', 'inherit', 'inherit', 'ipc', 'pipe', receiptsFile()],
    serialization: process.env.CHILD_CPU_SERIALIZATION === 'advanced' ? 'advanced' : 'json',
    env: { ...process.env, BENCH_RECORD_DIR: dir },
  });
  // Once the child is gone, close our end of its lifeline (its watchdog shell then goes too): an open pipe
  // would keep this process alive.
  const stopped = new Promise((r) => proc.once('exit', r)).then(() => (proc.stdio[4] as { destroy(): void } | null)?.destroy());
  const kid: Kid = { send: (m) => proc.send(m), stopped, pid: proc.pid, next: undefined };
  proc.on('message', () => kid.next?.());
  return kid;
}

function startThread(): Kid {
  process.env.BENCH_RECORD_DIR = dir;
  const thread = new Thread(threadFile);
  const stopped = new Promise((r) => thread.once('exit', r));
  const kid: Kid = { send: (m) => thread.postMessage(m), stopped, pid: undefined, next: undefined };
  thread.on('message', () => kid.next?.());
  return kid;
}

function once(kid: Kid): Promise<void> {
  return new Promise((resolve) => {
    kid.next = resolve;
  });
}

/** An unlinked file opened for appending, as a child's receipts (src/child-process.ts). */
function receiptsFile(): number {
  const path = join(tmpdir(), `bench-receipts-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const fd = openSync(path, 'a');
  unlinkSync(path);
  return fd;
}

async function main(): Promise<void> {
  const load = loadavg()[0]?.toFixed(2);
  const t0 = performance.now();
  const kids: Kid[] = [];
  const ready: Promise<void>[] = [];
  for (let i = 0; i < children; i++) {
    const kid = mode === 'threads' ? startThread() : forkChild();
    kids.push(kid);
    ready.push(once(kid));
    kid.send({ t: 'init', modules: [TASKS], rss: process.env.CHILD_CPU_RSS === '1' });
  }
  await Promise.all(ready);
  const startMs = performance.now() - t0;
  // Warm-up, then the measured batch.
  const drive = async (count: number) => {
    let seq = 0;
    await Promise.all(
      kids.map(async (kid) => {
        while (seq < count) {
          const args = JSON.stringify([{ seq: seq++, t: Number(process.hrtime.bigint()) / 1e6, pad: 'x'.repeat(60) }]);
          const done = once(kid);
          kid.send({ t: 'run', id: `id.${seq}`, name: 'noop', attempt: 0, args });
          await done;
        }
      }),
    );
  };
  await drive(Math.min(2000, tasks / 5));
  const pids = kids.flatMap((k) => (k.pid === undefined ? [] : [k.pid]));
  const before = pids.reduce((s, p) => s + cpuNs(p), 0);
  const parentBefore = process.cpuUsage();
  const w0 = performance.now();
  await drive(tasks);
  const wallMs = performance.now() - w0;
  const childUs = (pids.reduce((s, p) => s + cpuNs(p), 0) - before) / 1e3 / tasks;
  const parent = process.cpuUsage(parentBefore);
  const parentUs = (parent.user + parent.system) / tasks;
  const threads = pids.map((p) => readdirSync(`/proc/${p}/task`).length);
  for (const kid of kids) kid.send({ t: 'exit' });
  await Promise.all(kids.map((k) => k.stopped));
  rmSync(dir, { recursive: true, force: true });
  // For threads, the parent's figure is the whole process (its threads included): it is also the total.
  const totalUs = mode === 'threads' ? parentUs : childUs + parentUs;
  const where =
    mode === 'threads'
      ? `process (threads and parent) ${parentUs.toFixed(1)} µs/task`
      : `child ${childUs.toFixed(1)} µs/task, parent ${parentUs.toFixed(1)} µs/task`;
  console.log(
    `${mode} children=${children} tasks=${tasks}: ${where}, total ${totalUs.toFixed(1)} µs/task, ` +
      `${Math.round(tasks / (wallMs / 1000))} tasks/s, all ready in ${Math.round(startMs)} ms, threads/child ${threads[0] ?? '-'}, load ${load}`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
