// What the benchmark reads from /proc (Linux): the processes of a drain (found by the record dir in their
// environment), their command lines and CPU time; waiting for them to idle or to be gone.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from './harness.ts';

export function recordDir(): string {
  return mkdtempSync(join(tmpdir(), 'delayed-bench-records-'));
}

/** Processes (other than this one) whose environment names this record dir: the workers' children. */
export function processesWithDir(dir: string): number[] {
  const needle = `BENCH_RECORD_DIR=${dir}\0`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if ((readFileSync(`/proc/${pid}/environ`, 'latin1') + '\0').includes(needle)) pids.push(pid);
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

/** The command lines of the child processes of a drain (the workers' children; not drain-proc.ts itself). */
export function childCommandLines(dir: string): string[] {
  const lines = new Set<string>();
  for (const pid of processesWithDir(dir)) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      // The worker process itself, tsx's esbuild service beside it, and a child not yet past exec (no argv).
      if (argv.some((a) => a.endsWith('drain-proc.ts')) || argv.some((a) => a.startsWith('--service=')) || argv.length < 2) continue;
      lines.add(['node', ...argv.slice(1)].join(' '));
    } catch {
      // gone
    }
  }
  return [...lines];
}

/** CPU time (s) used so far by the given processes. */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // gone
    }
  }
  return ticks / 100;
}

/**
 * Waits (max 30 s) until the worker's child processes are idle: together under 10% of a core for 500 ms.
 * Run between the first and the warm batch, so that "warm" does not include children still starting.
 */
export async function settle(dir: string): Promise<void> {
  if (process.platform !== 'linux') return;
  for (let i = 0; i < 60; i++) {
    const pids = processesWithDir(dir);
    const before = cpuSeconds(pids);
    await sleep(500);
    if (cpuSeconds(pids) - before < 0.05) return;
  }
}

/** Waits for the children of a drain to be gone (max 15 s), then kills stragglers by pid. Returns how many. */
export async function reapStrays(dir: string): Promise<number> {
  if (process.platform !== 'linux') return 0;
  for (let i = 0; i < 60; i++) {
    if (processesWithDir(dir).length === 0) return 0;
    await sleep(250);
  }
  const left = processesWithDir(dir);
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  return left.length;
}
