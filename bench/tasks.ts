// delayed-queue's benchmark task: a no-op that only records that it ran (see record.ts).
// Workers load this module by path; PreforkedWorker/ForkedWorker children import it themselves.
import { defineTask } from '../src/index.ts'
import { record, type Payload } from './record.ts'

export const noop = defineTask('noop', (p: Payload) => {
  record(p)
})
