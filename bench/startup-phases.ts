// npm run bench:startup — where the start-up of a PreforkedWorker goes, phase by phase, for 4 and 16 children.
// From spawning `node bench/startup-proc.mjs delayed N` (plain Node, the built package, as a user's worker.js):
//   runtime   the worker process reached user code (node's own boot)
//   imported  it loaded delayed-queue (the main entry point)
//   registered  the worker registered its lease in Redis
//   ready     the worker registered and its first child was ready: it takes tasks from now on
//   first child boot    the first child's runtime reached user code (Node's own start-up done)
//   child loaded  each child loaded the task module (first / last child)
//   child task  each child started its first task (first / last child): tasks wait beforehand, 20 ms each
//   worker CPU / children CPU   CPU time (user + system) the worker process and its children (summed) had used by
//                           then: what the start costs the machine, whatever else runs on it
// All in ms from the spawn, monotonic clock; the median over the repetitions, with min-max.
//   STARTUP_CHILDREN=4,16   children per worker          STARTUP_REPEAT=5   repetitions per size
//   STARTUP_BURN=n          n busy-loop processes run alongside ("with other load"); the 1-minute load is printed
//   STARTUP_BUILDS=before=/tmp/old,after=.   compare builds, interleaved run by run: each path a copy of the package
//                           with its dist/ built and this directory's startup-proc.mjs, startup-mark.cjs, tasks.mjs
//                           and record-run.mjs in its bench/ (default: this checkout alone)
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuilt } from './build.ts';
import { log, sleep } from './harness.ts';
import { reapStrays, recordDir } from './procfs.ts';
import { makePayload, monoMs } from './record.ts';
import { startRedis } from './redis.ts';

const HERE = fileURLToPath(new URL('..', import.meta.url));
const HOLD_MS = 20;
const PER_CHILD = 200;
const PHASES = [
  'runtime',
  'imported',
  'registered',
  'ready',
  'first child boot',
  'first child loaded',
  'last child loaded',
  'first child task',
  'last child task',
  'worker CPU',
  'children CPU',
] as const;
type Phase = (typeof PHASES)[number];

function readNumbers(path: string): number[] {
  return readFileSync(path, 'latin1')
    .split('\n')
    .map((line) => Number(line.trim().split(' ').pop()))
    .filter((n) => Number.isFinite(n) && n > 0);
}

/** What the record dir says so far: the marks of the worker, its children's boots, their first tasks. */
function phases(dir: string, workerPid: number, t0: number): { at: Partial<Record<Phase, number>>; tasks: number } {
  const at: Partial<Record<Phase, number>> = {};
  const boots: number[] = [];
  const loaded: number[] = [];
  const firstTasks: number[] = [];
  for (const file of readdirSync(dir)) {
    const path = `${dir}/${file}`;
    if (file === 'worker.marks') {
      for (const line of readFileSync(path, 'latin1').split('\n')) {
        const [what, ms] = line.split(' ');
        if (what === 'imported' || what === 'ready' || what === 'registered') at[what] = Number(ms) - t0;
      }
    } else if (file.endsWith('.boot')) {
      const [ms] = readNumbers(path);
      if (ms === undefined) continue;
      if (file === `${workerPid}.boot`) at.runtime = ms - t0;
      else boots.push(ms - t0);
    } else if (file.endsWith('.loaded')) {
      const [ms] = readNumbers(path);
      if (ms !== undefined) loaded.push(ms - t0);
    } else if (file.endsWith('.txt')) {
      // "seq latency" with t = 0: the latency is the monotonic time at which the task started.
      const first = readFileSync(path, 'latin1').split('\n', 1)[0] ?? '';
      const ms = Number(first.split(' ')[1]);
      if (Number.isFinite(ms) && first) firstTasks.push(ms - t0);
    }
  }
  if (boots.length > 0) at['first child boot'] = Math.min(...boots);
  if (loaded.length > 0) [at['first child loaded'], at['last child loaded']] = [Math.min(...loaded), Math.max(...loaded)];
  if (firstTasks.length > 0) [at['first child task'], at['last child task']] = [Math.min(...firstTasks), Math.max(...firstTasks)];
  return { at, tasks: firstTasks.length };
}

/** CPU time (user + system, ms) the processes used so far; 10 ms ticks. */
function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks * 10;
}

async function once(root: string, url: string, children: number): Promise<Partial<Record<Phase, number>>> {
  const dir = recordDir();
  const t0 = monoMs();
  const proc = spawn(
    process.execPath,
    ['-r', join(root, 'bench/startup-mark.cjs'), join(root, 'bench/startup-proc.mjs'), 'delayed', String(children), url],
    {
      env: { ...process.env, BENCH_RECORD_DIR: dir, BENCH_STARTUP_MARKS: '1' },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  try {
    const deadline = Date.now() + 60_000;
    let seen = phases(dir, proc.pid ?? 0, t0);
    while (seen.tasks < children && Date.now() < deadline && proc.exitCode === null) {
      await sleep(10);
      seen = phases(dir, proc.pid ?? 0, t0);
    }
    if (seen.tasks < children) throw new Error(`${seen.tasks} of ${children} children took a task within 60 s`);
    const childPids = readdirSync(dir)
      .filter((f) => f.endsWith('.boot') && f !== `${proc.pid}.boot`)
      .map((f) => Number(f.slice(0, -'.boot'.length)));
    return { ...seen.at, 'worker CPU': cpuMs([proc.pid ?? 0]), 'children CPU': cpuMs(childPids) };
  } finally {
    proc.kill('SIGTERM');
    await Promise.race([exited, sleep(15_000)]);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await reapStrays(dir);
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  }
}

function burners(n: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  log(ensureBuilt(log));
  const sizes = (process.env.STARTUP_CHILDREN ?? '4,16').split(',').map(Number);
  const repeat = Number(process.env.STARTUP_REPEAT ?? 5);
  const burn = burners(Number(process.env.STARTUP_BURN ?? 0));
  const redis = await startRedis();
  const { Queue } = await import('delayed-queue');
  const queue = new Queue({ name: 'bench', redis: redis.url });
  try {
    const builds = (process.env.STARTUP_BUILDS ?? `this checkout=${HERE}`).split(',').map((b) => {
      const [label, path] = b.includes('=') ? (b.split('=') as [string, string]) : [b, b];
      return { label, root: resolve(path) };
    });
    const lines: string[] = [];
    lines.push(`| build | children | load (1 min) | ${PHASES.join(' | ')} |`, `|---|---:|---:|${PHASES.map(() => '---:').join('|')}|`);
    for (const children of sizes) {
      const runs = new Map(builds.map((b) => [b, [] as Array<Partial<Record<Phase, number>>>]));
      const loads = new Map(builds.map((b) => [b, [] as number[]]));
      for (let rep = 1; rep <= repeat; rep++) {
        for (const build of rep % 2 ? builds : [...builds].reverse()) {
          await redis.admin.flushall();
          for (let i = 0; i < children * PER_CHILD; i += 1000) {
            const batch = [];
            for (let j = i; j < Math.min(children * PER_CHILD, i + 1000); j++)
              batch.push({ name: 'noop', args: [{ ...makePayload(j), t: 0, hold: HOLD_MS }] });
            await queue.enqueueMany(batch);
          }
          const load = os.loadavg()[0] ?? 0;
          loads.get(build)!.push(load);
          const at = await once(build.root, redis.url, children);
          runs.get(build)!.push(at);
          log(
            `${build.label}, ${children} children, rep ${rep} (load ${load.toFixed(1)}): ${PHASES.map((p) => `${p} ${Math.round(at[p] ?? NaN)}`).join(', ')}`,
          );
        }
      }
      for (const build of builds) {
        const cell = (p: Phase) => {
          const xs = runs
            .get(build)!
            .map((r) => r[p] ?? NaN)
            .filter(Number.isFinite);
          return `${Math.round(median(xs))} (${Math.round(Math.min(...xs))}-${Math.round(Math.max(...xs))})`;
        };
        const ls = loads.get(build)!;
        lines.push(
          `| ${build.label} | ${children} | ${Math.min(...ls).toFixed(1)}-${Math.max(...ls).toFixed(1)} | ${PHASES.map(cell).join(' | ')} |`,
        );
      }
    }
    console.log(
      `\nms from spawning the worker process, median (min-max) of ${repeat}; ${burn.length} busy-loop processes alongside; ${os.cpus().length} CPUs\n`,
    );
    console.log(lines.join('\n'));
  } finally {
    for (const b of burn) b.kill('SIGKILL');
    await queue.close();
    await redis.stop();
  }
}

await main();
