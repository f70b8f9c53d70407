/**
 * Reading a queue's state for people and dashboards (`delayed status`, the metrics gauges), and drawing it.
 *
 * Cost: one MULTI of O(1) reads (TIME, LLEN, LINDEX, GET) plus the `workers` zset and the `info` hash (one
 * entry per live registration), then one LLEN per registration and a short LRANGE for registrations whose
 * lease ran out. Nothing here depends on how many tasks wait: a million waiting tasks cost what ten do.
 * Nothing here writes. Finding queues (`findQueues`) is the one place that SCANs the keyspace, and only when
 * asked to.
 */
import type { Redis } from 'ioredis';
import { connect, disconnect, isCluster, type Client, type RedisSource } from './connection.ts';
import type { QueueKeys } from './keys.ts';
import { decodeEntry } from './payload.ts';
import type { Queue } from './queue.ts';

export interface WorkerCountsSnapshot {
  readonly started: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly requeued: number;
}

export interface WorkerStatus {
  readonly id: string;
  /** False when its lease ran out: killed, frozen or cut off from Redis; the sweeper puts its tasks back. */
  readonly alive: boolean;
  /** ms until the lease ends (negative: ended that long ago). */
  readonly leaseLeftMs: number;
  /** Redis time (ms) of the worker's last report (sent with each lease renewal), or null if it sent none. */
  readonly reportedAt: number | null;
  readonly kind: string | null;
  readonly concurrency: number | null;
  readonly startedAt: string | null;
  readonly host: string | null;
  readonly pid: number | null;
  /** Outcomes since the worker process started (kept across re-registrations), as of `reportedAt`. */
  readonly counts: WorkerCountsSnapshot | null;
  /** Entries in this registration's in-flight list now. */
  readonly inFlight: number;
}

export interface RunningTask {
  readonly id: string;
  readonly name: string;
  readonly attempt: number;
  readonly worker: string;
  /** How long it has been running (estimated from the worker's last report); null for a dead worker's task. */
  readonly forMs: number | null;
  /** True when its worker's lease ran out: the task waits for the sweeper. */
  readonly orphaned: boolean;
}

export interface DeadLetter {
  /** Redis time (ms) when the task failed. */
  readonly at: number;
  readonly id: string;
  readonly name: string;
  readonly reason: string;
  readonly message: string;
}

export interface Throughput {
  /** Tasks finished (succeeded + failed) per second. */
  readonly perSecond: number;
  readonly succeededPerSecond: number;
  readonly failedPerSecond: number;
  /** The span the rate was measured over, ms. */
  readonly windowMs: number;
}

export interface QueueStatus {
  readonly queue: string;
  readonly prefix: string;
  /** How many partitions were read (the figures below are their sums). */
  readonly partitions: number;
  /** Redis time of the read, ms. */
  readonly at: number;
  /** The queue's epoch (set when the first worker registers); null before any worker ran. */
  readonly epoch: string | null;
  readonly waiting: number;
  /** The task workers take next, or null when none waits. */
  readonly next: { readonly id: string; readonly name: string; readonly attempt: number } | null;
  /** Tasks taken by workers and not finished (all registrations, alive or not). */
  readonly inFlight: number;
  /** In-flight tasks, longest running first (at most `runningLimit`). */
  readonly running: readonly RunningTask[];
  readonly workers: readonly WorkerStatus[];
  readonly workersAlive: number;
  readonly workersExpired: number;
  /** ms since the least recently renewed live lease was renewed; null with no live worker. */
  readonly oldestLeaseAgeMs: number | null;
  /** Records in the dead-letter list (0 when the queue keeps none). */
  readonly deadLetters: number;
  readonly recentDead: readonly DeadLetter[];
  /** The registrations' counters added up (each since its worker process started; a worker that left drops out). */
  readonly totals: WorkerCountsSnapshot;
  /** Filled in by callers that compare reads (`ThroughputMeter`); null otherwise. */
  throughput: Throughput | null;
}

export interface StatusOptions {
  /** In-flight tasks to list at most. @default 100 */
  readonly runningLimit?: number;
  /** Newest dead letters to read. @default 5 */
  readonly deadLimit?: number;
}

type Reply = [Error | null, unknown][] | null;

function result(replies: Reply, index: number): unknown {
  const pair = replies?.[index];
  if (!pair) throw new Error('Redis returned no reply for a status read');
  if (pair[0]) throw pair[0];
  return pair[1];
}

interface Facts {
  kind?: unknown;
  concurrency?: unknown;
  startedAt?: unknown;
  host?: unknown;
  pid?: unknown;
  counts?: unknown;
  running?: unknown;
}

function parseInfo(raw: string | undefined): { at: number; facts: Facts } | null {
  if (raw === undefined) return null;
  const space = raw.indexOf(' ');
  if (space < 0) return null;
  const at = Number(raw.slice(0, space));
  if (!Number.isFinite(at)) return null;
  try {
    const facts: unknown = JSON.parse(raw.slice(space + 1));
    return facts !== null && typeof facts === 'object' ? { at, facts: facts as Facts } : null;
  } catch {
    return null;
  }
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function counts(v: unknown): WorkerCountsSnapshot | null {
  if (v === null || typeof v !== 'object') return null;
  const c = v as Record<string, unknown>;
  return { started: num(c.started) ?? 0, succeeded: num(c.succeeded) ?? 0, failed: num(c.failed) ?? 0, requeued: num(c.requeued) ?? 0 };
}

/** Entries are read only for their header; a task can be as large as maxPayloadBytes, so allow a lot. */
const DECODE_LIMIT = 512 * 1_048_576;

/**
 * Reads a queue's state: what waits, what runs where, which workers live, the dead letters. Uses the
 * queue's producer connection; O(workers × partitions), never O(tasks).
 */
export async function queueStatus(queue: Queue, options: StatusOptions = {}): Promise<QueueStatus> {
  const redis = queue.redis;
  const parts = await Promise.all(queue.partitions.map((keys) => partitionStatus(redis, queue, keys, options)));
  return parts.length === 1 ? (parts[0] as QueueStatus) : mergeStatus(parts, options);
}

/** Partitions read one by one, added up. A worker registered in every partition is listed once. */
function mergeStatus(parts: QueueStatus[], options: StatusOptions): QueueStatus {
  const first = parts[0] as QueueStatus;
  const workers = new Map<string, WorkerStatus>();
  for (const part of parts) {
    for (const w of part.workers) {
      const seen = workers.get(w.id);
      if (!seen) workers.set(w.id, w);
      else
        workers.set(w.id, {
          ...seen,
          alive: seen.alive && w.alive,
          leaseLeftMs: Math.min(seen.leaseLeftMs, w.leaseLeftMs),
          inFlight: seen.inFlight + w.inFlight,
        });
    }
  }
  const all = [...workers.values()];
  // Each worker reports the same counters to every partition: count them once, from the merged list.
  const totals = { started: 0, succeeded: 0, failed: 0, requeued: 0 };
  for (const w of all) {
    if (!w.counts) continue;
    totals.started += w.counts.started;
    totals.succeeded += w.counts.succeeded;
    totals.failed += w.counts.failed;
    totals.requeued += w.counts.requeued;
  }
  const running = new Map<string, RunningTask>();
  for (const part of parts) for (const r of part.running) if (!running.has(`${r.worker} ${r.id}`)) running.set(`${r.worker} ${r.id}`, r);
  const sum = (pick: (s: QueueStatus) => number) => parts.reduce((n, p) => n + pick(p), 0);
  const ages = parts.map((p) => p.oldestLeaseAgeMs).filter((a): a is number => a !== null);
  const workersAlive = all.filter((w) => w.alive).length;
  return {
    queue: first.queue,
    prefix: first.prefix,
    partitions: parts.length,
    at: first.at,
    epoch: first.epoch,
    waiting: sum((p) => p.waiting),
    next: parts.find((p) => p.next !== null)?.next ?? null,
    inFlight: sum((p) => p.inFlight),
    running: [...running.values()].sort((a, b) => (b.forMs ?? Infinity) - (a.forMs ?? Infinity)).slice(0, options.runningLimit ?? 100),
    workers: all,
    workersAlive,
    workersExpired: all.length - workersAlive,
    oldestLeaseAgeMs: ages.length > 0 ? Math.max(...ages) : null,
    deadLetters: sum((p) => p.deadLetters),
    recentDead: parts
      .flatMap((p) => p.recentDead)
      .sort((a, b) => b.at - a.at)
      .slice(0, Math.max(0, options.deadLimit ?? 5)),
    totals,
    throughput: null,
  };
}

/** One partition's state. */
/** LRANGE bounds for the first n items of a list; none at all for n ≤ 0 (0, -1 would be the whole list). */
function firstN(n: number): [number, number] {
  return n > 0 ? [0, n - 1] : [1, 0];
}

async function partitionStatus(redis: Client, queue: Queue, keys: QueueKeys, options: StatusOptions): Promise<QueueStatus> {
  const runningLimit = options.runningLimit ?? 100;
  const deadLimit = options.deadLimit ?? 5;
  const first = (await redis
    .multi()
    .time()
    .get(keys.epoch)
    .llen(keys.waiting)
    .lindex(keys.waiting, -1)
    .zrange(keys.workers, 0, -1, 'WITHSCORES')
    .hgetall(keys.info)
    .llen(keys.dead)
    .lrange(keys.dead, ...firstN(deadLimit))
    .exec()) as Reply;
  const [seconds, micros] = result(first, 0) as [string, string];
  const at = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  const epoch = result(first, 1) as string | null;
  const waiting = result(first, 2) as number;
  const nextRaw = result(first, 3) as string | null;
  const zrange = result(first, 4) as string[];
  const info = result(first, 5) as Record<string, string>;
  const deadLetters = result(first, 6) as number;
  const deadRaw = deadLimit > 0 ? (result(first, 7) as string[]) : [];

  const registrations: { id: string; deadline: number }[] = [];
  for (let i = 0; i + 1 < zrange.length; i += 2) registrations.push({ id: zrange[i] as string, deadline: Number(zrange[i + 1]) });

  // Second round: the size of each in-flight list, and the heads of the lists nobody renews any more.
  const second = redis.pipeline();
  for (const r of registrations) {
    second.llen(keys.worker(r.id));
    if (r.deadline <= at) second.lrange(keys.worker(r.id), ...firstN(Math.min(runningLimit, 20)));
  }
  const lists = registrations.length > 0 ? ((await second.exec()) as Reply) : [];

  const workers: WorkerStatus[] = [];
  const running: RunningTask[] = [];
  const totals = { started: 0, succeeded: 0, failed: 0, requeued: 0 };
  let inFlight = 0;
  let oldestReport: number | null = null;
  let reply = 0;
  for (const r of registrations) {
    const alive = r.deadline > at;
    const size = result(lists, reply++) as number;
    const orphans = alive ? [] : (result(lists, reply++) as string[]);
    inFlight += size;
    const report = parseInfo(info[r.id]);
    const facts = report?.facts ?? {};
    const c = counts(facts.counts);
    if (c) {
      totals.started += c.started;
      totals.succeeded += c.succeeded;
      totals.failed += c.failed;
      totals.requeued += c.requeued;
    }
    if (alive && report) oldestReport = oldestReport === null ? report.at : Math.min(oldestReport, report.at);
    workers.push({
      id: r.id,
      alive,
      leaseLeftMs: r.deadline - at,
      reportedAt: report?.at ?? null,
      kind: str(facts.kind),
      concurrency: num(facts.concurrency),
      startedAt: str(facts.startedAt),
      host: str(facts.host),
      pid: num(facts.pid),
      counts: c,
      inFlight: size,
    });
    if (alive && report && Array.isArray(facts.running)) {
      const age = Math.max(0, at - report.at);
      for (const run of facts.running as unknown[]) {
        if (run === null || typeof run !== 'object') continue;
        const f = run as Record<string, unknown>;
        const forMs = num(f.forMs);
        running.push({
          id: str(f.id) ?? '?',
          name: str(f.name) ?? '?',
          attempt: num(f.attempt) ?? 0,
          worker: r.id,
          forMs: forMs === null ? null : forMs + age,
          orphaned: false,
        });
      }
    }
    for (const entry of orphans) {
      const decoded = decodeEntry(entry, DECODE_LIMIT);
      if (decoded.ok)
        running.push({
          id: decoded.task.id,
          name: decoded.task.name,
          attempt: decoded.task.attempt,
          worker: r.id,
          forMs: null,
          orphaned: true,
        });
      else running.push({ id: decoded.id || '?', name: decoded.name || '?', attempt: 0, worker: r.id, forMs: null, orphaned: true });
    }
  }
  running.sort((a, b) => (b.forMs ?? Infinity) - (a.forMs ?? Infinity));

  let next: QueueStatus['next'] = null;
  if (nextRaw !== null) {
    const decoded = decodeEntry(nextRaw, DECODE_LIMIT);
    next = decoded.ok
      ? { id: decoded.task.id, name: decoded.task.name, attempt: decoded.task.attempt }
      : { id: decoded.id || '?', name: decoded.name || '?', attempt: 0 };
  }

  const recentDead: DeadLetter[] = [];
  for (const raw of deadRaw) {
    const bar = raw.indexOf('|');
    let record: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(raw.slice(bar + 1));
      if (parsed !== null && typeof parsed === 'object') record = parsed as Record<string, unknown>;
    } catch {
      // a record we cannot read is still shown, as unknown
    }
    recentDead.push({
      at: Number(raw.slice(0, bar)) || 0,
      id: str(record.id) ?? '?',
      name: str(record.name) ?? '?',
      reason: str(record.reason) ?? '?',
      message: str(record.message) ?? '',
    });
  }

  const workersAlive = workers.filter((w) => w.alive).length;
  return {
    queue: queue.name,
    prefix: queue.prefix,
    partitions: 1,
    at,
    epoch,
    waiting,
    next,
    inFlight,
    running: running.slice(0, runningLimit),
    workers,
    workersAlive,
    workersExpired: workers.length - workersAlive,
    oldestLeaseAgeMs: oldestReport === null ? null : Math.max(0, at - oldestReport),
    deadLetters,
    recentDead,
    totals,
    throughput: null,
  };
}

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

export interface FindQueuesOptions {
  readonly redis?: RedisSource;
  /** @default 'delayed' */
  readonly prefix?: string;
}

const QUEUE_KEY_SUFFIXES = new Set(['waiting', 'workers', 'info', 'epoch', 'dead']);

/**
 * Finds the queues that have keys in Redis, with ONE pass of SCAN over the whole keyspace (MATCH
 * `<prefix>:{*}`): its cost grows with the number of keys in the database, so call it on request, not in a
 * loop. A queue with no key (never used, or fully drained and never run by a worker) is not found.
 */
export async function findQueues(options: FindQueuesOptions = {}): Promise<string[]> {
  const prefix = options.prefix ?? 'delayed';
  const client = connect(options.redis ?? 'redis://127.0.0.1:6379', 'producer', 'find-queues');
  client.on('error', () => undefined);
  try {
    const names = new Set<string>();
    const start = `${prefix}:{`;
    // On a cluster every primary holds part of the keyspace: scan them all.
    if (isCluster(client)) await client.ping();
    const nodes: Redis[] = isCluster(client) ? client.nodes('master') : [client];
    for (const redis of nodes) {
      let cursor = '0';
      do {
        const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:{*}:*`, 'COUNT', 1000);
        cursor = nextCursor;
        for (const key of keys) {
          if (!key.startsWith(start)) continue;
          const close = key.indexOf('}:', start.length);
          if (close < 0) continue;
          const suffix = key.slice(close + 2);
          // A partition's tag is `name/k`; queue names have no slash.
          if (QUEUE_KEY_SUFFIXES.has(suffix) || suffix.startsWith('worker:'))
            names.add(key.slice(start.length, close).split('/')[0] as string);
        }
      } while (cursor !== '0');
    }
    return [...names].sort();
  } finally {
    await disconnect(client);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Drawing, for the terminal.

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
