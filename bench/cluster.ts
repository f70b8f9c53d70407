// Scenario "cluster": delayed-queue's `partitions` on a private 3-master Redis Cluster (scripts/redis-cluster.mjs),
// against the same queue on the bench's standalone redis-server. Off by default (it starts three more servers
// and only concerns delayed-queue: Bee-Queue has no cluster support, and a BullMQ queue lives in one hash slot);
// run it with BENCH_ONLY=cluster (or BENCH_ONLY=a,...,cluster).
import { Redis } from 'ioredis';
import { startCluster, type RedisClusterHandle } from '../scripts/redis-cluster.mjs';
import { drainHere, drainInProcs } from './drain.ts';
import { fail, getRow, log, preload, push, type Ctx, type Sys } from './harness.ts';
import { makePayload, monoMs } from './record.ts';
import { fmt, rate, scenario, type Scenario } from './scenarios.ts';
import type { Connection, System } from './systems/types.ts';
import type { ScenarioResult } from './table.ts';

const MASTERS = 3;

interface Setup {
  label: string;
  conn: Connection;
  flush(): Promise<void>;
}

async function onEveryMaster<T>(cluster: RedisClusterHandle, fn: (r: Redis, port: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (const node of cluster.nodes.filter((n) => n.alive)) {
    const r = new Redis({ host: '127.0.0.1', port: node.port, lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await r.connect();
      if (((await r.call('ROLE')) as [string])[0] === 'master') out.push(await fn(r, node.port));
    } finally {
      r.disconnect();
    }
  }
  return out;
}

export function cluster(ctx: Ctx): Scenario {
  const { single, bulk, drainInline } = ctx.cfg;
  const sc = scenario('cluster', `delayed-queue partitions on a ${MASTERS}-master Redis Cluster`, [rate]);
  sc.notes.push(
    `A private ${MASTERS}-master cluster (no replicas, no persistence) from scripts/redis-cluster.mjs; the queue's URL is redis+cluster:// naming every node. The standalone rows use the bench's own redis-server.`,
    `Groups: enqueue one at a time (${fmt(single)} tasks, awaited); bulk enqueue (${fmt(bulk)} tasks, enqueueMany of ${fmt(ctx.cfg.bulkBatch)}); drain ${fmt(drainInline)} pre-enqueued tasks with InlineWorker at concurrency 64 in one worker process, and in two.`,
    'Each repetition flushes every master first. Checks: every drain counts every task exactly once.',
  );
  let handle: RedisClusterHandle | undefined;
  const sys = ctx.systems.find((s) => s.id === 'delayed');
  return {
    result: sc,
    async close() {
      await handle?.stop();
      handle = undefined;
    },
    rep: async (rep: number) => {
      if (!sys) {
        if (rep === 1) sc.notes.push('delayed-queue is not among the systems of this run: nothing measured.');
        return;
      }
      if (!handle) {
        const t = Date.now();
        handle = await startCluster({ masters: MASTERS });
        log(`[cluster] ${MASTERS}-master cluster up in ${Date.now() - t} ms: ${handle.url}`);
      }
      const c = handle;
      const clusterConn = (partitions: number): Connection => ({ host: '127.0.0.1', port: c.nodes[0]?.port ?? 0, url: c.url, partitions });
      const flushCluster = async () => {
        await onEveryMaster(c, (r) => r.flushall());
      };
      const setups: Setup[] = [
        {
          label: 'standalone redis-server, partitions: 1',
          conn: ctx.conn,
          flush: async () => {
            await ctx.redis.admin.flushall();
          },
        },
        { label: `cluster, partitions: 1`, conn: clusterConn(1), flush: flushCluster },
        { label: `cluster, partitions: ${MASTERS}`, conn: clusterConn(MASTERS), flush: flushCluster },
      ];
      // Groups outer, setups inner: each group's table section lists the three setups together.
      for (const group of GROUPS) {
        for (const setup of setups) await group(ctx, sc, sys, setup, rep, setup.conn.url === c.url ? c : undefined);
      }
    },
  };
}

async function withOpen<T>(sys: Sys, setup: Setup, fn: (s: System) => Promise<T>): Promise<T> {
  await setup.flush();
  const s = await sys.open(setup.conn);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

type Group = (
  ctx: Ctx,
  sc: ScenarioResult,
  sys: Sys,
  setup: Setup,
  rep: number,
  onCluster: RedisClusterHandle | undefined,
) => Promise<void>;

const oneAtATime: Group = async (ctx, sc, sys, setup, rep) => {
  const n = ctx.cfg.single;
  const row = getRow(sc, sys, setup.label, 'enqueue one at a time, awaited');
  await withOpen(sys, setup, async (s) => {
    const t0 = monoMs();
    for (let i = 0; i < n; i++) await s.enqueueOne(makePayload(i));
    const r = n / ((monoMs() - t0) / 1000);
    push(row, 'rate', r);
    log(`[cluster] ${setup.label} rep ${rep}: one at a time ${fmt(r)} tasks/s`);
    const out = await drainHere(ctx, s, 'inline', 64, n);
    if (out.problem) fail(row, rep, `verification drain: ${out.problem}`);
  });
};

const bulkEnqueue: Group = async (ctx, sc, sys, setup, rep, onCluster) => {
  const n = ctx.cfg.bulk;
  const row = getRow(sc, sys, setup.label, 'bulk enqueue');
  await withOpen(sys, setup, async (s) => {
    const t0 = monoMs();
    await preload(ctx, s, n);
    const r = n / ((monoMs() - t0) / 1000);
    push(row, 'rate', r);
    log(`[cluster] ${setup.label} rep ${rep}: bulk ${fmt(r)} tasks/s`);
    if (onCluster && rep === 1) {
      // Where the partitions' waiting lists landed: one per master is the point of partitions.
      const where = await onEveryMaster(
        onCluster,
        async (r, port) => `:${port} ${(await r.keys('*waiting*')).sort().join(' ') || '(none)'}`,
      );
      sc.notes.push(`${setup.label}: waiting lists by master: ${where.join('; ')}`);
    }
  });
};

const drainWith =
  (procs: number): Group =>
  async (ctx, sc, sys, setup, rep) => {
    const n = ctx.cfg.drainInline;
    const row = getRow(sc, sys, setup.label, `drain, InlineWorker concurrency 64, ${procs} worker process${procs > 1 ? 'es' : ''}`);
    await withOpen(sys, setup, async (s) => {
      await preload(ctx, s, n);
      const out =
        procs === 1 ? await drainHere(ctx, s, 'inline', 64, n) : await drainInProcs(ctx, sys, s, 'inline', 64, n, procs, 0, 0, setup.conn);
      push(row, 'rate', out.rate);
      if (out.problem) fail(row, rep, out.problem);
      log(`[cluster] ${setup.label} rep ${rep}: drain with ${procs} process(es) ${fmt(out.rate)} tasks/s`);
    });
  };

const GROUPS: Group[] = [oneAtATime, bulkEnqueue, drainWith(1), drainWith(2)];
