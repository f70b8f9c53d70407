/** What `delayed demo` found: the figures it returns (its --json output) and the table it prints at the end. */
import { formatCount, formatDuration } from '../render.ts';

export interface DemoSummary {
  readonly enqueued: number;
  readonly completed: number;
  readonly lost: number;
  readonly runTwice: number;
  /** kill -9 → the killed worker's tasks were back in the queue (the sweeper, after its lease ran out). */
  readonly recoveryMs: number | null;
  /** Tasks the killed worker held when it died. */
  readonly killedWorkerHeld: number;
  /** kill -9 → every task it held had completed elsewhere. */
  readonly heldDoneMs: number | null;
  /** The queue's keys left once the workers stopped, but the watch below (the demo deletes them afterwards). */
  readonly keysLeft: readonly string[];
  /** The sweeper's watch over the killed worker's list (`retired`, `retired-check`): it ends by itself in 20 min. */
  readonly watchKeys: readonly string[];
  readonly elapsedMs: number;
  /** Completed tasks per second, from the first enqueue to the last completion. */
  readonly throughput: number;
  readonly workers: number;
  readonly concurrency: number;
  /** Each task worked a random time in this range, ms. */
  readonly taskMs: readonly [number, number];
  readonly queue: string;
  readonly redis: 'private' | 'given';
}

export function printSummary(out: NodeJS.WriteStream, s: DemoSummary): void {
  const row = (label: string, value: string, note = '') => out.write(`  ${label.padEnd(20)}${value.padEnd(9)}${note}\n`);
  out.write(`\nDone in ${formatDuration(s.elapsedMs)}.\n`);
  row('tasks enqueued', formatCount(s.enqueued));
  row('completed', formatCount(s.completed));
  row('lost', formatCount(s.lost), s.lost === 0 ? 'every task ran, though a worker died with kill -9' : 'tasks that never completed');
  row(
    'run twice',
    formatCount(s.runTwice),
    s.runTwice === 0 ? '' : 'had run when kill -9 came but were not released: run again (at least once)',
  );
  row(
    'recovery time',
    formatDuration(s.recoveryMs),
    s.recoveryMs === null ? '' : `kill -9 -> its ${s.killedWorkerHeld} tasks back in the queue (lease 3 s, then a sweep)`,
  );
  if (s.heldDoneMs !== null) row('', formatDuration(s.heldDoneMs), 'kill -9 -> those tasks had run again on the live workers');
  row(
    'keys left in Redis',
    String(s.keysLeft.length),
    s.keysLeft.join(', ') +
      (s.keysLeft.length === 1 ? ' (the demo deletes it now)' : s.keysLeft.length > 1 ? ' (the demo deletes them now)' : ''),
  );
  if (s.watchKeys.length > 0)
    row(
      '',
      String(s.watchKeys.length),
      `${s.watchKeys.join(', ')}: the sweeper watches the killed worker's list for a late move, 20 min (the demo deletes them now)`,
    );
  row(
    'throughput',
    `${formatCount(s.throughput)}/s`,
    `${s.workers} preforked workers x ${s.concurrency} children, tasks of ${s.taskMs[0]}-${s.taskMs[1]} ms`,
  );
}
