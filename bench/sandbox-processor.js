// BullMQ's sandboxed processor: BullMQ forks child processes that import this file.
// Plain JavaScript on purpose (no TypeScript loader in BullMQ's children); it records exactly
// what bench/record.ts's record() does in a child process: "seq latencyMs" per run, one file per pid.
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'

export default async function noop(job) {
  const latency = Number(process.hrtime.bigint()) / 1e6 - job.data.t
  appendFileSync(join(process.env.BENCH_RECORD_DIR, `${process.pid}.txt`), `${job.data.seq} ${latency.toFixed(3)}\n`)
}
