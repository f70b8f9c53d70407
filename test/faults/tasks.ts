// Tasks for the fault-injection suite. Each writes what it does to the ledger (a folder of append-only files,
// one per process, that no fault touches): `start` when a run begins, `tick` while it runs (some), `end`
// when it is done. The first argument of every task is the ledger folder.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
// The light entry point, as the README tells task modules to import (`delayed-queue/task`): no Redis client and
// not the whole package in every child.
import { defineTask, taskContext } from '../../src/task-entry.ts';
import { writeLedger } from './ledger.ts';

// FQ_SLOW_LOAD_MS: this module takes that long to load, as one with heavy imports would (children load it).
if (Number(process.env.FQ_SLOW_LOAD_MS ?? 0) > 0) await sleep(Number(process.env.FQ_SLOW_LOAD_MS));

function note(dir: string, event: string, extra = ''): void {
  const context = taskContext();
  writeLedger(dir, event, context?.id ?? '?', context?.attempt ?? -1, extra);
}

/** Runs for `ms`, then returns `ms`. With `tickMs` > 0 it also writes a `tick` every `tickMs`. */
export const work = defineTask('work', async (dir: string, ms: number, tickMs?: number) => {
  note(dir, 'start');
  if (tickMs !== undefined && tickMs > 0) {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      await sleep(Math.min(tickMs, Math.max(0, until - Date.now())));
      note(dir, 'tick');
    }
  } else if (ms > 0) {
    await sleep(ms);
  }
  note(dir, 'end');
  return ms;
});

/** A busy loop that never yields (only a hard timeout ends it). */
export const loopForever = defineTask('loopForever', (dir: string) => {
  note(dir, 'start');
  for (;;) {
    // never yields
  }
});

/** Calls process.exit(code) before it returns. */
export const exitWith = defineTask('exitWith', (dir: string, code: number) => {
  note(dir, 'start');
  process.exit(code);
});

/** SIGKILLs the worker process that runs it, then keeps going as an orphan would. */
export const killOwnParent = defineTask('killOwnParent', (dir: string) => {
  note(dir, 'start');
  process.kill(process.ppid, 'SIGKILL');
  for (;;) {
    // spin until the watchdog ends this process group
  }
});

/** Starts a grandchild (same process group), writes its pid, then hangs. */
export const spawnAndHang = defineTask('spawnAndHang', async (dir: string) => {
  note(dir, 'start');
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  note(dir, 'grandchild', String(child.pid));
  await new Promise(() => undefined);
});

/** Allocates until the heap limit kills the process. */
export const allocateForever = defineTask('allocateForever', (dir: string) => {
  note(dir, 'start');
  const hold: number[][] = [];
  for (;;) hold.push(new Array(1e5).fill(Math.random()));
});

/** Throws a value that is not an Error. */
export const throwNonError = defineTask('throwNonError', (dir: string) => {
  note(dir, 'start');
  throw { not: 'an error', code: 42 };
});

/** Reports whether Object.prototype was polluted by the arguments it got; the result names what it saw. */
export const inspectArgs = defineTask('inspectArgs', (dir: string, value: unknown) => {
  const polluted = ({} as Record<string, unknown>).polluted !== undefined || Object.hasOwn(Object.prototype, 'polluted');
  note(dir, 'start', polluted ? 'polluted' : 'clean');
  note(dir, 'end');
  return { polluted, kind: typeof value };
});
