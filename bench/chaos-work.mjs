// The chaos benchmark's task (bench/chaos.ts), the same body for every system: it notes its start and its end in
// the ledger (one append-only file per process in a folder no fault touches, the format of test/faults/ledger.ts),
// sleeping `ms` between. Plain JavaScript: delayed-queue's children, BullMQ's sandboxed children and Bee-Queue's
// worker processes all import it with plain Node.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** One ledger line: `<ms> <event> <task id> <attempt> <pid> <ppid> <extra>`. */
export function note(dir, event, id, attempt, extra = '-') {
  appendFileSync(join(dir, `${process.pid}.log`), `${Date.now()} ${event} ${id} ${attempt} ${process.pid} ${process.ppid} ${extra}\n`);
}

/** The task: { ledger, id, ms }. */
export async function work(data, attempt) {
  note(data.ledger, 'start', data.id, attempt);
  await sleep(data.ms);
  note(data.ledger, 'end', data.id, attempt);
}
