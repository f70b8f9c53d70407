// One fault scenario's world: a private redis-server (scripts/redis-server.mjs, restartable on the same port and
// folder) or a partitioned queue on a shared Redis Cluster; the worker / sweeper processes it started
// (worker-main.ts, see proc.ts), its ledger, and a cleanup that ends all of it.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Cluster, Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../../scripts/redis-server.mjs';
import { Queue, Sweeper, type QueueOptions } from '../../src/index.ts';
import type { QueueKeys } from '../../src/keys.ts';
import { dropQueue, queueKeysNow, waitFor } from '../helpers.ts';
import { builtWorkerMain } from './built.ts';
import { readLedger, type LedgerEvent } from './ledger.ts';
import { Proc } from './proc.ts';

export const WORKER_MAIN = fileURLToPath(new URL('./worker-main.ts', import.meta.url));

/** How long a scenario's redis-server may take to answer PING after a start or restart (AOF loading included). */
const REDIS_START_MS = 15_000;

export interface WorkerSpec {
  readonly kind?: 'preforked' | 'forked' | 'inline' | 'sweeper';
  readonly concurrency?: number;
  readonly leaseMs?: number;
  /** 0: this worker does not sweep. */
  readonly sweepMs?: number;
  readonly failpoint?: string;
  readonly childExecArgv?: readonly string[];
  readonly killGraceMs?: number;
  readonly shutdownMs?: number;
  readonly deadLetters?: number;
  /** Another Redis URL (e.g. through a proxy). */
  readonly redisUrl?: string;
  /** A command to start node under, e.g. ['faketime', '-f', '+30s']. */
  readonly wrapper?: readonly string[];
  readonly name?: string;
  /** More environment for this process (and its children). */
  readonly env?: Readonly<Record<string, string>>;
  /** Run a compiled copy (plain JavaScript, no TypeScript loader: see built.ts). */
  readonly built?: boolean;
}

/** A fresh folder for a scenario's ledger and logs (and its Redis). */
function scenarioDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `faults-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40)}-`));
}

/**
 * One scenario's world: its queue (name and partitions), ledger, processes; `cleanup()` ends all of it. Where
 * the queue lives is the subclass's: Scenario (a private redis-server) or ClusterScenario (a shared cluster).
 */
export abstract class BaseScenario {
  readonly name: string;
  readonly dir: string;
  readonly ledgerDir: string;
  readonly queueName: string;
  /** The keys of each partition of the queue (one unless the scenario has several). */
  readonly keys: readonly QueueKeys[];
  readonly procs: Proc[] = [];
  /** The queue's name and partitions, for key scans (never connects). */
  protected readonly layout: Queue;
  readonly #queues: Queue[] = [];
  #n = 0;

  protected constructor(name: string, dir: string, queueName: string, partitions = 1) {
    this.name = name;
    this.dir = dir;
    this.ledgerDir = join(dir, 'ledger');
    mkdirSync(this.ledgerDir);
    this.queueName = queueName;
    this.layout = new Queue({ name: queueName, partitions });
    this.keys = this.layout.partitions;
  }

  abstract get url(): string;

  /** A connection for looking at and seeding Redis. */
  abstract client(): Redis;

  /** Ends what the scenario holds in Redis, once its processes and queues are gone. */
  protected abstract release(): Promise<void>;

  /** More environment for the worker processes. */
  protected workerEnv(): NodeJS.ProcessEnv {
    return {};
  }

  /** A key of this scenario's queue (partition 0), e.g. key('waiting'). */
  key(suffix: string): string {
    return `delayed:{${this.queueName}}:${suffix}`;
  }

  queue(options: Partial<QueueOptions> = {}): Queue {
    const queue = new Queue({ name: this.queueName, redis: this.url, partitions: this.keys.length, defaultTimeoutMs: 30_000, ...options });
    this.#queues.push(queue);
    return queue;
  }

  /** Starts a worker (or sweeper) process. */
  start(spec: WorkerSpec = {}): Proc {
    const name = spec.name ?? `${spec.kind ?? 'preforked'}-${++this.#n}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      FQ_REDIS: spec.redisUrl ?? this.url,
      FQ_QUEUE: this.queueName,
      FQ_PARTITIONS: String(this.keys.length),
      FQ_KIND: spec.kind ?? 'preforked',
      FQ_CONCURRENCY: String(spec.concurrency ?? 2),
      FQ_LEASE: String(spec.leaseMs ?? 1500),
      FQ_SWEEP: String(spec.sweepMs ?? 500),
      FQ_LEDGER: this.ledgerDir,
      FQ_KILL_GRACE: String(spec.killGraceMs ?? 300),
      FQ_SHUTDOWN: String(spec.shutdownMs ?? 5000),
      FQ_DEAD_LETTERS: String(spec.deadLetters ?? 0),
      FQ_CHILD_ARGV: JSON.stringify(spec.childExecArgv ?? []),
      ...this.workerEnv(),
      ...spec.env,
    };
    delete env.NODE_TEST_CONTEXT;
    delete env.DELAYED_FAILPOINT;
    if (spec.failpoint) env.DELAYED_FAILPOINT = spec.failpoint;
    const node = spec.built ? [process.execPath, builtWorkerMain()] : [process.execPath, '--import', 'tsx', WORKER_MAIN];
    const [command, ...args] = [...(spec.wrapper ?? []), ...node] as [string, ...string[]];
    const proc = new Proc(name, command, args, env, join(this.dir, `${name}.log`));
    this.procs.push(proc);
    return proc;
  }

  /** Starts a worker (or sweeper) and waits until it is ready: registered, with a child ready to take a task. */
  async worker(spec: WorkerSpec = {}): Promise<Proc> {
    const proc = this.start(spec);
    await proc.waitFor('ready', 60_000);
    return proc;
  }

  ledger(): LedgerEvent[] {
    return readLedger(this.ledgerDir);
  }

  /** Waits until every id has at least one terminal outcome in the ledger. */
  async drained(ids: readonly string[], ms: number): Promise<LedgerEvent[]> {
    const want = new Set(ids);
    return await waitFor(
      `${want.size} tasks to reach a terminal outcome`,
      () => {
        const events = this.ledger();
        const done = new Set(events.filter((e) => (e.event === 'ok' || e.event === 'fail') && want.has(e.id)).map((e) => e.id));
        return done.size === want.size ? events : undefined;
      },
      ms,
      100,
    );
  }

  /** The entries of one list in every partition, e.g. entries(redis, (k) => k.waiting). */
  async entries(redis: Redis, list: (keys: QueueKeys) => string): Promise<string[]> {
    return (await Promise.all(this.keys.map((k) => redis.lrange(list(k), 0, -1)))).flat();
  }

  /** Worker registrations, over every partition. */
  async registrations(redis: Redis): Promise<number> {
    return (await Promise.all(this.keys.map((k) => redis.zcard(k.workers)))).reduce((a, b) => a + b, 0);
  }

  /** The queue's keys now (every partition, every primary), less epochs (and the configuration record that lives as long as partition 0's), sweep locks and retired registrations: what a drained, idle queue must not have. */
  async residue(client?: Redis): Promise<string[]> {
    const allowed = new Set(this.keys.flatMap((k) => [k.epoch, k.config, k.sweepLock, k.retired, k.retiredLock]));
    return (await queueKeysNow(client ?? this.client(), this.layout)).filter((k) => !allowed.has(k));
  }

  /** Stops every worker in good order (SIGTERM), waits for the exits, then waits until no residue is left. */
  async stopAllAndCheckResidue(ms = 20_000): Promise<string[]> {
    for (const p of this.procs) p.signal('SIGTERM');
    await Promise.all(this.procs.map((p) => Promise.race([p.exited, sleep(10_000)])));
    for (const p of this.procs) p.signal('SIGKILL');
    // Registrations of killed workers go once the sweeper saw them empty for the grace period: sweep here.
    const sweeper = new Sweeper({ queue: this.queue(), intervalMs: 200, handleSignals: false, logger: quiet });
    const running = sweeper.run();
    try {
      return await waitFor(
        'the queue to hold only its epochs and sweep locks',
        async () => {
          const left = await this.residue();
          return left.length === 0 ? left : undefined;
        },
        ms,
        200,
      ).catch(async () => await this.residue());
    } finally {
      await sweeper.close();
      await running;
    }
  }

  async cleanup(): Promise<void> {
    for (const p of this.procs) p.signal('SIGCONT');
    for (const p of this.procs) p.signal('SIGKILL');
    await Promise.all(this.procs.map((p) => Promise.race([p.exited, sleep(5000)])));
    for (const p of this.procs) p.close();
    if (process.env.FAULTS_KEEP)
      for (const p of this.procs)
        writeFileSync(
          join(this.dir, `${p.name}.messages.json`),
          JSON.stringify({ pid: p.pid, exit: p.exit, messages: p.messages }, null, 1),
        );
    for (const q of this.#queues) await q.close();
    await this.release();
    if (!process.env.FAULTS_KEEP) rmSync(this.dir, { recursive: true, force: true });
    else console.log(`kept ${this.dir}`);
  }
}

/** A scenario on a redis-server of its own (`redis`: kill9() and restart() it), with a one-partition queue. */
export class Scenario extends BaseScenario {
  redis: RedisServer;
  readonly #clients: Redis[] = [];

  private constructor(name: string, redis: RedisServer, dir: string) {
    super(name, dir, `f-${randomBytes(4).toString('hex')}`);
    this.redis = redis;
  }

  static async create(name: string, redisArgs: string[] = []): Promise<Scenario> {
    const dir = scenarioDir(name);
    const redis = await startRedis(redisArgs, undefined, { dir: join(dir, 'redis'), startTimeoutMs: REDIS_START_MS });
    return new Scenario(name, redis, dir);
  }

  get url(): string {
    return this.redis.url;
  }

  /** A plain connection for looking at and seeding Redis (retries while Redis is away). */
  client(url = this.url): Redis {
    const client = new Redis(url, { maxRetriesPerRequest: 20 });
    client.on('error', () => undefined);
    this.#clients.push(client);
    return client;
  }

  protected async release(): Promise<void> {
    for (const c of this.#clients) c.disconnect();
    await this.redis.crash();
  }
}

/**
 * A scenario on a Redis Cluster that the scenarios of a test file share, with a queue of `partitions`
 * partitions. Its workers also say each warning and error they log (`log` messages); its cleanup deletes the
 * queue's keys, whatever a failed scenario left, so the next one starts on a clean cluster.
 */
export class ClusterScenario extends BaseScenario {
  readonly #url: string;
  readonly #redis: Cluster;

  /** `redis`: a connection to the cluster (the caller's, left open). */
  constructor(name: string, url: string, redis: Cluster, partitions: number) {
    super(name, scenarioDir(name), `c-${randomBytes(4).toString('hex')}`, partitions);
    this.#url = url;
    this.#redis = redis;
  }

  get url(): string {
    return this.#url;
  }

  /** The shared connection (a Cluster: the commands the scenarios use are the same as a Redis's). */
  client(): Redis {
    return this.#redis as unknown as Redis;
  }

  protected override workerEnv(): NodeJS.ProcessEnv {
    return { FQ_LOG_EVENTS: '1' };
  }

  protected async release(): Promise<void> {
    await dropQueue(this.client(), this.layout).catch(() => undefined);
  }
}

/** Runs `body` in a scenario and resolves with what it returns; cleans the scenario up whatever the body did. */
export async function inScenario<S extends BaseScenario, T>(made: S | Promise<S>, body: (s: S) => Promise<T>): Promise<T> {
  const s = await made;
  try {
    return await body(s);
  } finally {
    await s.cleanup();
  }
}

export const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
