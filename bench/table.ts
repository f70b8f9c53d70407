// Results model, summaries (median, min–max, ratio to the best peer) and the text/markdown table printers.

export interface Metric {
  key: string;
  label: string;
  better: 'higher' | 'lower';
  digits: number;
  /** Show a "÷ best peer" column for this metric. */
  ratio: boolean;
}

export interface Row {
  system: string;
  peer: boolean;
  /** The API or mode measured, e.g. "Worker, in-process processor". */
  variant: string;
  /** Rows are compared with the best peer row of the same group. */
  group: string;
  values: Record<string, number[]>;
  fails: string[];
  notes: string[];
}

export interface ScenarioResult {
  id: string;
  title: string;
  metrics: Metric[];
  rows: Row[];
  notes: string[];
  seconds?: number;
}

export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
  /** median / best peer median in the same group; undefined when there is no peer to compare with. */
  ratio: number | undefined;
}

export function median(xs: readonly number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function stats(xs: readonly number[]): Omit<Summary, 'ratio'> {
  const s = xs.filter(Number.isFinite);
  return { median: median(s), min: s.length ? Math.min(...s) : NaN, max: s.length ? Math.max(...s) : NaN, n: s.length };
}

export function summarize(sc: ScenarioResult, row: Row, m: Metric): Summary {
  const own = stats(row.values[m.key] ?? []);
  const peers = sc.rows
    .filter((r) => r.peer && r.group === row.group)
    .map((r) => stats(r.values[m.key] ?? []).median)
    .filter(Number.isFinite);
  let ratio: number | undefined;
  if (peers.length > 0 && Number.isFinite(own.median)) {
    const best = m.better === 'higher' ? Math.max(...peers) : Math.min(...peers);
    ratio = best === 0 ? undefined : own.median / best;
  }
  return { ...own, ratio };
}

export function fmt(x: number, digits: number): string {
  if (!Number.isFinite(x)) return '–';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function cell(s: Summary, m: Metric): string {
  if (s.n === 0) return '–';
  const med = fmt(s.median, m.digits);
  const [lo, hi] = [fmt(s.min, m.digits), fmt(s.max, m.digits)];
  return s.n === 1 || lo === hi ? med : `${med} (${lo}–${hi})`;
}

/** Header + body cells of one scenario, shared by the text and markdown printers. */
export function tableCells(sc: ScenarioResult): { header: string[]; body: string[][]; numeric: boolean[] } {
  const header = ['system', 'mode / API'];
  const numeric = [false, false];
  for (const m of sc.metrics) {
    header.push(m.label);
    numeric.push(true);
    if (m.ratio) {
      header.push(`÷ best peer`);
      numeric.push(true);
    }
  }
  header.push('check');
  numeric.push(false);
  const body: string[][] = [];
  let lastGroup: string | undefined;
  for (const row of sc.rows) {
    if (row.group !== lastGroup && new Set(sc.rows.map((r) => r.group)).size > 1) {
      body.push([`[${row.group}]`]);
      lastGroup = row.group;
    }
    const cells = [row.system, row.variant];
    for (const m of sc.metrics) {
      const s = summarize(sc, row, m);
      cells.push(cell(s, m));
      if (m.ratio) cells.push(s.ratio === undefined ? '–' : `${s.ratio.toFixed(2)}×`);
    }
    cells.push(row.fails.length ? `FAIL (${row.fails.length})` : 'ok');
    body.push(cells);
  }
  return { header, body, numeric };
}

export function textTable(sc: ScenarioResult): string {
  const { header, body, numeric } = tableCells(sc);
  return renderText(header, body, numeric);
}

export function markdownTable(sc: ScenarioResult): string {
  const { header, body, numeric } = tableCells(sc);
  return renderMarkdown(header, body, numeric);
}

/** Columns padded for a terminal; a body row with one cell (a group heading) is printed as it is. */
export function renderText(header: string[], body: string[][], numeric: boolean[]): string {
  const full = body.filter((r) => r.length === header.length);
  const width = header.map((h, i) => Math.max(h.length, ...full.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(width[i] ?? 0) : c.padEnd(width[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const out = [line(header), width.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of body) out.push(r.length === header.length ? line(r) : (r[0] ?? ''));
  return out.join('\n');
}

/** A markdown table; a body row with one cell (a group heading) becomes a bold row. */
export function renderMarkdown(header: string[], body: string[][], numeric: boolean[]): string {
  const out = [`| ${header.join(' | ')} |`, `| ${numeric.map((n) => (n ? '---:' : '---')).join(' | ')} |`];
  for (const r of body) {
    const cells = r.length === header.length ? r : [`**${r[0] ?? ''}**`, ...header.slice(1).map(() => '')];
    out.push(`| ${cells.join(' | ')} |`);
  }
  return out.join('\n');
}
