// Prints the figures the fault scenarios saved (FAULTS_FIGURES_DIR, default <tmp>/delayed-faults-figures) as a
// markdown table, for docs/reliability.md: `npx tsx test/faults/report.ts`.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIGURES_DIR } from './harness.ts';

interface Saved {
  readonly scenario: string;
  readonly at: string;
  readonly figures: Record<string, string | number | boolean>;
}

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
