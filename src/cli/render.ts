/**
 * Drawing a queue's status for the terminal (`delayed status`), and the number formats every command uses.
 * Reads nothing: it turns a QueueStatus (src/status.ts) into lines of text.
 */
import type { QueueStatus } from '../status.ts';

/** 1234567 → "1,234,567". */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** 1234 → "1.2s", 75000 → "1m15s", 12 → "12ms". */
export function formatDuration(ms: number | null): string {
  if (ms === null) return '-';
  const abs = Math.abs(ms);
  const sign = ms < 0 ? '-' : '';
  if (abs < 1000) return `${sign}${Math.round(abs)}ms`;
  if (abs < 60_000) return `${sign}${(abs / 1000).toFixed(1)}s`;
  if (abs < 3_600_000) return `${sign}${Math.floor(abs / 60_000)}m${String(Math.floor((abs % 60_000) / 1000)).padStart(2, '0')}s`;
  return `${sign}${Math.floor(abs / 3_600_000)}h${String(Math.floor((abs % 3_600_000) / 60_000)).padStart(2, '0')}m`;
}

function rate(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function clip(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

function table(headers: readonly string[], rows: readonly (readonly string[])[], width: number): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    clip(
      cells
        .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
      width,
    );
  return [line(headers), ...rows.map(line)];
}

export interface RenderOptions {
  /** Terminal columns. @default 100 */
  readonly width?: number;
  /** In-flight rows to show at most. @default 10 */
  readonly runningRows?: number;
  /** Where it was read from (shown in the title; give it without a password). */
  readonly source?: string;
  /** What to say when there is no throughput figure. */
  readonly noThroughput?: string;
}

/** One queue's status as lines of text. */
export function renderStatus(s: QueueStatus, options: RenderOptions = {}): string[] {
  const width = options.width ?? 100;
  const rows = options.runningRows ?? 10;
  const out: string[] = [];
  const when = new Date(s.at).toISOString().replace('T', ' ').slice(0, 19);
  out.push(clip(`Queue ${s.queue}${options.source ? `  ${options.source}` : ''}  prefix ${s.prefix}  ${when} UTC`, width));
  const next = s.next ? `   next: ${s.next.name} (id ${s.next.id}${s.next.attempt > 0 ? `, attempt ${s.next.attempt}` : ''})` : '';
  out.push(clip(`  waiting       ${formatCount(s.waiting)}${next}`, width));
  if (s.paused) out.push(clip(`  PAUSED        workers take nothing new (delayed resume --queue ${s.queue})`, width));
  // Shown only when the queue uses them, so the status of a queue without them reads as before.
  if (s.levels) {
    const order = s.levels.order === 'strict' ? 'strict order: a level runs only when those above it are empty' : 'weighted';
    out.push(clip(`  levels        ${order}; head of a level starts within N dispatches while all are busy`, width));
    for (const l of s.levels.levels) {
      const bound = l.headBound === null ? 'no bound (strict)' : `≤ ${l.headBound} dispatches`;
      const name = `${l.name}${l.name === s.levels.defaultLevel ? '*' : ''}`;
      out.push(
        clip(`    ${name.padEnd(12)}${formatCount(l.waiting).padStart(8)} waiting   weight ${String(l.weight).padEnd(4)} ${bound}`, width),
      );
    }
  }
  if (s.scheduled > 0) {
    const due = s.nextDueAt === null ? '' : `   next due in ${formatDuration(Math.max(0, s.nextDueAt - s.at))}`;
    out.push(clip(`  scheduled     ${formatCount(s.scheduled)}${due}`, width));
  }
  if (s.schedules > 0) out.push(clip(`  schedules     ${formatCount(s.schedules)}   (delayed schedules --queue ${s.queue})`, width));
  const orphaned = s.running.filter((r) => r.orphaned).length;
  out.push(
    `  in flight     ${formatCount(s.inFlight)}${s.workersExpired > 0 && orphaned > 0 ? `   (${formatCount(s.workers.filter((w) => !w.alive).reduce((n, w) => n + w.inFlight, 0))} held by dead workers, waiting for the sweeper)` : ''}`,
  );
  const lease = s.oldestLeaseAgeMs === null ? '' : `   oldest lease renewal ${formatDuration(s.oldestLeaseAgeMs)} ago`;
  out.push(`  workers       ${s.workersAlive} alive${s.workersExpired > 0 ? `, ${s.workersExpired} lease expired` : ''}${lease}`);
  const newest = s.recentDead[0];
  const dead = newest ? `   newest: ${newest.name} ${newest.reason} ${formatDuration(s.at - newest.at)} ago: ${newest.message}` : '';
  out.push(clip(`  dead letters  ${formatCount(s.deadLetters)}${dead}`, width));
  const t = s.throughput;
  out.push(
    t
      ? `  throughput    ${rate(t.perSecond)} tasks/s (${rate(t.succeededPerSecond)} ok, ${rate(t.failedPerSecond)} failed) over ${formatDuration(t.windowMs)}`
      : `  throughput    ${options.noThroughput ?? 'n/a'}`,
  );
  out.push(
    `  processed     ${formatCount(s.totals.succeeded)} ok, ${formatCount(s.totals.failed)} failed, ${formatCount(s.totals.requeued)} put back (by the registered workers, since each started)`,
  );
  if (s.workers.length > 0) {
    out.push('');
    const workerRows = s.workers.map((w) => [
      w.id,
      w.alive ? 'alive' : 'EXPIRED',
      w.kind ?? '?',
      `${w.inFlight}/${w.concurrency ?? '?'}`,
      w.counts ? formatCount(w.counts.succeeded) : '-',
      w.counts ? formatCount(w.counts.failed) : '-',
      w.alive ? formatDuration(w.leaseLeftMs) : `ended ${formatDuration(-w.leaseLeftMs)} ago`,
      w.host !== null ? `${w.host}/${w.pid ?? '?'}` : '?',
    ]);
    out.push(...table(['WORKER', 'STATE', 'KIND', 'BUSY', 'OK', 'FAILED', 'LEASE LEFT', 'HOST/PID'], workerRows, width));
  }
  if (s.inFlight > 0) {
    out.push('');
    const shown = s.running.slice(0, rows);
    const runRows = shown.map((r) => [r.name, r.id, r.worker, String(r.attempt), r.orphaned ? 'its worker died' : formatDuration(r.forMs)]);
    out.push(`In flight: ${formatCount(s.inFlight)}, longest running first`);
    out.push(...table(['TASK', 'ID', 'WORKER', 'ATTEMPT', 'RUNNING FOR'], runRows, width));
    if (s.inFlight > shown.length) out.push(`  … and ${formatCount(s.inFlight - shown.length)} more`);
  }
  return out.map((line) => clip(line, width));
}

/** Several queues, one line each. */
export function renderQueueList(statuses: readonly QueueStatus[], options: { width?: number; header?: string } = {}): string[] {
  const width = options.width ?? 100;
  const out: string[] = [];
  if (options.header) out.push(clip(options.header, width));
  if (statuses.length === 0) {
    out.push('No queues found.');
    return out;
  }
  const rows = statuses.map((s) => [
    s.queue,
    formatCount(s.waiting),
    formatCount(s.inFlight),
    `${s.workersAlive}${s.workersExpired > 0 ? ` (+${s.workersExpired} expired)` : ''}`,
    formatCount(s.deadLetters),
    s.throughput ? `${rate(s.throughput.perSecond)}/s` : '-',
  ]);
  out.push(...table(['QUEUE', 'WAITING', 'IN FLIGHT', 'WORKERS', 'DEAD', 'THROUGHPUT'], rows, width));
  return out;
}
