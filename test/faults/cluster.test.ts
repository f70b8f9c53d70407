// The kill -9 scenarios of the fault suite on a Redis Cluster (scripts/redis-cluster.mjs: 3 masters) with a
// queue of 3 partitions, one per master: a worker parent killed at each point of a task's life (1a-1c), a
// child killed mid-task (2a), a sweeper killed mid-sweep again and again (3a), and random kills under load (a
// short soak, 4). Same ledger checks as on one Redis: nothing acknowledged is lost, a task runs twice only
// where a run was cut off, and a drained queue holds nothing but its epochs and sweep locks. Then R: the slot
// of one partition's hash tag moved, key by key, from master to master (five times, ending on another one)
// while a producer and workers run.
//
// The worker processes are this file itself, run with FQ_CLUSTER_MAIN=1: test/faults/worker-main.ts makes
// one-partition queues (it takes no partition count), so the same worker is made here with FQ_PARTITIONS.
// It writes the ledger and prints `@@` messages exactly as worker-main.ts does, plus a `log` message for
// every warning or error the worker logs (the reshard test counts what the workers saw).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster } from 'ioredis';
import { ForkedWorker, InlineWorker, PreforkedWorker, Queue, Sweeper, consoleLogger, type Logger, type QueueOptions, type Worker } from '../../src/index.ts';
import { crc16 } from '../../src/keys.ts';
import { keySlot, startCluster, type RedisClusterHandle } from '../../scripts/redis-cluster.mjs';
import { parseInfo, redisCommand } from '../../scripts/redis-server.mjs';
import { hasRedisServer, isAlive, Proc, quiet, recoveryTimes, report, until, type WorkerSpec } from './harness.ts';
import { histories, percentile, readLedger, tally, writeLedger, type LedgerEvent } from './ledger.ts';
import { entry, parseEntries, redisNow } from './seed.ts';

const SELF = fileURLToPath(import.meta.url);
const PARTITIONS = 3;
const LEASE = 1500;
const SWEEP = 500;
const BOUND = LEASE + SWEEP + 1000;

// ---------------------------------------------------------------------------------------------------------
// Worker mode: a worker (or standalone sweeper) process on a partitioned queue, configured like worker-main.ts.
// ---------------------------------------------------------------------------------------------------------
async function workerMain(): Promise<void> {
  const env = process.env;
  const num = (name: string, fallback: number): number => (env[name] !== undefined && env[name] !== '' ? Number(env[name]) : fallback);
  const say = (event: string, fields: Record<string, unknown> = {}): void => {
    process.stdout.write(`@@ ${JSON.stringify({ ev: event, pid: process.pid, t: Date.now(), mono: performance.now(), ...fields })}\n`);
  };
  const ledger = env.FQ_LEDGER ?? '';
  const kind = env.FQ_KIND ?? 'preforked';
  const base = consoleLogger('info');
  const tell = (level: 'warn' | 'error') => (fields: object, message: string) => {
    base[level](fields, message);
    const err = (fields as { err?: unknown }).err;
    say('log', { level, message, err: err instanceof Error ? `${err.name}: ${err.message}` : '' });
  };
  const logger: Logger = { debug: base.debug, info: base.info, warn: tell('warn'), error: tell('error') };
  const queue = new Queue({ name: env.FQ_QUEUE ?? 'faults', redis: env.FQ_REDIS ?? '', partitions: num('FQ_PARTITIONS', 1), deadLetters: num('FQ_DEAD_LETTERS', 0) });
  if (kind === 'sweeper') {
    const sweeper = new Sweeper({ queue, intervalMs: num('FQ_SWEEP', 500), logger });
    const running = sweeper.run();
    say('ready');
    await running;
    say('closed');
    await queue.close();
    process.exit(0);
  }
  const sweepMs = num('FQ_SWEEP', 500);
  const tasks = [new URL('./tasks.ts', import.meta.url)];
  const common = {
    queue,
    concurrency: num('FQ_CONCURRENCY', 2),
    leaseMs: num('FQ_LEASE', LEASE),
    sweep: sweepMs > 0,
    sweepIntervalMs: sweepMs > 0 ? sweepMs : 1000,
    shutdownTimeoutMs: num('FQ_SHUTDOWN', 5000),
    killGraceMs: num('FQ_KILL_GRACE', 300),
    logger,
    successHandler: (task: { id: string; attempt: number }) => {
      if (ledger) writeLedger(ledger, 'ok', task.id, task.attempt, worker.workerId);
    },
    errorHandler: (task: { id: string; attempt: number }, failure: { reason: string }) => {
      if (ledger) writeLedger(ledger, 'fail', task.id, task.attempt, failure.reason);
    },
  };
  const worker: Worker =
    kind === 'inline'
      ? new InlineWorker({ ...common, tasks: tasks.map((u) => u.href) })
      : kind === 'forked'
        ? new ForkedWorker({ ...common, tasks })
        : new PreforkedWorker({ ...common, tasks });
  worker.on('leaseLost', (id, why) => say('leaseLost', { id, why }));
  worker.on('dataLoss', (previous, current) => say('dataLoss', { previous, current }));
  worker.on('requeue', (task, why) => say('requeue', { id: task.id, attempt: task.attempt, why }));
  let announced = '';
  const watch = setInterval(() => {
    const id = worker.workerId;
    if (id !== '' && id !== announced) {
      announced = id;
      say('registered', { id });
    }
  }, 5);
  try {
    await worker.run();
    say('closed');
  } catch (err) {
    say('fatal', { message: (err as Error).message });
    process.exitCode = 1;
  }
  clearInterval(watch);
  await queue.close();
  process.exit();
}

// ---------------------------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------------------------

/** One scenario on the shared cluster: its own queue (3 partitions), ledger folder and processes. */
class ClusterScenario {
  readonly name: string;
  readonly dir: string;
  readonly ledgerDir: string;
  readonly queueName = `c-${randomBytes(4).toString('hex')}`;
  readonly procs: Proc[] = [];
  readonly keys: Queue['partitions'];
  readonly #cluster: RedisClusterHandle;
  readonly #redis: Cluster;
  readonly #queues: Queue[] = [];
  #n = 0;

  constructor(name: string, cluster: RedisClusterHandle, redis: Cluster) {
    this.name = name;
    this.#cluster = cluster;
    this.#redis = redis;
    this.dir = mkdtempSync(join(tmpdir(), `faults-cluster-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40)}-`));
    this.ledgerDir = join(this.dir, 'ledger');
    mkdirSync(this.ledgerDir);
    this.keys = new Queue({ name: this.queueName, partitions: PARTITIONS }).partitions;
  }

  queue(options: Partial<QueueOptions> = {}): Queue {
    const queue = new Queue({ name: this.queueName, redis: this.#cluster.url, partitions: PARTITIONS, defaultTimeoutMs: 30_000, ...options });
    this.#queues.push(queue);
    return queue;
  }

  start(spec: WorkerSpec = {}): Proc {
    const name = spec.name ?? `${spec.kind ?? 'preforked'}-${++this.#n}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      FQ_CLUSTER_MAIN: '1',
      FQ_PARTITIONS: String(PARTITIONS),
      FQ_REDIS: this.#cluster.url,
      FQ_QUEUE: this.queueName,
      FQ_KIND: spec.kind ?? 'preforked',
      FQ_CONCURRENCY: String(spec.concurrency ?? 2),
      FQ_LEASE: String(spec.leaseMs ?? LEASE),
      FQ_SWEEP: String(spec.sweepMs ?? SWEEP),
      FQ_LEDGER: this.ledgerDir,
      FQ_KILL_GRACE: String(spec.killGraceMs ?? 300),
      FQ_SHUTDOWN: String(spec.shutdownMs ?? 5000),
      FQ_DEAD_LETTERS: String(spec.deadLetters ?? 0),
    };
    delete env.NODE_TEST_CONTEXT;
    delete env.DELAYED_FAILPOINT;
    if (spec.failpoint) env.DELAYED_FAILPOINT = spec.failpoint;
    const proc = new Proc(name, process.execPath, ['--import', 'tsx', SELF], env, join(this.dir, `${name}.log`));
    this.procs.push(proc);
    return proc;
  }

  async worker(spec: WorkerSpec = {}): Promise<Proc> {
    const proc = this.start(spec);
    await proc.waitFor(spec.kind === 'sweeper' ? 'ready' : 'registered', 60_000);
    return proc;
  }

  ledger(): LedgerEvent[] {
    return readLedger(this.ledgerDir);
  }

  async drained(ids: readonly string[], ms: number): Promise<LedgerEvent[]> {
    const want = new Set(ids);
    return await until(`${want.size} tasks to reach a terminal outcome`, ms, () => {
      const events = this.ledger();
      const done = new Set(events.filter((e) => (e.event === 'ok' || e.event === 'fail') && want.has(e.id)).map((e) => e.id));
      return done.size === want.size ? events : undefined;
    }, 100);
  }

  /** The entries a registration holds, over every partition. */
  async held(workerId: string): Promise<string[]> {
    const lists = await Promise.all(this.keys.map((k) => this.#redis.lrange(k.worker(workerId), 0, -1)));
    return lists.flat();
  }

  /** Every key of the queue on every master (SCAN per master, both tag forms). */
  async allKeys(): Promise<string[]> {
    const found: string[] = [];
    for (const node of this.#redis.nodes('master')) {
      for (const match of [`delayed:{${this.queueName}}:*`, `delayed:{${this.queueName}/*}:*`]) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
          found.push(...keys);
          cursor = next;
        } while (cursor !== '0');
      }
    }
    return found.sort();
  }

  /** The queue's keys now, less epochs and sweep locks: what a drained, idle queue must not have. */
  async residue(): Promise<string[]> {
    return (await this.allKeys()).filter((k) => !k.endsWith(':epoch') && !k.endsWith(':sweep'));
  }

  /** Stops every process (SIGTERM, then SIGKILL), sweeps until the queue holds no residue (or `ms` passed). */
  async stopAllAndCheckResidue(ms = 20_000): Promise<string[]> {
    for (const p of this.procs) p.signal('SIGTERM');
    await Promise.all(this.procs.map((p) => Promise.race([p.exited, sleep(10_000)])));
    for (const p of this.procs) p.signal('SIGKILL');
    const sweeper = new Sweeper({ queue: this.queue(), intervalMs: 200, handleSignals: false, logger: quiet });
    const running = sweeper.run();
    try {
      return await until('the queue to hold only its epochs and sweep locks', ms, async () => {
        const left = await this.residue();
        return left.length === 0 ? left : undefined;
      }, 200).catch(async () => await this.residue());
    } finally {
      await sweeper.close();
      await running;
    }
  }

  async cleanup(): Promise<void> {
    for (const p of this.procs) p.signal('SIGKILL');
    await Promise.all(this.procs.map((p) => Promise.race([p.exited, sleep(5000)])));
    for (const p of this.procs) p.close();
    for (const q of this.#queues) await q.close();
    // Whatever a failed scenario left behind, so the next one starts on a clean cluster.
    for (const key of await this.allKeys().catch(() => [])) await this.#redis.del(key).catch(() => undefined);
    if (!process.env.FAULTS_KEEP) rmSync(this.dir, { recursive: true, force: true });
    else console.log(`kept ${this.dir}`);
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Runs that started and got no outcome from the worker that ran them (in a child: its parent; inline: itself). */
function cutOffRuns(ids: readonly string[], events: readonly LedgerEvent[]): { runs: number; tasks: Set<string> } {
  const byId = histories(events);
  let runs = 0;
  const tasks = new Set<string>();
  for (const id of ids) {
    const h = byId.get(id);
    if (!h) continue;
    for (const start of h.starts) {
      if (h.outcomes.some((o) => o.attempt === start.attempt && (o.pid === start.ppid || o.pid === start.pid))) continue;
      runs++;
      tasks.add(id);
    }
  }
  return { runs, tasks };
}

/** Error replies sent so far by each node (INFO errorstats: MOVED, ASK, TRYAGAIN, ...), summed by kind. */
async function errorStats(ports: readonly number[]): Promise<Record<string, number>> {
  const sum: Record<string, number> = {};
  for (const port of ports) {
    for (const [field, value] of Object.entries(parseInfo(await redisCommand(port, ['INFO', 'errorstats'])))) {
      const count = Number(/count=(\d+)/.exec(value)?.[1] ?? 0);
      const kind = field.replace(/^errorstat_/, '');
      sum[kind] = (sum[kind] ?? 0) + count;
    }
  }
  return sum;
}

function diffStats(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const diff: Record<string, number> = {};
  for (const [kind, n] of Object.entries(after)) if (n - (before[kind] ?? 0) > 0) diff[kind] = n - (before[kind] ?? 0);
  return diff;
}

const skip = hasRedisServer() ? false : 'redis-server is not installed';
let cluster: RedisClusterHandle;
let redis: Cluster;

function defineTests(): void {
  before(async () => {
    cluster = await startCluster({ masters: 3 });
    redis = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), { redisOptions: { maxRetriesPerRequest: 20 } });
    redis.on('error', () => undefined);
  }, { timeout: 120_000 });

  after(async () => {
    redis?.disconnect();
    await cluster?.stop();
  }, { timeout: 60_000 });

  test('C0. the queue\'s 3 partitions live on the 3 masters', { skip }, async () => {
    const keys = new Queue({ name: `c-${randomBytes(4).toString('hex')}`, partitions: PARTITIONS }).partitions;
    const owners = await Promise.all(keys.map((k) => cluster.slotOwner(keySlot(`{${k.tag}}`))));
    assert.equal(new Set(owners).size, PARTITIONS, `partition owners: ${owners.join(', ')}`);
  });

  type Point = 'after-dequeue' | 'child-running' | 'before-release';
  for (const [label, point] of [['C1a', 'after-dequeue'], ['C1b', 'child-running'], ['C1c', 'before-release']] as const satisfies readonly (readonly [string, Point])[]) {
    test(`${label}. cluster, 3 partitions: worker parent kill -9 ${point === 'child-running' ? 'while its child runs the task' : `at ${point}`}`, { skip, timeout: 90_000 }, async () => {
      const s = new ClusterScenario(`cluster worker kill ${point}`, cluster, redis);
      try {
        const [healthy, victim] = await Promise.all([
          s.worker({ name: 'healthy', concurrency: 2 }),
          s.worker({ name: 'victim', concurrency: 2, ...(point === 'child-running' ? {} : { failpoint: point }) }),
        ]);
        const victimId = victim.workerIds[0]!;
        const queue = s.queue();
        const ids = await queue.enqueueMany(Array.from({ length: 18 }, () => ({ name: 'work', args: [s.ledgerDir, 300] })));
        if (point === 'child-running') {
          await until('a child of the victim to start a task', 20_000, () => s.ledger().some((e) => e.event === 'start' && e.ppid === victim.pid));
          await victim.kill9();
        } else {
          await until('the victim to hit its failpoint', 20_000, () => !victim.alive);
          assert.equal(victim.exit?.signal, 'SIGKILL');
        }
        const killedAt = victim.exit!.t;
        const heldIds = (await s.held(victimId)).map((e) => e.split('|')[4]!);
        assert.ok(heldIds.length >= 1, 'the victim died holding at least one task');
        const events = await s.drained(ids, 60_000);
        const t = tally(ids, events);
        const recovery = recoveryTimes(events, new Map(heldIds.map((id) => [id, killedAt] as const)));
        const victimOutcomes = events.filter((e) => e.pid === victim.pid && (e.event === 'ok' || e.event === 'fail'));
        const residue = await s.stopAllAndCheckResidue();
        report(`${label}. cluster: worker kill -9 ${point}`, {
          tasks: ids.length,
          'held by the victim': heldIds.length,
          lost: t.lost.length,
          'duplicate starts': t.duplicateStarts,
          'duplicate outcomes': t.duplicateOutcomes.length,
          'same attempt started twice': t.sameAttemptTwice.length,
          'recovery p50 ms': percentile(recovery, 50),
          'recovery max ms': percentile(recovery, 100),
          'recovery bound ms': BOUND,
          residue: residue.join(' ') || 'none',
        });
        assert.deepEqual(t.lost, [], 'no acknowledged task is lost');
        assert.deepEqual(t.sameAttemptTwice, [], 'no entry is leased to two runs at once');
        assert.ok(t.duplicateStarts <= heldIds.length, `duplicate starts (${t.duplicateStarts}) ≤ runs cut off (${heldIds.length})`);
        assert.equal(recovery.length, heldIds.length, 'every task the victim held ran again (or finished) after the kill');
        assert.ok(percentile(recovery, 100) <= BOUND, `recovery ${percentile(recovery, 100)} ms ≤ ${BOUND} ms`);
        assert.deepEqual(t.byOutcome, { success: ids.length });
        if (point === 'before-release') {
          assert.ok(victimOutcomes.length >= 1, 'the victim reported the outcome it did not release');
          assert.ok(t.duplicateOutcomes.length <= 1);
          for (const id of t.duplicateOutcomes) assert.ok(heldIds.includes(id));
        } else {
          assert.deepEqual(t.duplicateOutcomes, [], 'no duplicate outcome without a kill between handler and release');
        }
        assert.deepEqual(residue, [], 'a drained queue holds only its epochs and sweep locks');
        assert.ok(healthy.alive || healthy.exit?.code === 0);
      } finally {
        await s.cleanup();
      }
    });
  }

  test('C2a. cluster, 3 partitions: a child killed -9 mid-task is put back (crashed) and runs again, once', { skip, timeout: 90_000 }, async () => {
    const s = new ClusterScenario('cluster child kill', cluster, redis);
    try {
      const worker = await s.worker({ concurrency: 2 });
      const queue = s.queue();
      const ids = await queue.enqueueMany(Array.from({ length: 6 }, () => ({ name: 'work', args: [s.ledgerDir, 800] })));
      const kills = new Map<string, number>();
      for (let n = 0; n < 2; n++) {
        const victim = await until('a run to kill', 20_000, () => s.ledger().find((e) => e.event === 'start' && e.attempt === 0 && !kills.has(e.id) && isAlive(e.pid)));
        process.kill(victim.pid, 'SIGKILL');
        kills.set(victim.id, Date.now());
      }
      const events = await s.drained(ids, 60_000);
      const t = tally(ids, events);
      const recovery = recoveryTimes(events, kills);
      const requeues = worker.messages.filter((m) => m.ev === 'requeue');
      const alive = worker.alive;
      const residue = await s.stopAllAndCheckResidue();
      report('C2a. cluster: child kill -9 mid-task', {
        tasks: ids.length,
        'children killed': kills.size,
        lost: t.lost.length,
        'duplicate starts': t.duplicateStarts,
        'duplicate outcomes': t.duplicateOutcomes.length,
        'requeued (crashed)': requeues.length,
        'recovery max ms': percentile(recovery, 100),
        residue: residue.join(' ') || 'none',
      });
      assert.deepEqual(t.lost, []);
      assert.equal(t.duplicateStarts, kills.size, 'each killed run ran again exactly once');
      assert.deepEqual(t.duplicateOutcomes, []);
      assert.deepEqual(t.byOutcome, { success: ids.length });
      assert.deepEqual(requeues.map((m) => m.why), ['crashed', 'crashed']);
      assert.ok(percentile(recovery, 100) <= 10_000, `a crashed run runs again soon (${percentile(recovery, 100)} ms)`);
      assert.ok(alive, 'the worker survives');
      assert.deepEqual(residue, []);
    } finally {
      await s.cleanup();
    }
  });

  test('C3a. cluster, 3 partitions: a sweeper killed -9 mid-sweep, again and again: each lost task is put back exactly once', { skip, timeout: 120_000 }, async () => {
    const s = new ClusterScenario('cluster sweeper kill', cluster, redis);
    try {
      // Dead registrations as a 3-partition worker leaves them: one id registered in every partition, with
      // entries in each partition's list; their leases ended 10 s ago.
      const now = await redisNow(redis as unknown as Parameters<typeof redisNow>[0]);
      const taskIds: string[] = [];
      const deadIds = Array.from({ length: 5 }, (_, w) => `dead.${w}.${randomBytes(3).toString('hex')}`);
      for (const keys of s.keys) {
        const pipeline = redis.pipeline(); // one slot per partition: one pipeline each
        pipeline.set(keys.epoch, 'seeded', 'NX');
        deadIds.forEach((workerId, w) => {
          const entries: string[] = [];
          for (let n = 0; n < 8; n++) {
            const id = `orphan.${keys.partition}.${w}.${n}`;
            taskIds.push(id);
            entries.push(entry(id, 'work', [s.ledgerDir, 10]));
          }
          pipeline.lpush(keys.worker(workerId), ...entries);
          pipeline.zadd(keys.workers, now - 10_000, workerId);
          pipeline.hset(keys.info, workerId, `${now} {"kind":"seeded"}`);
        });
        const results = await pipeline.exec();
        const failed = results?.find(([err]) => err);
        if (failed) throw failed[0];
      }
      const registrations = async () => (await Promise.all(s.keys.map((k) => redis.zcard(k.workers)))).reduce((a, b) => a + b, 0);
      const sweepers: Proc[] = [];
      await until('every dead registration to be swept', 100_000, async () => {
        if ((await registrations()) === 0) return true;
        if (!sweepers.some((p) => p.alive)) sweepers.push(s.start({ kind: 'sweeper', sweepMs: 200, failpoint: 'mid-sweep' }));
        return false;
      }, 50);
      const killedMidSweep = sweepers.filter((p) => p.exit?.signal === 'SIGKILL').length;
      const waiting = parseEntries((await Promise.all(s.keys.map((k) => redis.lrange(k.waiting, 0, -1)))).flat());
      const copies = new Map<string, number>();
      for (const e of waiting) copies.set(e.id, (copies.get(e.id) ?? 0) + 1);
      await s.worker({ concurrency: 4 });
      const events = await s.drained(taskIds, 60_000);
      const t = tally(taskIds, events);
      const residue = await s.stopAllAndCheckResidue();
      report('C3a. cluster: sweeper kill -9 mid-sweep', {
        'orphaned tasks': taskIds.length,
        'sweepers killed mid-sweep': killedMidSweep,
        'tasks put back': waiting.length,
        'put back more than once': [...copies.values()].filter((n) => n > 1).length,
        lost: t.lost.length,
        'duplicate starts': t.duplicateStarts,
        residue: residue.join(' ') || 'none',
      });
      assert.ok(killedMidSweep >= 2, `the failpoint fired (${killedMidSweep} sweepers killed mid-sweep)`);
      assert.equal(waiting.length, taskIds.length);
      assert.equal(copies.size, taskIds.length, 'each task is back exactly once');
      assert.deepEqual(new Set(waiting.map((e) => `${e.attempt}|${e.cutoffs}|${e.reason}`)), new Set(['1|1|lost']));
      assert.deepEqual(t.lost, []);
      assert.equal(t.duplicateStarts, 0);
      assert.deepEqual(residue, []);
    } finally {
      await s.cleanup();
    }
  });

  test('C4. cluster, 3 partitions: kill -9 under load (worker parents, children, sweepers at random), then drained', { skip, timeout: 150_000 }, async () => {
    const s = new ClusterScenario('cluster soak', cluster, redis);
    try {
      const workerSpec: WorkerSpec = { concurrency: 3 };
      const sweeperSpec: WorkerSpec = { kind: 'sweeper' };
      const workers = await Promise.all([1, 2, 3].map(() => s.worker(workerSpec)));
      const sweepers = [await s.worker(sweeperSpec)];
      const queue = s.queue();
      // About 9 s of work for the 9 slots without kills: the chaos runs while the queue is busy.
      const ids = await queue.enqueueMany(Array.from({ length: 500 }, (_, i) => ({ name: 'work', args: [s.ledgerDir, 20 + ((i * 37) % 281)] })));
      let supervising = true;
      let restarts = 0;
      const supervisor = (async () => {
        while (supervising) {
          for (const [list, spec] of [[workers, workerSpec], [sweepers, sweeperSpec]] as const) {
            for (let i = 0; i < list.length; i++) {
              if (!list[i]!.alive) {
                list[i] = s.start(spec);
                restarts++;
              }
            }
          }
          await sleep(20);
        }
      })();
      const kills: { t: number; kind: 'worker' | 'child' | 'sweeper'; pid: number }[] = [];
      const chaosStart = Date.now();
      // The kind of victim in turn (children are the most numerous: picked among all processes, nearly every
      // kill would be a child's), then one of that kind at random.
      const order = ['child', 'worker', 'child', 'sweeper'] as const;
      for (let round = 0; Date.now() - chaosStart < 8000; round++) {
        const kind = order[round % order.length]!;
        const targets =
          kind === 'worker'
            ? workers.filter((w) => w.alive && w.messages.length > 0).map((w) => ({ pid: w.nodePid, proc: w as Proc | undefined }))
            : kind === 'sweeper'
              ? sweepers.filter((p) => p.alive && p.messages.length > 0).map((p) => ({ pid: p.nodePid, proc: p as Proc | undefined }))
              : workers.filter((w) => w.alive).flatMap((w) => childrenOf(w.nodePid).map((pid) => ({ pid, proc: undefined as Proc | undefined })));
        const picked = targets[Math.floor(Math.random() * targets.length)];
        const victim = picked ? { ...picked, kind } : undefined;
        if (victim) {
          try {
            if (victim.proc) victim.proc.signal('SIGKILL');
            else process.kill(victim.pid, 'SIGKILL');
            kills.push({ t: Date.now(), kind: victim.kind, pid: victim.pid });
          } catch {
            // it ended by itself
          }
        }
        await sleep(300);
      }
      const chaosEnd = Date.now();
      const doneAtChaosEnd = new Set(s.ledger().filter((e) => e.event === 'ok' || e.event === 'fail').map((e) => e.id)).size;
      const events = await s.drained(ids, 90_000);
      const drainMs = Date.now() - chaosEnd;
      supervising = false;
      await supervisor;
      const t = tally(ids, events);
      const cut = cutOffRuns(ids, events);
      const residue = await s.stopAllAndCheckResidue(30_000);
      const byKind = (kind: string) => kills.filter((k) => k.kind === kind).length;
      report('C4. cluster: kill -9 under load', {
        tasks: ids.length,
        'kills: worker parents': byKind('worker'),
        'kills: children': byKind('child'),
        'kills: sweepers': byKind('sweeper'),
        'restarts by the supervisor': restarts,
        'done when the chaos ended': doneAtChaosEnd,
        'drain after the chaos s': Math.round(drainMs / 1000),
        'worker warnings/errors logged': s.procs.reduce((n, p) => n + p.messages.filter((m) => m.ev === 'log').length, 0),
        lost: t.lost.length,
        'runs cut off': cut.runs,
        'duplicate starts': t.duplicateStarts,
        'duplicate outcomes': t.duplicateOutcomes.length,
        'same attempt started twice': t.sameAttemptTwice.length,
        'terminal outcomes': JSON.stringify(t.byOutcome),
        residue: residue.join(' ') || 'none',
      });
      assert.ok(kills.length >= 10, `things were killed (${kills.length})`);
      assert.deepEqual(t.lost, [], 'no acknowledged task is lost');
      assert.deepEqual(t.sameAttemptTwice, [], 'no entry leased to two runs at once');
      assert.ok(t.duplicateStarts <= cut.runs, `duplicate starts (${t.duplicateStarts}) ≤ runs cut off (${cut.runs})`);
      for (const id of t.duplicateOutcomes) assert.ok(cut.tasks.has(id), `task ${id} has two outcomes only after a cut-off run`);
      assert.deepEqual(residue, [], 'a drained queue holds only its epochs and sweep locks');
    } finally {
      await s.cleanup();
    }
  });

  test('CR. cluster, 3 partitions: one partition\'s slot moved key by key between masters mid-flow: nothing lost, each task finishes once', { skip, timeout: 150_000 }, async () => {
    const s = new ClusterScenario('cluster reshard', cluster, redis);
    let producing = true;
    let producer: Promise<void> | undefined;
    try {
      const workers = await Promise.all([1, 2].map(() => s.worker({ kind: 'inline', concurrency: 4 })));
      const queue = s.queue();
      const moved = 1; // the partition whose slot moves
      const keys = queue.partitions[moved]!;
      const slot = keySlot(`{${keys.tag}}`);
      // A partition key for each partition (crc16(key) % 3 picks it), so every enqueue names its partition.
      const partitionKey = s.keys.map((k) => {
        for (let i = 0; ; i++) if (crc16(`k${i}`) % PARTITIONS === k.partition) return `k${i}`;
      });
      const acked = new Map<string, { partition: number; at: number }>();
      const producerErrors: { t: number; message: string }[] = [];
      producer = (async () => {
        for (let i = 0; producing; i++) {
          const partition = i % PARTITIONS;
          try {
            const id = await queue.enqueue('work', [s.ledgerDir, 50], { partitionKey: partitionKey[partition] });
            acked.set(id, { partition, at: Date.now() });
          } catch (err) {
            producerErrors.push({ t: Date.now(), message: (err as Error).message });
          }
          await sleep(8);
        }
      })();
      await until('a steady flow (120 outcomes)', 60_000, () => s.ledger().filter((e) => e.event === 'ok').length >= 120);
      // Five moves, one key per MIGRATE, round the three masters (ending away from where it started): each
      // move is over in milliseconds here, so one alone would rarely meet a command in its window.
      const from = await cluster.slotOwner(slot);
      const masters = cluster.nodes.map((n) => n.port);
      const moves: { to: number; keys: number; ms: number }[] = [];
      const errorsBefore = await errorStats(masters);
      const moveStart = Date.now();
      let to = from;
      for (let m = 0; m < 5; m++) {
        to = masters[(masters.indexOf(to) + 1) % masters.length]!;
        const started = Date.now();
        const keysMoved = await cluster.moveSlot(slot, to, { batch: 1 });
        moves.push({ to, keys: keysMoved, ms: Date.now() - started });
        await sleep(300);
      }
      const moveEnd = Date.now() - 300;
      // Resume of the moved partition: the first start of one of its tasks acknowledged after the last move.
      const resumed = await until('a task of the moved partition, enqueued after the move, to start', 60_000, () =>
        s.ledger().find((e) => e.event === 'start' && (acked.get(e.id)?.at ?? 0) > moveEnd && acked.get(e.id)?.partition === moved),
      );
      await sleep(2000);
      producing = false;
      await producer;
      const ids = [...acked.keys()];
      const events = await s.drained(ids, 60_000);
      const t = tally(ids, events);
      const cut = cutOffRuns(ids, events);
      // The longest pause in the moved partition's starts around the move.
      const movedStarts = events.filter((e) => e.event === 'start' && acked.get(e.id)?.partition === moved).map((e) => e.t);
      let longestGap = 0;
      for (let i = 1; i < movedStarts.length; i++) if (movedStarts[i]! >= moveStart - 1000) longestGap = Math.max(longestGap, movedStarts[i]! - movedStarts[i - 1]!);
      const workerLogs = s.procs.flatMap((p) => p.messages.filter((m) => m.ev === 'log'));
      const seen = new Map<string, number>();
      for (const m of workerLogs) {
        const k = `${String(m.message)}${m.err ? ` (${String(m.err).slice(0, 120)})` : ''}`;
        seen.set(k, (seen.get(k) ?? 0) + 1);
      }
      const leaseLosses = s.procs.flatMap((p) => p.messages.filter((m) => m.ev === 'leaseLost'));
      const redirects = diffStats(errorsBefore, await errorStats(masters));
      const owner = await cluster.slotOwner(slot);
      const workersAlive = workers.filter((w) => w.alive).length;
      const residue = await s.stopAllAndCheckResidue();
      const figures = {
        'slot moved': `${slot} ({${keys.tag}}) from ${from}: ${moves.map((m) => `→ ${m.to} (${m.keys} keys, ${m.ms} ms)`).join(' ')}`,
        'moves over ms': moveEnd - moveStart,
        'acknowledged enqueues': ids.length,
        'producer errors': producerErrors.length,
        'producer error kinds': [...new Set(producerErrors.map((e) => e.message.slice(0, 80)))].join(' / ') || 'none',
        'moved partition resumed ms after the last move': resumed.t - moveEnd,
        'longest pause in the moved partition\'s starts ms': longestGap,
        // Any ERR here is CLIENT SETINFO, which ioredis sends on every new connection (Redis before 7.2 lacks it).
        'error replies the masters sent meanwhile (redirections)': Object.entries(redirects).map(([k, n]) => `${n}× ${k}`).join(', ') || 'none',
        'worker warnings/errors': workerLogs.length,
        'what the workers logged': [...seen].map(([k, n]) => `${n}× ${k}`).join(' / ') || 'nothing',
        'leases lost': leaseLosses.length,
        lost: t.lost.length,
        'runs cut off': cut.runs,
        'duplicate starts': t.duplicateStarts,
        'duplicate outcomes': t.duplicateOutcomes.length,
        'same attempt started twice': t.sameAttemptTwice.length,
        residue: residue.join(' ') || 'none',
      };
      report('CR. cluster: a partition\'s slot moved mid-flow', figures);
      assert.equal(owner, to, 'the slot now belongs to the target');
      assert.ok(moves.every((m) => m.keys >= 1), 'the partition had keys to move each time');
      assert.equal(workersAlive, 2, 'the workers live on');
      assert.deepEqual(t.lost, [], 'no acknowledged task is lost');
      assert.deepEqual(t.sameAttemptTwice, [], 'no entry leased to two runs at once');
      assert.ok(t.duplicateStarts <= cut.runs, `duplicate starts (${t.duplicateStarts}) ≤ runs cut off (${cut.runs})`);
      for (const id of t.duplicateOutcomes) assert.ok(cut.tasks.has(id), `task ${id} has two outcomes only after a cut-off run`);
      assert.deepEqual(t.byOutcome, { success: ids.length });
      assert.deepEqual(residue, [], 'a drained queue holds only its epochs and sweep locks');
    } finally {
      producing = false;
      await producer;
      await s.cleanup();
    }
  });
}

if (process.env.FQ_CLUSTER_MAIN === '1') await workerMain();
else defineTests();
