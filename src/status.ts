import type { Client } from './connection.ts';
import type { QueueKeys } from './keys.ts';
import { decodeEntry } from './payload.ts';
import { levelsStatus, type LevelsStatus, withLevels } from './level-status.ts';
import type { Queue } from './queue.ts';
import { readDeadLetter, readWorkerFacts } from './records.ts';

/** A worker's outcome counters as it last reported them. */
export type WorkerCountsSnapshot = Readonly<Record<'started' | 'succeeded' | 'failed' | 'requeued', number>>;

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
  /** The latest `taskContext().progress(value)` the task reported, as of its worker's last renewal. */
  readonly progress?: unknown;
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
  /** Tasks waiting for their due time (`delayMs`, `runAt`, retries after their backoff). */
  readonly scheduled: number;
  /** The earliest due time among them (ms, Redis clock), or null when none is scheduled. */
  readonly nextDueAt: number | null;
  /** Repeating schedules registered on the queue (`queue.schedule`). */
  readonly schedules: number;
  /** `queue.pause()` is in force: workers take nothing new (they finish what they run). */
  readonly paused: boolean;
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
  /** The priority levels as Redis records them, with their waiting counts (included in `waiting`); absent without levels. */
  levels?: LevelsStatus;
  /** Filled in by callers that compare reads (`ThroughputMeter`, src/throughput.ts); null otherwise. */
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

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function counts(v: unknown): WorkerCountsSnapshot | null {
  if (v === null || typeof v !== 'object') return null;
  const c = v as Record<string, unknown>;
  return { started: num(c.started) ?? 0, succeeded: num(c.succeeded) ?? 0, failed: num(c.failed) ?? 0, requeued: num(c.requeued) ?? 0 };
}

/** Entries are read only for their header; a task can be as large as maxPayloadBytes, so allow a lot. */
const DECODE_LIMIT = 512 * 1_048_576;

/** An entry's id, name and attempt; '?' (and attempt 0) for what cannot be read. */
function entryHead(entry: string): { id: string; name: string; attempt: number } {
  const decoded = decodeEntry(entry, DECODE_LIMIT);
  return decoded.ok
    ? { id: decoded.task.id, name: decoded.task.name, attempt: decoded.task.attempt }
    : { id: decoded.id || '?', name: decoded.name || '?', attempt: 0 };
}

function addCounts(totals: Record<keyof WorkerCountsSnapshot, number>, c: WorkerCountsSnapshot): void {
  totals.started += c.started;
  totals.succeeded += c.succeeded;
  totals.failed += c.failed;
  totals.requeued += c.requeued;
}

/**
 * Reads a queue's state: what waits, what runs where, which workers live, the dead letters. Uses the
 * queue's producer connection; O(workers × partitions), never O(tasks).
 */
export async function queueStatus(queue: Queue, options: StatusOptions = {}): Promise<QueueStatus> {
  const redis = queue.redis;
  const parts = await Promise.all(queue.partitions.map((keys) => partitionStatus(redis, queue, keys, options)));
  const status = parts.length === 1 ? (parts[0] as QueueStatus) : mergeStatus(parts, options);
  return withLevels(status, await levelsStatus(redis, queue.partitions));
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
  for (const w of all) if (w.counts) addCounts(totals, w.counts);
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
    scheduled: sum((p) => p.scheduled),
    nextDueAt: parts.reduce<number | null>((min, p) => (p.nextDueAt === null ? min : Math.min(min ?? p.nextDueAt, p.nextDueAt)), null),
    schedules: sum((p) => p.schedules),
    paused: parts.some((p) => p.paused),
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

/** LRANGE bounds for the first n items of a list; none at all for n ≤ 0 (0, -1 would be the whole list). */
function firstN(n: number): [number, number] {
  return n > 0 ? [0, n - 1] : [1, 0];
}

/** One partition's state. */
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
    .zcard(keys.scheduled)
    .zrange(keys.scheduled, 0, 0, 'WITHSCORES')
    .hlen(keys.schedules)
    .exists(keys.paused)
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
  const scheduled = result(first, 8) as number;
  const head = result(first, 9) as string[];
  const nextDueAt = head.length >= 2 ? Number(head[1]) : null;
  const schedules = result(first, 10) as number;
  const paused = result(first, 11) === 1;

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
    const report = readWorkerFacts(info[r.id]);
    const facts = report?.facts ?? {};
    const c = counts(facts.counts);
    if (c) addCounts(totals, c);
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
          ...(f.progress !== undefined ? { progress: f.progress } : {}),
        });
      }
    }
    for (const entry of orphans) running.push({ ...entryHead(entry), worker: r.id, forMs: null, orphaned: true });
  }
  running.sort((a, b) => (b.forMs ?? Infinity) - (a.forMs ?? Infinity));

  const next: QueueStatus['next'] = nextRaw === null ? null : entryHead(nextRaw);

  const recentDead: DeadLetter[] = [];
  for (const raw of deadRaw) {
    const { at, fields } = readDeadLetter(raw);
    recentDead.push({
      at,
      id: str(fields.id) ?? '?',
      name: str(fields.name) ?? '?',
      reason: str(fields.reason) ?? '?',
      message: str(fields.message) ?? '',
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
    scheduled,
    nextDueAt,
    schedules,
    paused,
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
