/**
 * Prometheus metrics for a worker (and for producers that want them), with prom-client, in a registry of
 * their own (never prom-client's global one, so an application's metrics and ours do not collide).
 *
 * Counters come from the worker's events; gauges are read from Redis when Prometheus scrapes (the same O(1)
 * reads as `delayed status`). Run time is measured in the worker process, from `start` to the outcome.
 * Queue wait (enqueue → start) is NOT measured: an entry carries no enqueue time.
 *
 *   const metrics = new Metrics();
 *   metrics.observeWorker(worker);
 *   const server = await metrics.listen(9464);   // GET /metrics
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Sweeper, SweepReport } from './sweeper.ts';
import type { Queue } from './queue.ts';
import { queueStatus, type QueueStatus } from './status.ts';
import type { Worker } from './worker.ts';

export interface MetricsOptions {
  /** Where to register; a fresh Registry by default. */
  readonly registry?: Registry;
  /** Also export prom-client's process metrics (CPU, memory, event loop lag). @default true */
  readonly processMetrics?: boolean;
  /** Histogram buckets for run time, seconds. */
  readonly runTimeBuckets?: readonly number[];
}

export interface MetricsServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

const RUN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600];

/**
 * Prometheus metrics in a registry of their own: counters of a worker's outcomes (`observeWorker`), gauges
 * of a queue's state read from Redis at scrape time (`observeQueue`), a run-time histogram, and an HTTP
 * endpoint (`listen(port)`: GET /metrics). Import it from `delayed-queue/metrics` (it loads prom-client).
 */
export class Metrics {
  readonly registry: Registry;
  readonly #queues = new Map<string, Queue>();
  readonly #workers = new Set<Worker>();
  readonly enqueued: Counter<'queue'>;
  readonly started: Counter<'queue'>;
  readonly succeeded: Counter<'queue' | 'task'>;
  readonly failed: Counter<'queue' | 'task' | 'reason'>;
  readonly requeued: Counter<'queue' | 'why'>;
  readonly recovered: Counter<'queue'>;
  readonly leaseLost: Counter<'queue' | 'why'>;
  readonly runTime: Histogram<'queue' | 'task' | 'outcome'>;

  constructor(options: MetricsOptions = {}) {
    this.registry = options.registry ?? new Registry();
    const registers = [this.registry];
    this.enqueued = new Counter({
      name: 'delayed_tasks_enqueued_total',
      help: 'Tasks enqueued through this process (observed Queue objects only)',
      labelNames: ['queue'],
      registers,
    });
    this.started = new Counter({
      name: 'delayed_tasks_started_total',
      help: 'Task runs started by this worker (no task label: a name read from Redis may be one no module defines)',
      labelNames: ['queue'],
      registers,
    });
    this.succeeded = new Counter({
      name: 'delayed_tasks_succeeded_total',
      help: 'Task runs that succeeded on this worker',
      labelNames: ['queue', 'task'],
      registers,
    });
    this.failed = new Counter({
      name: 'delayed_tasks_failed_total',
      help: 'Tasks that failed for good on this worker, by reason',
      labelNames: ['queue', 'task', 'reason'],
      registers,
    });
    this.requeued = new Counter({
      name: 'delayed_tasks_requeued_total',
      help: 'Runs this worker cut off and put back (crashed child, stop)',
      labelNames: ['queue', 'why'],
      registers,
    });
    this.recovered = new Counter({
      name: 'delayed_tasks_recovered_total',
      help: "Tasks of dead workers that this process's sweeps put back in the queue",
      labelNames: ['queue'],
      registers,
    });
    this.leaseLost = new Counter({
      name: 'delayed_worker_lease_lost_total',
      help: 'Times this worker lost its lease',
      labelNames: ['queue', 'why'],
      registers,
    });
    this.runTime = new Histogram({
      name: 'delayed_task_run_seconds',
      help: 'Run time of tasks on this worker, from start to outcome (queue wait is not measured: entries carry no enqueue time)',
      labelNames: ['queue', 'task', 'outcome'],
      buckets: [...(options.runTimeBuckets ?? RUN_BUCKETS)],
      registers,
    });
    const queues = () => [...this.#queues.values()];
    const read = async (): Promise<QueueStatus[]> => {
      const out: QueueStatus[] = [];
      for (const q of queues()) {
        try {
          out.push(await queueStatus(q, { runningLimit: 0, deadLimit: 0 }));
        } catch {
          // Redis unreachable: the queue's gauges are left out of this scrape rather than failing it.
        }
      }
      return out;
    };
    // One Redis read per scrape, shared by every gauge below.
    let pending: Promise<QueueStatus[]> | undefined;
    const snapshot = (): Promise<QueueStatus[]> => {
      pending ??= read().finally(() => setTimeout(() => (pending = undefined), 100).unref());
      return pending;
    };
    const gauge = (
      name: string,
      help: string,
      value: (s: QueueStatus) => number | null,
      extra?: (g: Gauge<'queue' | 'state'>, s: QueueStatus) => void,
    ) =>
      new Gauge<'queue' | 'state'>({
        name,
        help,
        labelNames: extra ? ['queue', 'state'] : ['queue'],
        registers,
        async collect() {
          this.reset();
          for (const s of await snapshot()) {
            if (extra) extra(this, s);
            else {
              const v = value(s);
              if (v !== null) this.set({ queue: s.queue }, v);
            }
          }
        },
      });
    gauge('delayed_queue_waiting', 'Tasks waiting in the queue', (s) => s.waiting);
    gauge('delayed_queue_in_flight', 'Tasks taken by workers and not finished (all workers of the queue)', (s) => s.inFlight);
    gauge('delayed_queue_dead_letters', "Records in the queue's dead-letter list", (s) => s.deadLetters);
    gauge('delayed_queue_oldest_lease_age_seconds', 'Seconds since the least recently renewed live worker lease was renewed', (s) =>
      s.oldestLeaseAgeMs === null ? null : s.oldestLeaseAgeMs / 1000,
    );
    gauge(
      'delayed_queue_workers',
      'Worker registrations of the queue, by state (expired: lease ran out, not swept yet)',
      () => null,
      (g, s) => {
        g.set({ queue: s.queue, state: 'alive' }, s.workersAlive);
        g.set({ queue: s.queue, state: 'expired' }, s.workersExpired);
      },
    );
    const workers = () => [...this.#workers];
    new Gauge<'queue'>({
      name: 'delayed_worker_active_tasks',
      help: 'Tasks this worker process is running now',
      labelNames: ['queue'],
      registers,
      collect() {
        this.reset();
        for (const w of workers()) this.inc({ queue: w.queue.name }, w.active);
      },
    });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Reads this queue's waiting / in-flight / workers / dead-letter gauges from Redis at each scrape. */
  observeQueue(queue: Queue): void {
    this.#queues.set(queue.name, queue);
  }

  /**
   * Counts what goes through this Queue object's `enqueue` and `enqueueMany` (other producers' enqueues
   * are not seen: Redis keeps no count of enqueues).
   */
  countEnqueues(queue: Queue): void {
    const enqueue = queue.enqueue.bind(queue);
    const enqueueMany = queue.enqueueMany.bind(queue);
    const counter = this.enqueued;
    counter.inc({ queue: queue.name }, 0);
    queue.enqueue = async (...args) => {
      const id = await enqueue(...args);
      counter.inc({ queue: queue.name });
      return id;
    };
    queue.enqueueMany = async (...args) => {
      const ids = await enqueueMany(...args);
      counter.inc({ queue: queue.name }, ids.length);
      return ids;
    };
  }

  /** Counts a worker's outcomes and times its runs; also observes its queue. Returns a function that stops it. */
  observeWorker(worker: Worker): () => void {
    const queue = worker.queue.name;
    this.observeQueue(worker.queue);
    this.#workers.add(worker);
    const startedAt = new Map<string, { at: number; task: string }>();
    const key = (t: { id: string; attempt: number }) => `${t.id}#${t.attempt}`;
    // No zero series for `failed`: its task label is known only when a task fails (an empty label would read
    // as "a task without a name"). The unlabelled counters start at 0 so that rate() has a first point.
    this.recovered.inc({ queue }, 0);
    this.started.inc({ queue }, 0);
    const finish = (t: { id: string; attempt: number }, outcome: string, named = true) => {
      const k = key(t);
      const run = startedAt.get(k);
      if (!run) return;
      startedAt.delete(k);
      this.runTime.observe({ queue, task: named ? run.task : '', outcome }, (performance.now() - run.at) / 1000);
    };
    const listeners = {
      start: (t: { id: string; name: string; attempt: number }) => {
        startedAt.set(key(t), { at: performance.now(), task: t.name });
        this.started.inc({ queue });
      },
      success: (t: { id: string; name: string; attempt: number }) => {
        this.succeeded.inc({ queue, task: t.name });
        finish(t, 'succeeded');
      },
      failure: (t: { id: string; name: string; attempt: number }, f: { reason: string }) => {
        // Names that no loaded module defines come from Redis: keep them out of the labels.
        const known = f.reason !== 'unknown-task' && f.reason !== 'bad-payload';
        this.failed.inc({ queue, task: known ? t.name : '', reason: f.reason });
        finish(t, 'failed', known);
      },
      requeue: (t: { id: string; attempt: number }, why: string) => {
        this.requeued.inc({ queue, why });
        finish(t, 'requeued');
      },
      leaseLost: (_id: string, why: string) => {
        this.leaseLost.inc({ queue, why });
        startedAt.clear();
      },
      recovered: (report: SweepReport) => this.recovered.inc({ queue }, report.recovered),
    };
    const events = Object.entries(listeners) as [keyof typeof listeners, (...args: never[]) => void][];
    for (const [event, listener] of events) worker.on(event, listener as never);
    return () => {
      for (const [event, listener] of events) worker.off(event, listener as never);
      this.#workers.delete(worker);
    };
  }

  /** Counts the tasks a standalone sweeper put back. Returns a function that stops it. */
  observeSweeper(sweeper: Sweeper, queue: string): () => void {
    this.recovered.inc({ queue }, 0);
    const onRecovered = (report: SweepReport) => this.recovered.inc({ queue }, report.recovered);
    sweeper.on('recovered', onRecovered);
    return () => sweeper.off('recovered', onRecovered);
  }

  /** The metrics in Prometheus' text format. */
  async text(): Promise<string> {
    return await this.registry.metrics();
  }

  /** Serves GET /metrics (and GET / with a pointer to it) on `port` (0: a free one). */
  async listen(port: number, host?: string): Promise<MetricsServer> {
    const server: Server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (path === '/metrics') {
        this.registry.metrics().then(
          (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(req.method === 'HEAD' ? undefined : body),
          (err: unknown) =>
            res.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot collect metrics: ${(err as Error)?.message ?? String(err)}\n`),
        );
        return;
      }
      if (path === '/' || path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end(path === '/' ? 'delayed-queue worker: metrics at /metrics\n' : 'ok\n');
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    const shownHost = host === undefined || host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
    return {
      port: address.port,
      url: `http://${shownHost}:${address.port}/metrics`,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    };
  }
}
