// The figures each fault scenario prints and saves (FAULTS_FIGURES_DIR, default <tmp>/delayed-faults-figures)
// for docs/reliability.md. Run as a script (`npx tsx test/faults/report.ts`) it prints the saved figures as a
// markdown table.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LedgerEvent } from './ledger.ts';

export const FIGURES_DIR = process.env.FAULTS_FIGURES_DIR ?? join(tmpdir(), 'delayed-faults-figures');

export type Figures = Record<string, string | number | boolean>;

/** Prints a scenario's figures as a table and saves them (JSON) for docs/reliability.md. */
export function report(scenario: string, figures: Figures): void {
  const rows = Object.entries(figures).map(([k, v]) => ({
    figure: k,
    value: typeof v === 'number' && !Number.isInteger(v) ? Number(v.toFixed(1)) : v,
  }));
  console.log(`\n## ${scenario}`);
  console.table(rows);
  mkdirSync(FIGURES_DIR, { recursive: true });
  writeFileSync(
    join(FIGURES_DIR, `${scenario.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.json`),
    JSON.stringify({ scenario, at: new Date().toISOString(), figures }, null, 2),
  );
}

/** Times from each interrupted task's interruption to its next start (ms). */
export function recoveryTimes(events: readonly LedgerEvent[], interrupted: ReadonlyMap<string, number>): number[] {
  const times: number[] = [];
  for (const [id, at] of interrupted) {
    const next = events.find((e) => e.id === id && e.event === 'start' && e.t > at);
    const done = events.find((e) => e.id === id && (e.event === 'ok' || e.event === 'fail') && e.t > at);
    const t = next?.t ?? done?.t;
    if (t !== undefined) times.push(t - at);
  }
  return times;
}

interface Saved {
  readonly scenario: string;
  readonly at: string;
  readonly figures: Figures;
}

/** Prints the saved figures as a markdown table. */
function printTable(): void {
  const saved = readdirSync(FIGURES_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(FIGURES_DIR, f), 'utf8')) as Saved)
    .sort((a, b) => a.scenario.localeCompare(b.scenario, 'en', { numeric: true }));
  const cell = (v: string | number | boolean) =>
    String(typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(1) : v).replace(/\|/g, '\\|');
  console.log('| Scenario | Figures (one real run) |');
  console.log('| --- | --- |');
  for (const s of saved) {
    const figures = Object.entries(s.figures)
      .map(([k, v]) => `${k}: **${cell(v)}**`)
      .join('; ');
    console.log(`| ${s.scenario} | ${figures} |`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) printTable();
