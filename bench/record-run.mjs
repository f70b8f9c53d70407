// record(): how every handler, in every system and mode, reports that it ran: first thing, record(payload).
// Plain JavaScript, so that the children of both systems (plain Node, no TypeScript loader) import the very
// same function as the runner: bench/tasks.mjs (delayed-queue), bench/sandbox-processor.js (BullMQ) and
// bench/record.ts (everything else).
// In a process that installed a sink (the runner, drain-proc.ts) the record lands in memory; otherwise
// "seq latencyMs" is appended to BENCH_RECORD_DIR/<pid>.txt, opened once per process, one write(2) per
// record (so it is in the file even if the process is killed right after).
import { openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const SINK = Symbol.for('delayed-queue.bench.sink');

/** Monotonic clock, ms (CLOCK_MONOTONIC is shared by all processes on the machine). */
export const monoMs = () => Number(process.hrtime.bigint()) / 1e6;

let fd = -1;
let fdPath = '';

export function record(p) {
  const latency = monoMs() - p.t;
  const sink = globalThis[SINK];
  if (sink) return sink(p.seq, latency);
  const dir = process.env.BENCH_RECORD_DIR;
  if (!dir) throw new Error('record(): no sink installed and BENCH_RECORD_DIR unset');
  const path = join(dir, `${process.pid}.txt`);
  if (path !== fdPath) {
    fd = openSync(path, 'a');
    fdPath = path;
  }
  writeSync(fd, `${p.seq} ${latency.toFixed(3)}\n`);
}
