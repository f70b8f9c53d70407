// How handlers report that they ran. Every handler, in every system and mode, calls record(payload)
// first thing. In a process that installed a sink (the bench runner, drain-proc.ts) it lands in memory;
// in a child process a worker forked for its tasks it is appended to BENCH_RECORD_DIR/<pid>.txt. Children
// run plain JavaScript, so bench/tasks.mjs (delayed-queue) and bench/sandbox-processor.js (BullMQ) carry
// their own copy of record(); keep the three the same.
// Each record is "seq latencyMs": latency from the producer's stamp to handler start.
import { openSync, writeSync } from 'node:fs'
import { join } from 'node:path'

export interface Payload {
  seq: number
  /** Monotonic clock (ms, CLOCK_MONOTONIC is shared by all processes on the machine) when enqueued. */
  t: number
  pad: string
}

export type Sink = (seq: number, latencyMs: number) => void
const SINK = Symbol.for('delayed-queue.bench.sink')

export const monoMs = (): number => Number(process.hrtime.bigint()) / 1e6

export function installSink(sink: Sink | undefined): void {
  ;(globalThis as Record<symbol, unknown>)[SINK] = sink
}

let fd = -1
let fdPath = ''

export function record(p: Payload): void {
  const latency = monoMs() - p.t
  const sink = (globalThis as Record<symbol, unknown>)[SINK] as Sink | undefined
  if (sink) return sink(p.seq, latency)
  const dir = process.env.BENCH_RECORD_DIR
  if (!dir) throw new Error('record(): no sink installed and BENCH_RECORD_DIR unset')
  const path = join(dir, `${process.pid}.txt`)
  if (path !== fdPath) {
    fd = openSync(path, 'a')
    fdPath = path
  }
  writeSync(fd, `${p.seq} ${latency.toFixed(3)}\n`)
}

const PAD = 'x'.repeat(64)
/** The same ~100-byte JSON payload for every system. */
export function makePayload(seq: number): Payload {
  return { seq, t: monoMs(), pad: PAD.slice(0, 64 - String(seq).length) }
}
