// delayed-queue adapter (ours): queue.enqueue / queue.enqueueMany; InlineWorker (handler in the worker
// process), PreforkedWorker (kept child processes), ForkedWorker (a new child process per task).
import { ForkedWorker, InlineWorker, PreforkedWorker, Queue } from '../../src/index.ts'
import type { Payload } from '../record.ts'
import type { Mode, System, SystemFactory } from './types.ts'

const TASKS = new URL('../tasks.ts', import.meta.url).href
const LABELS: Record<Mode, string> = {
  inline: 'InlineWorker',
  sandboxed: 'PreforkedWorker',
  forked: 'ForkedWorker',
}

export const open: SystemFactory = async ({ url }) => {
  const queue = new Queue({ name: 'bench', redis: url, defaultTimeoutMs: 60_000 })

  const system: System = {
    name: 'delayed-queue',
    peer: false,
    api: { one: 'queue.enqueue()', many: 'queue.enqueueMany()' },
    modeLabel: (mode) => LABELS[mode],
    async enqueueOne(p) {
      await queue.enqueue('noop', [p])
    },
    async enqueueMany(ps: Payload[]) {
      await queue.enqueueMany(ps.map((p) => ({ name: 'noop', args: [p] })))
    },
    async startWorker(mode, concurrency, events) {
      const Worker = mode === 'inline' ? InlineWorker : mode === 'sandboxed' ? PreforkedWorker : ForkedWorker
      const worker = new Worker({
        queue,
        tasks: [TASKS],
        concurrency,
        successHandler: () => events.completed(),
        errorHandler: (_task, failure) => events.failed(failure),
      })
      const stopped = worker.run()
      stopped.catch((e: unknown) => events.failed(e))
      return {
        async close() {
          await worker.close()
          await stopped.catch(() => {})
        },
      }
    },
    close: () => queue.close(),
  }
  return system
}
