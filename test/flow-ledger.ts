// Reading the ledgers of test/fixtures/flow-tasks.ts: '<id> <event> <ms> <attempt> <pid>' lines.
import { existsSync, readFileSync } from 'node:fs';

export interface FlowLine {
  readonly id: string;
  readonly event: string;
  readonly ms: number;
  readonly attempt: number;
  readonly pid: number;
}

export function flowLedger(path: string): FlowLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id = '', event = '', ms = '0', attempt = '0', pid = '0'] = line.split(' ');
      return { id, event, ms: Number(ms), attempt: Number(attempt), pid: Number(pid) };
    });
}

/** The most calls inside any window of `ms` (a window opening at each call). */
export function busiest(times: readonly number[], ms: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (j < sorted.length && (sorted[j] as number) < (sorted[i] as number) + ms) j++;
    most = Math.max(most, j - i);
  }
  return most;
}

/**
 * The most holders at once: each run's 'acq' opens an interval, its 'rel' closes it; a run without 'rel' (its
 * process was killed) closes at `ends(line)` (when that process was seen dead), or stays open when that is
 * undefined. At equal times a close counts before an open.
 */
export function mostAtOnce(lines: readonly FlowLine[], ends: (acq: FlowLine) => number | undefined = () => undefined): number {
  const events: [number, number][] = [];
  for (const acq of lines.filter((l) => l.event === 'acq')) {
    events.push([acq.ms, 1]);
    const rel = lines.find((l) => l.event === 'rel' && l.id === acq.id && l.attempt === acq.attempt);
    const end = rel?.ms ?? ends(acq);
    if (end !== undefined) events.push([end, -1]);
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, step] of events) {
    now += step;
    most = Math.max(most, now);
  }
  return most;
}
