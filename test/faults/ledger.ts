// The ledger: what really happened, written by the tasks (in the children) and by the handlers (in the
// workers), outside Redis, so no fault under test can touch it. One append-only file per process in a folder;
// one line per event: `<ms> <event> <task id> <attempt> <pid> <ppid> <extra>`.
//
// Events: start / tick / end (a run, from the task), grandchild (pid of a process a task started),
// ok (the successHandler ran), fail (the errorHandler ran; extra = reason).
import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function writeLedger(dir: string, event: string, id: string, attempt: number, extra = ''): void {
  appendFileSync(
    join(dir, `${process.pid}.log`),
    `${Date.now()} ${event} ${id || '-'} ${attempt} ${process.pid} ${process.ppid} ${extra || '-'}\n`,
  );
}

export interface LedgerEvent {
  readonly t: number;
  readonly event: string;
  readonly id: string;
  readonly attempt: number;
  readonly pid: number;
  readonly ppid: number;
  readonly extra: string;
}

export interface TaskHistory {
  readonly id: string;
  readonly starts: LedgerEvent[];
  readonly ends: LedgerEvent[];
  readonly ticks: LedgerEvent[];
  /** ok / fail lines: terminal outcomes reported by a worker. */
  readonly outcomes: LedgerEvent[];
}

export function readLedger(dir: string): LedgerEvent[] {
  if (!existsSync(dir)) return [];
  const events: LedgerEvent[] = [];
  for (const file of readdirSync(dir)) {
    if (!file.endsWith('.log')) continue;
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      const parts = line.split(' ');
      if (parts.length < 7) continue; // an empty line, or a line a SIGKILL cut short
      const [t, event, id, attempt, pid, ppid, ...extra] = parts as [string, string, string, string, string, string, ...string[]];
      events.push({ t: Number(t), event, id, attempt: Number(attempt), pid: Number(pid), ppid: Number(ppid), extra: extra.join(' ') });
    }
  }
  return events.sort((a, b) => a.t - b.t);
}

export function histories(events: readonly LedgerEvent[]): Map<string, TaskHistory> {
  const byId = new Map<string, TaskHistory>();
  for (const e of events) {
    let h = byId.get(e.id);
    if (!h) byId.set(e.id, (h = { id: e.id, starts: [], ends: [], ticks: [], outcomes: [] }));
    if (e.event === 'start') h.starts.push(e);
    else if (e.event === 'end') h.ends.push(e);
    else if (e.event === 'tick') h.ticks.push(e);
    else if (e.event === 'ok' || e.event === 'fail') h.outcomes.push(e);
  }
  return byId;
}

/** The outcome a worker reported: 'success' or 'failed:<reason>'. */
export function outcomeName(e: LedgerEvent): string {
  return e.event === 'ok' ? 'success' : `failed:${e.extra}`;
}

export interface Tally {
  /** Acknowledged enqueues. */
  readonly tasks: number;
  /** Acknowledged tasks with no terminal outcome. */
  readonly lost: string[];
  /** Runs started beyond the first, summed over tasks. */
  readonly duplicateStarts: number;
  /** Tasks with more than one terminal outcome. */
  readonly duplicateOutcomes: string[];
  /** (task, attempt) pairs started twice: one entry leased to two runs at once. */
  readonly sameAttemptTwice: string[];
  /** How many tasks ended with how many terminal outcomes: { '1': 998, '2': 2 }. */
  readonly outcomesPerTask: Record<string, number>;
  /** Terminal outcomes by kind (first outcome of each task). */
  readonly byOutcome: Record<string, number>;
}

export function tally(ids: readonly string[], events: readonly LedgerEvent[]): Tally {
  const byId = histories(events);
  const lost: string[] = [];
  const duplicateOutcomes: string[] = [];
  const sameAttemptTwice: string[] = [];
  const outcomesPerTask: Record<string, number> = {};
  const byOutcome: Record<string, number> = {};
  let duplicateStarts = 0;
  for (const id of ids) {
    const h = byId.get(id);
    const outcomes = h?.outcomes.length ?? 0;
    outcomesPerTask[outcomes] = (outcomesPerTask[outcomes] ?? 0) + 1;
    if (!h || outcomes === 0) {
      lost.push(id);
      continue;
    }
    if (outcomes > 1) duplicateOutcomes.push(id);
    const first = outcomeName(h.outcomes[0]!);
    byOutcome[first] = (byOutcome[first] ?? 0) + 1;
    duplicateStarts += Math.max(0, h.starts.length - 1);
    const attempts = new Set<number>();
    for (const s of h.starts) {
      if (attempts.has(s.attempt)) sameAttemptTwice.push(`${id}#${s.attempt}`);
      attempts.add(s.attempt);
    }
  }
  return { tasks: ids.length, lost, duplicateStarts, duplicateOutcomes, sameAttemptTwice, outcomesPerTask, byOutcome };
}

/** The p-th percentile (0-100) of some numbers, nearest rank; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}
