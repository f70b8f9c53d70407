// BullMQ's sandboxed processor: BullMQ forks child processes that import this file.
// Plain JavaScript on purpose (no TypeScript loader in BullMQ's children); it records exactly what
// bench/tasks.mjs does in delayed-queue's children: "seq latencyMs" per run, one file per pid, opened once
// per process, one write(2) per record.
import { openSync, writeSync } from 'node:fs'
import { join } from 'node:path'

let fd = -1
let fdPath = ''

export default async function noop(job) {
  const latency = Number(process.hrtime.bigint()) / 1e6 - job.data.t
  const path = join(process.env.BENCH_RECORD_DIR, `${process.pid}.txt`)
  if (path !== fdPath) {
    fd = openSync(path, 'a')
    fdPath = path
  }
  writeSync(fd, `${job.data.seq} ${latency.toFixed(3)}\n`)
}
