// delayed-queue's benchmark task: a no-op that only records that it ran. Plain JavaScript importing the built
// package, as a user's task module would be: PreforkedWorker / ForkedWorker children import it with plain Node
// (no TypeScript loader), and the in-process worker loads the same file.
// record() is bench/record.ts's, written out again here (this file must not import TypeScript): in a process
// that installed a sink it lands in memory, otherwise "seq latencyMs" is appended to BENCH_RECORD_DIR/<pid>.txt
// (opened once per process; each record is one write(2), in the file even if the process is killed right after).
import { openSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { defineTask } from 'delayed-queue'

const SINK = Symbol.for('delayed-queue.bench.sink')
let fd = -1
let fdPath = ''

function record(p) {
  const latency = Number(process.hrtime.bigint()) / 1e6 - p.t
  const sink = globalThis[SINK]
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

export const noop = defineTask('noop', (p) => {
  record(p)
})
