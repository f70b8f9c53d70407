// The test servers themselves: a Redis Cluster (scripts/redis-cluster.mjs) and a Sentinel group
// (scripts/redis-sentinel.mjs), started here on free loopback ports. The cluster: slots as Redis computes them,
// a slot moved with its keys while a Cluster client keeps writing, a node killed and restarted. The Sentinel
// group: the primary killed -9, the replica promoted, and how long that took.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { keySlot, startCluster, type RedisClusterHandle } from '../scripts/redis-cluster.mjs';
import { startSentinelGroup, type SentinelGroup } from '../scripts/redis-sentinel.mjs';
import { parseInfo, redisCommand } from '../scripts/redis-server.mjs';
import { retrying, waitFor } from './helpers.ts';

const LONG = { timeout: 180_000 };

async function nodesView(port: number): Promise<string> {
  return String(await redisCommand(port, ['CLUSTER', 'NODES']));
}

/** The port owning `slot` according to the node on `port` (CLUSTER SLOTS). */
async function ownerSeenBy(port: number, slot: number): Promise<number | undefined> {
  const ranges = (await redisCommand(port, ['CLUSTER', 'SLOTS'])) as [number, number, [string, number, string], ...unknown[]][];
  const range = ranges.find(([first, last]) => slot >= first && slot <= last);
  return range?.[2][1];
}

describe('Redis Cluster', () => {
  let cluster: RedisClusterHandle;
  const clients: (Cluster | Redis)[] = [];
  const clusterClient = (): Cluster => {
    const client = new Cluster(
      cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
      {
        slotsRefreshTimeout: 5000,
        redisOptions: { connectTimeout: 5000 },
      },
    );
    client.on('error', () => undefined); // a node killed on purpose below
    clients.push(client);
    return client;
  };

  before(async () => {
    cluster = await startCluster({ masters: 3 });
  }, LONG);

  after(async () => {
    for (const c of clients) c.disconnect();
    await cluster?.stop();
  }, LONG);

  test('three masters, every node ok, every slot owned, one view', async () => {
    assert.equal(cluster.nodes.length, 3);
    assert.deepEqual(
      cluster.seeds,
      cluster.nodes.map((n) => `redis://127.0.0.1:${n.port}`),
    );
    assert.equal(cluster.url, `redis+cluster://${cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`);
    for (const node of cluster.nodes) {
      const info = parseInfo(await redisCommand(node.port, ['CLUSTER', 'INFO']));
      assert.equal(info.cluster_state, 'ok', `node ${node.port}`);
      assert.equal(info.cluster_slots_assigned, '16384');
      assert.equal(info.cluster_known_nodes, '3');
      assert.equal(node.id, String(await redisCommand(node.port, ['CLUSTER', 'MYID'])));
    }
    // Three masters split the slots in three: the first, a middle and the last slot have different owners.
    const owners = await Promise.all([0, 8192, 16383].map((slot) => cluster.slotOwner(slot)));
    assert.equal(new Set(owners).size, 3, `owners of slots 0, 8192, 16383: ${owners.join(', ')}`);
    for (const node of cluster.nodes) {
      assert.deepEqual(
        await Promise.all([0, 8192, 16383].map((slot) => ownerSeenBy(node.port, slot))),
        owners,
        `as node ${node.port} sees it`,
      );
    }
  });

  test('keySlot agrees with CLUSTER KEYSLOT, hash tags included', async () => {
    const keys = [
      '',
      'foo',
      '123456789',
      'a',
      '{',
      '}',
      '{}',
      '}{',
      '{}{a}',
      '{a}{b}',
      'x{a}y',
      'x{a}{b}y',
      'foo{}{bar}',
      'foo{{bar}}zap',
      'foo{bar}{zap}',
      '{user1000}.following',
      '{user1000}.followers',
      'delayed:{default}:waiting',
      'delayed:{default}:workers',
      '{{}}',
      '{ }',
      'é',
      'ключ',
      '{ключ}:x',
      '日本{語}',
      '😀',
      '{😀}tail',
      'tab\tkey',
      'new\nline',
      '{{a}',
      'a}b{c}',
    ];
    for (let i = 0; keys.length < 220; i++) {
      const r = randomBytes(6).toString('base64');
      keys.push(i % 3 === 0 ? `k:${r}` : i % 3 === 1 ? `q:{${r}}:${i}` : `${r.slice(0, 3)}{${r.slice(3)}`);
    }
    // Known values: CRC16/XMODEM of "123456789" is 0x31C3.
    assert.equal(keySlot('123456789'), 0x31c3);
    assert.equal(keySlot('{user1000}.following'), keySlot('{user1000}.followers'));
    assert.equal(keySlot('foo{{bar}}zap'), keySlot('{bar'), 'the tag is what lies between the first { and the first } after it');
    assert.notEqual(keySlot('foo{}{bar}'), keySlot('bar'), 'an empty tag: the whole key is hashed');
    assert.equal(keySlot('foo{bar}{zap}'), keySlot('bar'));
    assert.equal(keySlot(Buffer.from('{tag}rest')), keySlot('tag'));
    const port = cluster.nodes[0]!.port;
    const mismatches: string[] = [];
    for (const key of keys) {
      const expected = Number(await redisCommand(port, ['CLUSTER', 'KEYSLOT', key]));
      if (keySlot(key) !== expected) mismatches.push(`${JSON.stringify(key)}: keySlot ${keySlot(key)}, Redis ${expected}`);
    }
    assert.deepEqual(mismatches, []);
    assert.ok(keys.length >= 200);
  });

  test('moveSlot moves a slot and its keys to another master while a Cluster client writes to it', LONG, async (t) => {
    const tag = `move-${randomBytes(4).toString('hex')}`;
    const slot = keySlot(`{${tag}}`);
    const client = clusterClient();
    const n = 150;
    for (let i = 0; i < n; i++) await client.set(`{${tag}}:s:${i}`, `v${i}`);
    await client.rpush(`{${tag}}:list`, 'a', 'b', 'c');
    await client.hset(`{${tag}}:hash`, 'f', 'v', 'g', 'w');
    await client.zadd(`{${tag}}:zset`, 1, 'one', 2, 'two');
    await client.set(`{${tag}}:ttl`, 'x', 'PX', 600_000);
    const stored = n + 4;

    const from = await cluster.slotOwner(slot);
    const to = cluster.nodes.find((node) => node.port !== from)!.port;
    assert.equal(Number(await redisCommand(from, ['CLUSTER', 'COUNTKEYSINSLOT', slot])), stored);
    assert.equal(Number(await redisCommand(to, ['CLUSTER', 'COUNTKEYSINSLOT', slot])), 0);

    // A writer that keeps going during the move: one counter it increments, and new keys.
    let writing = true;
    let increments = 0;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        await client.incr(`{${tag}}:counter`);
        increments++;
        await client.set(`{${tag}}:live:${written}`, String(written));
        written++;
      }
    })();
    await waitFor('the writer to get going', () => written >= 5, 30_000, 10);
    const startedAt = Date.now();
    const moved = await cluster.moveSlot(slot, to);
    const tookMs = Date.now() - startedAt;
    const writtenAtMove = written;
    await waitFor('a few more writes after the move', () => written >= writtenAtMove + 5, 30_000, 10);
    writing = false;
    await writer;
    t.diagnostic(`moved slot ${slot} (${moved} keys) from ${from} to ${to} in ${tookMs} ms; the writer made ${written} writes meanwhile`);

    assert.ok(moved >= stored, `moved ${moved} keys, ${stored} were there before the writer started`);
    assert.equal(await cluster.slotOwner(slot), to);
    for (const node of cluster.nodes) {
      assert.equal(await ownerSeenBy(node.port, slot), to, `owner of slot ${slot} according to ${node.port}`);
      assert.doesNotMatch(await nodesView(node.port), /\[\d+-[<>]-/, `no slot left importing or migrating on ${node.port}`);
    }
    const total = stored + 1 + written;
    assert.equal(Number(await redisCommand(from, ['CLUSTER', 'COUNTKEYSINSLOT', slot])), 0);
    assert.equal(Number(await redisCommand(to, ['CLUSTER', 'COUNTKEYSINSLOT', slot])), total);

    // Read back through the client that wrote (its slot map is stale: it follows MOVED) and a fresh one.
    for (const reader of [client, clusterClient()]) {
      const values = await Promise.all(Array.from({ length: n }, (_, i) => reader.get(`{${tag}}:s:${i}`)));
      assert.deepEqual(
        values,
        Array.from({ length: n }, (_, i) => `v${i}`),
      );
      assert.deepEqual(await reader.lrange(`{${tag}}:list`, 0, -1), ['a', 'b', 'c']);
      assert.deepEqual(await reader.hgetall(`{${tag}}:hash`), { f: 'v', g: 'w' });
      assert.deepEqual(await reader.zrange(`{${tag}}:zset`, 0, -1, 'WITHSCORES'), ['one', '1', 'two', '2']);
      const ttl = await reader.pttl(`{${tag}}:ttl`);
      assert.ok(ttl > 0 && ttl <= 600_000, `the TTL moved with the key: ${ttl}`);
      assert.equal(Number(await reader.get(`{${tag}}:counter`)), increments, 'every acknowledged INCR counted once');
      const live = await Promise.all(Array.from({ length: written }, (_, i) => reader.get(`{${tag}}:live:${i}`)));
      assert.deepEqual(
        live,
        Array.from({ length: written }, (_, i) => String(i)),
      );
    }
  });

  test('a master killed -9 takes the cluster down; restarted, it comes back with its id and slots', LONG, async () => {
    const node = cluster.nodes[2]!;
    const others = cluster.nodes.filter((n) => n !== node);
    const slotsBefore = (await nodesView(others[0]!.port))
      .split('\n')
      .find((l) => l.startsWith(node.id))!
      .split(' ')
      .slice(8)
      .join(' ');
    assert.ok(slotsBefore.length > 0, 'the node owns slots');
    await node.crash();
    assert.equal(node.alive, false);
    await waitFor(
      'the other nodes to flag the killed master failed and say cluster_state:fail',
      retrying(async () => {
        for (const other of others) {
          const line = (await nodesView(other.port)).split('\n').find((l) => l.startsWith(node.id));
          if (!line?.split(' ')[2]?.split(',').includes('fail')) return false;
          if (parseInfo(await redisCommand(other.port, ['CLUSTER', 'INFO'])).cluster_state !== 'fail') return false;
        }
        return true;
      }),
      60_000,
      100,
    );
    await node.restart();
    assert.equal(node.alive, true);
    await cluster.waitForAgreement({ timeoutMs: 60_000 });
    assert.equal(String(await redisCommand(node.port, ['CLUSTER', 'MYID'])), node.id);
    for (const n of cluster.nodes) {
      assert.equal(parseInfo(await redisCommand(n.port, ['CLUSTER', 'INFO'])).cluster_state, 'ok');
      const line = (await nodesView(n.port)).split('\n').find((l) => l.startsWith(node.id))!;
      assert.equal(line.split(' ').slice(8).join(' '), slotsBefore, `the restarted node's slots as ${n.port} sees them`);
    }
  });
});

describe('Redis Sentinel', () => {
  let group: SentinelGroup;
  const clients: Redis[] = [];
  const sentinelClient = (): Redis => {
    const client = new Redis({ sentinels: group.sentinels.map((s) => ({ ...s })), name: group.masterName, connectTimeout: 5000 });
    client.on('error', () => undefined); // the primary is killed on purpose below
    clients.push(client);
    return client;
  };

  before(async () => {
    group = await startSentinelGroup();
  }, LONG);

  after(async () => {
    for (const c of clients) c.disconnect();
    await group?.stop();
  }, LONG);

  test('every sentinel names the primary; the replica follows it', async () => {
    assert.equal(group.masterName, 'mymaster');
    assert.equal(group.sentinels.length, 3);
    assert.equal(group.url, `redis+sentinel://${group.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/mymaster`);
    assert.equal(await group.currentPrimaryPort(), group.primary.port);
    for (const s of group.sentinels) {
      const address = (await redisCommand(s.port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster'])) as string[];
      assert.deepEqual(address, ['127.0.0.1', String(group.primary.port)], `sentinel ${s.port}`);
    }
    const replication = parseInfo(await redisCommand(group.replica.port, ['INFO', 'replication']));
    assert.equal(replication.role, 'slave');
    assert.equal(Number(replication.master_port), group.primary.port);
    assert.equal(replication.master_link_status, 'up');
  });

  test('the primary killed -9: the sentinels promote the replica, which has the data', LONG, async (t) => {
    const key = `sentinel-${randomBytes(4).toString('hex')}`;
    const before = sentinelClient();
    await before.set(key, 'kept');
    assert.equal(await before.call('WAIT', '1', '10000'), 1, 'the replica acknowledged the write');
    assert.equal(parseInfo(await before.info('server')).tcp_port, String(group.primary.port), 'the sentinel client talks to the primary');

    await group.primary.crash();
    const crashedAt = Date.now();
    await waitFor(
      'a sentinel to name the replica as the primary',
      retrying(async () => (await group.currentPrimaryPort()) === group.replica.port),
      60_000,
      25,
    );
    const failoverMs = Date.now() - crashedAt;
    t.diagnostic(`failover: ${failoverMs} ms from kill -9 to a sentinel naming the replica (down-after 1000 ms)`);
    console.log(`Sentinel failover took ${failoverMs} ms`);

    const replication = parseInfo(await redisCommand(group.replica.port, ['INFO', 'replication']));
    assert.equal(replication.role, 'master', 'the promoted replica says it is a master');
    // Every sentinel comes to agree.
    await waitFor(
      'every sentinel to name the promoted replica',
      retrying(async () => {
        const ports = await Promise.all(
          group.sentinels.map(async (s) =>
            Number(((await redisCommand(s.port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster'])) as string[])[1]),
          ),
        );
        return ports.every((p) => p === group.replica.port);
      }),
      60_000,
      50,
    );
    // A client that asks the sentinels finds the new primary, with the data written before the kill.
    const after = sentinelClient();
    assert.equal(parseInfo(await after.info('server')).tcp_port, String(group.replica.port));
    assert.equal(await after.get(key), 'kept');
    await after.set(`${key}:after`, 'written');
    assert.equal(await redisCommand(group.replica.port, ['GET', `${key}:after`]), 'written');
    // The old client reconnects to the new primary through the sentinels.
    await waitFor(
      'the first client to reach the new primary',
      retrying(async () => parseInfo(await before.info('server')).tcp_port === String(group.replica.port)),
      60_000,
      100,
    );
  });
});
