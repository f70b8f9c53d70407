// Counts which task ran how many times, from in-memory sinks and from the record files children wrote.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sink } from './record.ts';

export interface Check {
  ok: boolean;
  missing: number;
  duplicated: number;
  unknown: number;
  summary: string;
}

export class Tally {
  readonly runs: Uint8Array;
  readonly latencies: number[] = [];
  unknown = 0;

  constructor(
    readonly expected: number,
    private readonly keepLatencyFrom = Infinity,
  ) {
    this.runs = new Uint8Array(expected);
  }

  readonly sink: Sink = (seq, latencyMs) => {
    if (Number.isInteger(seq) && seq >= 0 && seq < this.expected) {
      const r = this.runs[seq] ?? 0;
      if (r < 255) this.runs[seq] = r + 1;
    } else {
      this.unknown++;
    }
    if (seq >= this.keepLatencyFrom) this.latencies.push(latencyMs);
  };

  /** Adds every "seq latency" line of every file in dir. */
  readDir(dir: string): void {
    for (const f of readdirSync(dir)) {
      for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
        if (!line) continue;
        const [seq, lat] = line.split(' ');
        this.sink(Number(seq), Number(lat));
      }
    }
  }

  check(): Check {
    let missing = 0;
    let duplicated = 0;
    for (const r of this.runs) {
      if (r === 0) missing++;
      else if (r > 1) duplicated++;
    }
    const ok = missing === 0 && duplicated === 0 && this.unknown === 0;
    const summary = ok
      ? `all ${this.expected} ran exactly once`
      : `${missing} missing, ${duplicated} ran more than once, ${this.unknown} unknown ids (of ${this.expected})`;
    return { ok, missing, duplicated, unknown: this.unknown, summary };
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}
