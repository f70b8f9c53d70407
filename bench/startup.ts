// i. Start-up of a kept-child worker: from starting a worker process (plain `node bench/startup-proc.mjs`) to the
// moment each of its `concurrency` children has started a task. Tasks are waiting before the process starts,
// and each holds its child 20 ms, so the first children cannot drain the queue before the last one is ready.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fail, getRow, log, push, sleep, withSystem, type Ctx } from './harness.ts';
import { reapStrays, recordDir } from './procfs.ts';
import { makePayload, monoMs, type Payload } from './record.ts';
import { scenario, type Scenario } from './scenarios.ts';
import type { System } from './systems/types.ts';

const PROC = fileURLToPath(new URL('./startup-proc.mjs', import.meta.url));
const HOLD_MS = 20;
const PER_CHILD = 200;

/** The first start time (monotonic ms) of each child that recorded a task, by pid. */
function firstStarts(dir: string): number[] {
  const starts: number[] = [];
  for (const file of readdirSync(dir)) {
    const first = readFileSync(`${dir}/${file}`, 'latin1').split('\n', 1)[0] ?? '';
    const at = Number(first.split(' ')[1]);
    if (first && Number.isFinite(at)) starts.push(at);
  }
  return starts;
}

async function enqueueHeld(s: System, n: number): Promise<void> {
  for (let i = 0; i < n; i += 1000) {
    const batch: Payload[] = [];
    // t = 0: the handler's recorded "latency" is then the monotonic time at which it started.
    for (let j = i; j < Math.min(n, i + 1000); j++) batch.push({ ...makePayload(j), t: 0, hold: HOLD_MS });
    await s.enqueueMany(batch);
  }
}

/** Starts a worker process, waits until `concurrency` children have started a task, stops it. */
async function startOnce(ctx: Ctx, id: string, concurrency: number): Promise<{ all: number; first: number; problem?: string }> {
  const dir = recordDir();
  const t0 = monoMs();
  const proc = spawn(process.execPath, [PROC, id, String(concurrency), ctx.conn.url], {
    env: { ...process.env, BENCH_RECORD_DIR: dir },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  try {
    const deadline = Date.now() + ctx.cfg.stallMs;
    let starts = firstStarts(dir);
    while (starts.length < concurrency && Date.now() < deadline && proc.exitCode === null) {
      await sleep(10);
      starts = firstStarts(dir);
    }
    if (starts.length < concurrency) {
      return { all: NaN, first: NaN, problem: `${starts.length} of ${concurrency} children took a task within ${ctx.cfg.stallMs} ms` };
    }
    return { all: Math.max(...starts) - t0, first: Math.min(...starts) - t0 };
  } finally {
    proc.kill('SIGTERM');
    await Promise.race([exited, sleep(15_000)]);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await reapStrays(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

export function startup(ctx: Ctx): Scenario {
  const sc = scenario('i', 'Start-up of a worker process with kept child processes', [
    { key: 'all', label: 'ms to all children taking tasks', better: 'lower', digits: 0, ratio: true },
    { key: 'first', label: 'ms to 1st task', better: 'lower', digits: 0, ratio: false },
  ]);
  sc.notes.push(
    `From spawning \`node bench/startup-proc.mjs\` (plain Node, the built package / BullMQ, library defaults, the same no-op handlers as c) to the moment the last of its children starts its first task; ${PER_CHILD} tasks per child wait in the queue beforehand, each holding its child ${HOLD_MS} ms, so every child finds work when it is ready. Includes loading the worker process itself and connecting to Redis.`,
  );
  return {
    result: sc,
    rep: async (rep: number) => {
      for (const concurrency of [4, 16]) {
        for (const sys of ctx.systems) {
          const label = sys.label('sandboxed');
          if (!label) continue;
          const row = getRow(sc, sys, label, `concurrency ${concurrency}`);
          await withSystem(ctx, sys, async (s) => {
            await enqueueHeld(s, concurrency * PER_CHILD);
            const out = await startOnce(ctx, sys.id, concurrency);
            if (out.problem) fail(row, rep, out.problem);
            push(row, 'all', out.all);
            push(row, 'first', out.first);
            log(
              `[i] ${sys.name} c=${concurrency} rep ${rep}: all children taking tasks ${Math.round(out.all)} ms, first ${Math.round(out.first)} ms`,
            );
          });
        }
      }
    },
  };
}
