/**
 * Throughput from consecutive status reads, for the screens that read a queue again and again (`delayed status
 * --watch`, the dashboard). It computes from the read model only; nothing here talks to Redis.
 */
import type { QueueStatus, Throughput } from './status.ts';

/**
 * Recent throughput from consecutive reads: each worker's counters, measured between the times the worker
 * itself reported them (it reports with every lease renewal, every leaseMs/3), so the rate does not depend on
 * when the reads happen. A worker seen only once adds nothing yet; a worker that left is forgotten.
 */
export class ThroughputMeter {
  readonly #windowMs: number;
  readonly #points = new Map<string, { at: number; succeeded: number; failed: number }[]>();

  constructor(windowMs = 10_000) {
    this.#windowMs = windowMs;
  }

  /** Adds a read and returns the throughput over the window so far (null until some worker reported twice). */
  add(status: QueueStatus): Throughput | null {
    const seen = new Set<string>();
    for (const w of status.workers) {
      if (w.reportedAt === null || w.counts === null) continue;
      seen.add(w.id);
      let points = this.#points.get(w.id);
      if (!points) this.#points.set(w.id, (points = []));
      const last = points[points.length - 1];
      if (!last || w.reportedAt > last.at) points.push({ at: w.reportedAt, succeeded: w.counts.succeeded, failed: w.counts.failed });
      // Keep the newest point older than the window too, so the rate spans the whole window.
      while (points.length > 2 && (points[1] as { at: number }).at <= status.at - this.#windowMs) points.shift();
    }
    for (const id of [...this.#points.keys()]) if (!seen.has(id)) this.#points.delete(id);
    let succeeded = 0;
    let failed = 0;
    let windowMs = 0;
    let measured = false;
    for (const points of this.#points.values()) {
      const a = points[0];
      const b = points[points.length - 1];
      if (!a || !b || b.at <= a.at) continue;
      measured = true;
      const span = b.at - a.at;
      succeeded += ((b.succeeded - a.succeeded) * 1000) / span;
      failed += ((b.failed - a.failed) * 1000) / span;
      windowMs = Math.max(windowMs, span);
    }
    if (!measured) return null;
    return { perSecond: succeeded + failed, succeededPerSecond: succeeded, failedPerSecond: failed, windowMs };
  }
}
