// The kill -9 scenarios of the fault suite (test/faults/kill-scenarios.ts, soak-lib.ts) on a Redis Cluster
// (scripts/redis-cluster.mjs: 3 masters) with a queue of 3 partitions, one per master: a worker parent killed
// at each point of a task's life (C1a-C1c), a child killed mid-task (C2a), a sweeper killed mid-sweep again
// and again (C3a), and random kills under load (a short soak, C4). Same ledger checks as on one Redis: nothing
// acknowledged is lost, a task runs twice only where a run was cut off, and a drained queue holds nothing but
// its epochs and sweep locks. Then CR: the slot of one partition's hash tag moved, key by key, from master to
// master (five times, ending on another one) while a producer and workers run.
//
// The workers are test/faults/worker-main.ts with FQ_PARTITIONS=3 and FQ_LOG_EVENTS=1 (a `log` message for
// every warning or error they log: C4 and CR count what the workers saw); see ClusterScenario in scenario.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster } from 'ioredis';
import { Queue } from '../../src/index.ts';
import { crc16 } from '../../src/keys.ts';
import { keySlot, startCluster, type RedisClusterHandle } from '../../scripts/redis-cluster.mjs';
import { hasRedisServer, parseInfo, redisCommand } from '../../scripts/redis-server.mjs';
import { ClusterScenario, inScenario } from './scenario.ts';
import { report } from './report.ts';
import { waitFor } from '../helpers.ts';
import { childKill, sweeperKill, workerKill } from './kill-scenarios.ts';
import { histories, tally, type LedgerEvent } from './ledger.ts';
import { checkSoak, runSoak } from './soak-lib.ts';

const PARTITIONS = 3;

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
/** A scenario of its own (queue, ledger, processes) on the cluster the file shares. */
const onCluster = (name: string) => new ClusterScenario(name, cluster.url, redis, PARTITIONS);

before(
  async () => {
    cluster = await startCluster({ masters: 3 });
    redis = new Cluster(
      cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
      { redisOptions: { maxRetriesPerRequest: 20 } },
    );
    redis.on('error', () => undefined);
  },
  { timeout: 120_000 },
);

after(
  async () => {
    redis?.disconnect();
    await cluster?.stop();
  },
  { timeout: 60_000 },
);

test("C0. the queue's 3 partitions live on the 3 masters", { skip }, async () => {
  const keys = new Queue({ name: `c-${randomBytes(4).toString('hex')}`, partitions: PARTITIONS }).partitions;
  const owners = await Promise.all(keys.map((k) => cluster.slotOwner(keySlot(`{${k.tag}}`))));
  assert.equal(new Set(owners).size, PARTITIONS, `partition owners: ${owners.join(', ')}`);
});

for (const [label, point] of [
  ['C1a', 'after-dequeue'],
  ['C1b', 'child-running'],
  ['C1c', 'before-release'],
] as const) {
  test(
    `${label}. cluster, 3 partitions: worker parent kill -9 ${point === 'child-running' ? 'while its child runs the task' : `at ${point}`}`,
    { skip, timeout: 90_000 },
    () =>
      inScenario(onCluster(`cluster worker kill ${point}`), (s) =>
        workerKill(s, point, `${label}. cluster: worker kill -9 ${point}`, { tasks: 18, waitMs: 20_000 }),
      ),
  );
}

test('C2a. cluster, 3 partitions: a child killed -9 mid-task is put back (crashed) and runs again, once', { skip, timeout: 90_000 }, () =>
  inScenario(onCluster('cluster child kill'), (s) => childKill(s, 'C2a. cluster: child kill -9 mid-task', { waitMs: 20_000 })),
);

// Dead registrations as a 3-partition worker leaves them: one id registered in every partition, with entries
// in each partition's list; their leases ended 10 s ago.
test(
  'C3a. cluster, 3 partitions: a sweeper killed -9 mid-sweep, again and again: each lost task is put back exactly once',
  { skip, timeout: 120_000 },
  () =>
    inScenario(onCluster('cluster sweeper kill'), (s) =>
      sweeperKill(s, 'C3a. cluster: sweeper kill -9 mid-sweep', { perWorker: 8, waitMs: 100_000, minKills: 2 }),
    ),
);

test(
  'C4. cluster, 3 partitions: kill -9 under load (worker parents, children, sweepers at random), then drained',
  { skip, timeout: 150_000 },
  () =>
    inScenario(onCluster('cluster soak'), async (s) => {
      // About 9 s of work for the 9 slots without kills: the chaos runs while the queue is busy. The kind of
      // victim in turn (children are the most numerous: picked among all processes, nearly every kill would be
      // a child's), then one of that kind at random.
      const result = await runSoak({
        tasks: 320,
        chaosMs: 8000,
        killEveryMs: 300,
        minKills: 10,
        workers: 3,
        concurrency: 3,
        sweepers: 1,
        drainMs: 90_000,
        victims: ['child', 'worker', 'child', 'sweeper'],
        scenario: s,
      });
      const logged = s.procs.reduce((n, p) => n + p.messages.filter((m) => m.ev === 'log').length, 0);
      report('C4. cluster: kill -9 under load', { ...result.figures, 'worker warnings/errors logged': logged });
      assert.ok(result.kills >= 10, `things were killed (${result.kills})`);
      checkSoak(result);
    }),
);

test("CR. cluster, 3 partitions: one partition's slot moved key by key between masters mid-flow: nothing lost, each task finishes once", {
  skip,
  timeout: 150_000,
}, async () => {
  await inScenario(onCluster('cluster reshard'), async (s) => {
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
      await waitFor('a steady flow (120 outcomes)', () => s.ledger().filter((e) => e.event === 'ok').length >= 120, 60_000);
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
      const resumed = await waitFor(
        'a task of the moved partition, enqueued after the move, to start',
        () => s.ledger().find((e) => e.event === 'start' && (acked.get(e.id)?.at ?? 0) > moveEnd && acked.get(e.id)?.partition === moved),
        60_000,
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
      for (let i = 1; i < movedStarts.length; i++)
        if (movedStarts[i]! >= moveStart - 1000) longestGap = Math.max(longestGap, movedStarts[i]! - movedStarts[i - 1]!);
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
        "longest pause in the moved partition's starts ms": longestGap,
        // Any ERR here is CLIENT SETINFO, which ioredis sends on every new connection (Redis before 7.2 lacks it).
        'error replies the masters sent meanwhile (redirections)':
          Object.entries(redirects)
            .map(([k, n]) => `${n}× ${k}`)
            .join(', ') || 'none',
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
      report("CR. cluster: a partition's slot moved mid-flow", figures);
      assert.equal(owner, to, 'the slot now belongs to the target');
      assert.ok(
        moves.every((m) => m.keys >= 1),
        'the partition had keys to move each time',
      );
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
    }
  });
});
