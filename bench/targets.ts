// The performance targets of issue 16, read back from a run's results: for each, delayed-queue's median, the
// figure it is compared with (a peer's median, or a fixed bound), the ratio, and whether the target is met.
// A target whose scenario did not run (BENCH_ONLY, BENCH_SYSTEMS, a crash) says so instead of a verdict.
import { fmt, renderMarkdown, renderText, summarize, type Row, type ScenarioResult, type Summary } from './table.ts';

interface Verdict {
  target: string;
  ours: string;
  against: string;
  ratio: string;
  goal: string;
  met: string;
}

const NOT_RUN = '–';

function cell(s: Summary | undefined, digits: number, unit = ''): string {
  if (!s || s.n === 0) return NOT_RUN;
  const med = fmt(s.median, digits) + unit;
  return s.n === 1 || s.min === s.max ? med : `${med} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
}

/** The median (min–max) of metric `key` in the row of `results[id]` in group `group` that `pick` chooses. */
function find(
  results: readonly ScenarioResult[],
  id: string,
  group: string,
  pick: (row: Row) => boolean,
  key: string,
): Summary | undefined {
  const sc = results.find((r) => r.id === id);
  const row = sc?.rows.find((r) => r.group === group && pick(r));
  const metric = sc?.metrics.find((m) => m.key === key);
  if (!sc || !row || !metric) return undefined;
  const s = summarize(sc, row, metric);
  return s.n > 0 ? s : undefined;
}

const ours = (row: Row) => !row.peer;
const variantHas = (text: string) => (row: Row) => row.peer && row.variant.includes(text);
const anyPeer = (row: Row) => row.peer;

/** The best peer median of a group (higher or lower), with the row it came from. */
function bestPeer(results: readonly ScenarioResult[], id: string, group: string, key: string, better: 'higher' | 'lower') {
  const sc = results.find((r) => r.id === id);
  let best: { s: Summary; row: Row } | undefined;
  for (const row of sc?.rows.filter((r) => r.group === group && anyPeer(r)) ?? []) {
    const s = find(results, id, group, (r) => r === row, key);
    if (!s) continue;
    if (!best || (better === 'higher' ? s.median > best.s.median : s.median < best.s.median)) best = { s, row };
  }
  return best;
}

function ratioVerdict(
  target: string,
  a: Summary | undefined,
  b: Summary | undefined,
  digits: number,
  goal: string,
  holds: (r: number) => boolean,
  against: string,
): Verdict {
  if (!a || !b) return { target, ours: cell(a, digits), against: cell(b, digits), ratio: NOT_RUN, goal, met: 'not measured' };
  const r = a.median / b.median;
  return {
    target,
    ours: cell(a, digits),
    against: `${cell(b, digits)} ${against}`,
    ratio: `${r.toFixed(2)}×`,
    goal,
    met: holds(r) ? 'yes' : 'NO',
  };
}

function boundVerdict(
  target: string,
  a: Summary | undefined,
  digits: number,
  unit: string,
  goal: string,
  bound: number | undefined,
  reference = '',
): Verdict {
  if (!a) return { target, ours: NOT_RUN, against: reference || NOT_RUN, ratio: NOT_RUN, goal, met: 'not measured' };
  return {
    target,
    ours: cell(a, digits, unit),
    against: reference || NOT_RUN,
    ratio: NOT_RUN,
    goal,
    met: bound === undefined ? 'reported' : a.median <= bound ? 'yes' : 'NO',
  };
}

/** The verdicts, in the order issue 16 lists its targets. `high` is the high kept-child concurrency of the run. */
export function issue16Targets(results: readonly ScenarioResult[], high: number): Verdict[] {
  const out: Verdict[] = [];
  const kept = (c: number) => `handler in kept child processes (or BullMQ's worker threads), concurrency ${c}`;
  for (const c of [...new Set([1, 8, high])]) {
    out.push(
      ratioVerdict(
        `kept children (PreforkedWorker), warm tasks/s, c=${c}, ÷ BullMQ's child-process sandbox`,
        find(results, 'c', kept(c), ours, 'warm'),
        find(results, 'c', kept(c), variantHas('(child processes)'), 'warm'),
        0,
        '≥ 2×',
        (r) => r >= 2,
        '(BullMQ)',
      ),
    );
  }
  out.push(
    ratioVerdict(
      "kept children, warm tasks/s, c=8, ÷ BullMQ's worker-thread sandbox",
      find(results, 'c', kept(8), ours, 'warm'),
      find(results, 'c', kept(8), variantHas('(worker threads)'), 'warm'),
      0,
      '≥ 1×',
      (r) => r >= 1,
      '(BullMQ threads)',
    ),
  );
  const bullmqStart = (c: number) => find(results, 'i', `concurrency ${c}`, variantHas('(child processes)'), 'all');
  const startRef = (c: number) => {
    const s = bullmqStart(c);
    return s ? `${cell(s, 0, ' ms')} (BullMQ)` : '';
  };
  out.push(
    boundVerdict(
      'PreforkedWorker c=4: process start → all 4 children taking tasks',
      find(results, 'i', 'concurrency 4', ours, 'all'),
      0,
      ' ms',
      '≤ 1,000 ms',
      1000,
      startRef(4),
    ),
    boundVerdict(
      'the same with 16 children',
      find(results, 'i', 'concurrency 16', ours, 'all'),
      0,
      ' ms',
      'say how long',
      undefined,
      startRef(16),
    ),
  );
  for (const procs of ['c', 'd']) {
    const sc = results.find((r) => r.id === procs);
    const forkedGroups = sc ? [...new Set(sc.rows.map((r) => r.group))].filter((g) => g.startsWith('a new child process per task')) : [];
    for (const group of forkedGroups) {
      const c = /concurrency (\d+)/.exec(group)?.[1] ?? '?';
      out.push(
        boundVerdict(
          `ForkedWorker pickup p50, c=${c}, ${procs === 'c' ? 'one worker process' : 'two worker processes'}`,
          find(results, procs, group, ours, 'pickup'),
          1,
          ' ms',
          '≤ 5 ms',
          5,
        ),
      );
    }
  }
  for (const [procs, label] of [
    ['c', 'one worker process'],
    ['d', 'two worker processes'],
  ] as const) {
    const group = 'handler in the worker process, concurrency 64';
    const best = bestPeer(results, procs, group, 'rate', 'higher');
    out.push(
      ratioVerdict(
        `in-process drain (InlineWorker) c=64, tasks/s, ${label}, ÷ best peer`,
        find(results, procs, group, ours, 'rate'),
        best?.s,
        0,
        '≥ 2×',
        (r) => r >= 2,
        `(${best?.row.system ?? '?'})`,
      ),
    );
  }
  const bestP99 = bestPeer(results, 'e', 'latency', 'p99', 'lower');
  out.push(
    ratioVerdict(
      'latency enqueue → start at 200/s, p99 ms, ÷ best peer',
      find(results, 'e', 'latency', ours, 'p99'),
      bestP99?.s,
      2,
      '< 1×',
      (r) => r < 1,
      `(${bestP99?.row.system ?? '?'})`,
    ),
  );
  return out;
}

const HEADER = ['target', 'delayed-queue', 'compared with', 'ratio', 'goal', 'met'];
const NUMERIC = [false, true, true, true, false, false];
const cells = (v: Verdict) => [v.target, v.ours, v.against, v.ratio, v.goal, v.met];

export const TARGETS_TITLE = "Issue 16's targets, from this run (medians, min–max in brackets)";
export const TARGETS_NOTE =
  'Not in this table: "nothing given up" (hard timeouts, the parent-death watchdog, process-group kills, RSS recycling, leases) is what `npm test` checks.';

export function targetsText(v: readonly Verdict[]): string {
  return renderText(HEADER, v.map(cells), NUMERIC);
}

export function targetsMarkdown(v: readonly Verdict[]): string {
  return renderMarkdown(HEADER, v.map(cells), NUMERIC);
}
