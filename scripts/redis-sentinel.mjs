// A throwaway Sentinel group on free loopback ports, for the tests: a primary, one replica of it, and
// sentinels watching them (`redis-sentinel`, or `redis-server <conf> --sentinel` where that is missing).
// Kill -9 the primary and the sentinels promote the replica. Never touches the machine's own Redis; every
// process is killed and every folder removed when this process exits.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atExit, freePort, parseInfo, pollUntil, redisCommand, startRedis } from './redis-server.mjs';

const HOST = '127.0.0.1';

// SENTINEL REPLICAS / SENTINELS / MASTER reply with flat [field, value, field, value, ...] arrays.
function fields(flat) {
  const out = {};
  if (!Array.isArray(flat)) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}

/**
 * Starts a primary, a replica of it, and `sentinels` sentinels monitoring `masterName` (quorum: a majority,
 * 2 of 3). Resolves once every sentinel names the primary, knows the replica and knows every other sentinel.
 */
export async function startSentinelGroup({
  masterName = 'mymaster',
  sentinels = 3,
  downAfterMs = 1000,
  failoverTimeoutMs = 3000,
  timeoutMs = 60_000,
} = {}) {
  if (!Number.isInteger(sentinels) || sentinels < 1) throw new Error(`sentinels must be an integer >= 1, not ${sentinels}`);
  if (!/^[A-Za-z0-9._-]+$/.test(masterName)) throw new Error(`Not a usable master name: ${JSON.stringify(masterName)}`);
  const root = mkdtempSync(join(tmpdir(), 'delayed-sentinel-'));
  const forgetRoot = atExit(() => rmSync(root, { recursive: true, force: true }));
  const servers = []; // the primary and the replica
  const sentinelServers = [];

  async function stop() {
    // Sentinels first, so none reconfigures what is being stopped; then the data servers.
    await Promise.all(sentinelServers.map((s) => s.stop()));
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(root, { recursive: true, force: true });
    forgetRoot();
  }

  let primary;
  let replica;
  try {
    primary = await startRedis(['--repl-diskless-sync-delay', '0'], undefined, { killOnExit: true });
    servers.push(primary);
    replica = await startRedis(['--repl-diskless-sync-delay', '0'], undefined, { killOnExit: true });
    servers.push(replica);
    await redisCommand(replica.port, ['REPLICAOF', HOST, primary.port]);
    await pollUntil(
      `the replica on ${replica.port} to sync with the primary on ${primary.port}`,
      async () => parseInfo(await redisCommand(replica.port, ['INFO', 'replication'])).master_link_status === 'up',
      { timeoutMs },
    );

    const quorum = Math.floor(sentinels / 2) + 1;
    for (let i = 0; i < sentinels; i++) {
      const dir = join(root, `sentinel-${i}`);
      mkdirSync(dir);
      const configFile = join(dir, 'sentinel.conf');
      let lastError;
      for (let attempt = 0; attempt < 5; attempt++) {
        // Written afresh for each attempt: Sentinel rewrites its file (ids, port) as soon as it starts.
        writeFileSync(
          configFile,
          [
            'sentinel resolve-hostnames no',
            `sentinel monitor ${masterName} ${HOST} ${primary.port} ${quorum}`,
            `sentinel down-after-milliseconds ${masterName} ${downAfterMs}`,
            `sentinel failover-timeout ${masterName} ${failoverTimeoutMs}`,
            `sentinel parallel-syncs ${masterName} 1`,
            '',
          ].join('\n'),
        );
        try {
          const sentinel = await startRedis([], await freePort(), { configFile, sentinel: true, killOnExit: true });
          sentinelServers.push(sentinel);
          lastError = undefined;
          break;
        } catch (error) {
          lastError = error; // most likely the port was taken meanwhile
        }
      }
      if (lastError) throw lastError;
    }

    const sentinelPorts = sentinelServers.map((s) => s.port);
    const missing = new Map(); // sentinel port -> what it does not know yet (for the timeout's message)
    const readiness = async (port) => {
      const address = await redisCommand(port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName]);
      if (!Array.isArray(address) || Number(address[1]) !== primary.port) return `names ${JSON.stringify(address)} as the primary`;
      const master = fields(await redisCommand(port, ['SENTINEL', 'MASTER', masterName]));
      if (master.flags !== 'master') return `flags the primary ${master.flags}`; // s_down, o_down, failover...
      const replicas = (await redisCommand(port, ['SENTINEL', 'REPLICAS', masterName])).map(fields);
      const known = replicas.find((r) => Number(r.port) === replica.port);
      if (!known) return 'does not know the replica yet';
      if (known.flags !== 'slave' || known['master-link-status'] !== 'ok')
        return `sees the replica as ${known.flags}, link ${known['master-link-status']}`;
      const others = (await redisCommand(port, ['SENTINEL', 'SENTINELS', masterName])).map(fields).map((s) => Number(s.port));
      const unknown = sentinelPorts.filter((p) => p !== port && !others.includes(p));
      return unknown.length > 0 ? `does not know the sentinels on ${unknown.join(', ')} yet` : undefined;
    };
    try {
      await pollUntil(
        'every sentinel to know the primary, the replica and the other sentinels',
        async () => {
          const states = await Promise.all(
            sentinelPorts.map(async (port) => {
              const state = await readiness(port).catch((error) => `fails: ${error.message}`);
              if (state) missing.set(port, state);
              else missing.delete(port);
              return !state;
            }),
          );
          return states.every(Boolean);
        },
        { timeoutMs, everyMs: 100 },
      );
    } catch (error) {
      const details = [...missing].map(([port, state]) => `sentinel ${port} ${state}`).join('; ');
      throw new Error(`${error.message}: ${details}`);
    }
  } catch (error) {
    await stop();
    throw error;
  }

  const sentinelAddresses = sentinelServers.map((s) => ({ host: HOST, port: s.port }));

  /** The primary's port as the first sentinel that answers names it. */
  async function currentPrimaryPort() {
    let lastError;
    for (const { port } of sentinelAddresses) {
      try {
        const address = await redisCommand(port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName], { timeoutMs: 2000 });
        if (Array.isArray(address)) return Number(address[1]);
        lastError = new Error(`Sentinel ${port} does not know ${masterName}`);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError ?? new Error('No sentinel answered');
  }

  const serverHandle = (server) => ({
    port: server.port,
    url: server.url,
    get pid() {
      return server.pid;
    },
    crash: () => server.crash(),
    stop: () => server.stop(),
  });

  return {
    masterName,
    sentinels: sentinelAddresses,
    sentinelProcesses: sentinelServers.map(serverHandle),
    primary: serverHandle(primary),
    replica: serverHandle(replica),
    currentPrimaryPort,
    url: `redis+sentinel://${sentinelAddresses.map((s) => `${s.host}:${s.port}`).join(',')}/${masterName}`,
    stop,
  };
}
