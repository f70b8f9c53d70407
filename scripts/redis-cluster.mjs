// A throwaway Redis Cluster on free loopback ports, for the tests: N masters (and replicas), joined with
// `redis-cli --cluster create`; a node can be killed -9 and restarted with its identity; one slot can be moved
// to another master with its keys, live, the way `redis-cli --cluster reshard` does it.
// Never touches the machine's own Redis. Every process is killed when this process exits.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atExit, freePort, parseInfo, pollUntil, redisCommand, startRedis } from './redis-server.mjs';

export const SLOTS = 16384;

// CRC16, XMODEM variant (polynomial 0x1021, initial value 0, no reflection): the one Redis Cluster uses.
const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[byte] = crc;
  }
  return table;
})();

export function crc16(bytes) {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xff];
  return crc;
}

/**
 * The cluster slot of a key (a string is taken as UTF-8): CRC16 of the key mod 16384, or of its hash tag,
 * the bytes between the first `{` and the first `}` after it, when there is at least one byte between them.
 */
export function keySlot(key) {
  const bytes = Buffer.isBuffer(key) ? key : Buffer.from(String(key), 'utf8');
  const open = bytes.indexOf(0x7b); // {
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1); // }
    if (close > open + 1) return crc16(bytes.subarray(open + 1, close)) % SLOTS;
  }
  return crc16(bytes) % SLOTS;
}

// One line of CLUSTER NODES: <id> <ip:port@bus[,hostname]> <flags> <master|-> <ping> <pong> <epoch> <link> <slot...>
function parseNodes(text) {
  const nodes = [];
  for (const line of String(text).split('\n')) {
    const fields = line.trim().split(' ');
    if (fields.length < 8) continue;
    const [id, address, flags, master, , , epoch, link, ...slotFields] = fields;
    const hostPort = address.split('@')[0];
    const port = Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
    const ranges = [];
    const transit = []; // [slot->-id] (migrating) and [slot-<-id] (importing), shown on the node's own line
    for (const f of slotFields) {
      if (f.startsWith('[')) {
        transit.push(f);
        continue;
      }
      const [a, b = a] = f.split('-');
      ranges.push([Number(a), Number(b)]);
    }
    nodes.push({ id, port, flags: flags.split(','), master, epoch: Number(epoch), link, ranges, transit });
  }
  return nodes;
}

const ownsSlot = (node, slot) => node.ranges.some(([a, b]) => slot >= a && slot <= b);

function runRedisCli(args, timeoutMs) {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`redis-cli ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/**
 * Starts `masters` (>= 3) masters with `replicasPerMaster` replicas each and resolves once every node says
 * `cluster_state:ok` and all nodes agree on the nodes, roles and slot map.
 */
export async function startCluster({ masters = 3, replicasPerMaster = 0, timeoutMs = 60_000 } = {}) {
  if (!Number.isInteger(masters) || masters < 3) throw new Error(`A cluster needs at least 3 masters, not ${masters}`);
  if (!Number.isInteger(replicasPerMaster) || replicasPerMaster < 0)
    throw new Error(`replicasPerMaster must be an integer >= 0, not ${replicasPerMaster}`);
  const total = masters * (1 + replicasPerMaster);
  const root = mkdtempSync(join(tmpdir(), 'delayed-cluster-'));
  const forgetRoot = atExit(() => rmSync(root, { recursive: true, force: true }));
  const nodes = [];
  let stopped = false;

  async function stop() {
    stopped = true;
    await Promise.all(nodes.map((node) => node.stop()));
    rmSync(root, { recursive: true, force: true });
    forgetRoot();
  }

  function makeNode(index, server, args) {
    let current = server;
    let alive = true;
    const node = {
      index,
      port: server.port,
      url: server.url,
      id: '',
      get alive() {
        return alive;
      },
      get pid() {
        return current.pid;
      },
      /** kill -9: the node's memory is lost; its nodes.conf (identity, epochs) stays for restart(). */
      async crash() {
        alive = false;
        await current.crash();
      },
      async stop() {
        alive = false;
        await current.stop();
      },
      /** Starts the node again on the same ports with the same nodes.conf; resolves once it answers PING. */
      async restart() {
        if (stopped) throw new Error('The cluster was stopped');
        if (alive) throw new Error(`Node ${node.port} is running: crash() or stop() it first`);
        current = await startRedis(args, node.port, { killOnExit: true });
        alive = true;
      },
    };
    return node;
  }

  try {
    for (let i = 0; i < total; i++) {
      const dir = join(root, `node-${i}`);
      mkdirSync(dir);
      // The bus port is chosen too (port + 10000 may be taken, or above 65535).
      let lastError = new Error(`No pair of free ports found for node ${i}`);
      for (let attempt = 0; attempt < 5; attempt++) {
        const port = await freePort();
        const busPort = await freePort();
        if (busPort === port || nodes.some((n) => n.port === port || n.port === busPort)) continue;
        const args = [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, 'nodes.conf'),
          '--cluster-node-timeout',
          '2000',
          '--cluster-port',
          String(busPort),
          // Replicas sync at once instead of after the default 5 s wait for other replicas.
          '--repl-diskless-sync-delay',
          '0',
        ];
        try {
          nodes.push(makeNode(i, await startRedis(args, port, { killOnExit: true }), args));
          lastError = undefined;
          break;
        } catch (error) {
          lastError = error; // most likely a port taken meanwhile: try others
        }
      }
      if (lastError) throw lastError;
    }
    const replicaArgs = replicasPerMaster > 0 ? ['--cluster-replicas', String(replicasPerMaster)] : [];
    await runRedisCli(['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), ...replicaArgs, '--cluster-yes'], timeoutMs);
    for (const node of nodes) node.id = String(await redisCommand(node.port, ['CLUSTER', 'MYID']));
  } catch (error) {
    await stop();
    throw error;
  }

  const live = () => nodes.filter((n) => n.alive);
  const byPort = (port) => nodes.find((n) => n.port === port);

  // Every live node: cluster_state:ok, knows every node, no handshakes, no slot in transit, and the same view
  // of ids, ports, roles, masters, slots and failed nodes; live nodes are not flagged failing by anyone, and
  // crashed or stopped ones are flagged failed by everyone (so after a crash this waits for the failover).
  let disagreement = ''; // why the last agreedView() found no agreement, for the timeout's message
  const not = (why) => {
    disagreement = why;
    return undefined;
  };

  async function agreedView() {
    const views = await Promise.all(
      live().map(async (node) => {
        const info = parseInfo(await redisCommand(node.port, ['CLUSTER', 'INFO']));
        if (info.cluster_state !== 'ok') return { node, state: info.cluster_state };
        return { node, seen: parseNodes(await redisCommand(node.port, ['CLUSTER', 'NODES'])) };
      }),
    );
    let canonical;
    for (const { node, state, seen } of views) {
      const as = `node ${node.port}`;
      if (!seen) return not(`${as} says cluster_state:${state}`);
      if (seen.length !== nodes.length) return not(`${as} knows ${seen.length} nodes, not ${nodes.length}`);
      for (const s of seen) {
        if (s.flags.includes('handshake') || s.flags.includes('noaddr')) return not(`${as} is still meeting ${s.port} (${s.flags})`);
        if (s.transit.length > 0) return not(`${as} has slots in transit: ${s.transit.join(' ')}`);
        const n = byPort(s.port);
        if (!n || n.id !== s.id) return not(`${as} knows a node ${s.id} on ${s.port} that is not ours`);
        if (n.alive && (s.flags.includes('fail') || s.flags.includes('fail?') || s.link !== 'connected')) {
          return not(`${as} sees the running node ${s.port} as ${s.flags}, ${s.link}`);
        }
        if (!n.alive && !s.flags.includes('fail')) return not(`${as} does not flag the stopped node ${s.port} failed yet`);
      }
      const summary = seen
        .map(
          (s) =>
            `${s.id} ${s.port} ${s.flags.includes('master') ? 'master' : 'replica'} ${s.master} ${s.flags.includes('fail') ? 'fail' : 'ok'} ${s.ranges.map(([a, b]) => `${a}-${b}`).join(',')}`,
        )
        .sort()
        .join('\n');
      if (canonical === undefined) canonical = summary;
      else if (summary !== canonical) return not(`${as} sees nodes, roles or slots differently from node ${views[0].node.port}`);
    }
    const seen = views[0]?.seen;
    if (!seen) return not('no node is running');
    const covered = seen.reduce((sum, s) => sum + s.ranges.reduce((k, [a, b]) => k + b - a + 1, 0), 0);
    return covered === SLOTS ? seen : not(`${covered} of ${SLOTS} slots are assigned`);
  }

  /** Resolves with the agreed CLUSTER NODES view once every live node agrees (see agreedView). */
  async function waitForAgreement({ timeoutMs: ms = timeoutMs } = {}) {
    try {
      return await pollUntil('the cluster nodes to agree on the slot map', agreedView, { timeoutMs: ms, everyMs: 100 });
    } catch (error) {
      throw new Error(`${error.message}${disagreement ? `; last seen: ${disagreement}` : ''}`);
    }
  }

  async function ownerOf(slot, askPort) {
    const seen = parseNodes(await redisCommand(askPort, ['CLUSTER', 'NODES']));
    const owner = seen.find((s) => s.flags.includes('master') && ownsSlot(s, slot));
    return owner?.port;
  }

  function checkSlot(slot) {
    if (!Number.isInteger(slot) || slot < 0 || slot >= SLOTS) throw new Error(`Not a slot: ${slot}`);
  }

  /** The port of the master that owns `slot`, as the first live node sees it. */
  async function slotOwner(slot) {
    checkSlot(slot);
    const asked = live()[0];
    if (!asked) throw new Error('No node of the cluster is running');
    const port = await ownerOf(slot, asked.port);
    if (port === undefined) throw new Error(`Node ${asked.port} knows no owner of slot ${slot}`);
    return port;
  }

  /**
   * Moves one slot, with its keys, from its owner to the master on `toPort`, while clients keep using it:
   * SETSLOT IMPORTING on the target, MIGRATING on the source, GETKEYSINSLOT + MIGRATE until the slot is
   * empty, then SETSLOT NODE on the target, the source and every other master. Resolves once every live
   * node agrees that `toPort` owns the slot. Returns the number of keys moved.
   */
  async function moveSlot(slot, toPort, { batch = 100, migrateTimeoutMs = 10_000 } = {}) {
    checkSlot(slot);
    const target = byPort(toPort);
    if (!target?.alive) throw new Error(`No running node of this cluster on port ${toPort}`);
    const fromPort = await slotOwner(slot);
    const source = byPort(fromPort);
    if (!source) throw new Error(`Slot ${slot} belongs to port ${fromPort}, not a node of this cluster`);
    let moved = 0;
    if (fromPort !== toPort) {
      const targetRole = parseInfo(await redisCommand(toPort, ['INFO', 'replication'])).role;
      if (targetRole !== 'master') throw new Error(`Node ${toPort} is a ${targetRole}, not a master`);
      await redisCommand(toPort, ['CLUSTER', 'SETSLOT', slot, 'IMPORTING', source.id]);
      await redisCommand(fromPort, ['CLUSTER', 'SETSLOT', slot, 'MIGRATING', target.id]);
      for (;;) {
        const keys = await redisCommand(fromPort, ['CLUSTER', 'GETKEYSINSLOT', slot, batch], { buffers: true });
        if (!Array.isArray(keys) || keys.length === 0) break;
        await redisCommand(fromPort, ['MIGRATE', '127.0.0.1', toPort, '', 0, migrateTimeoutMs, 'KEYS', ...keys], {
          timeoutMs: migrateTimeoutMs + 10_000,
        });
        moved += keys.length;
      }
      // The target first: it leaves IMPORTING and bumps its config epoch, so its claim wins everywhere.
      await redisCommand(toPort, ['CLUSTER', 'SETSLOT', slot, 'NODE', target.id]);
      await redisCommand(fromPort, ['CLUSTER', 'SETSLOT', slot, 'NODE', target.id]);
      for (const node of live()) {
        if (node === source || node === target) continue;
        if (parseInfo(await redisCommand(node.port, ['INFO', 'replication'])).role !== 'master') continue;
        await redisCommand(node.port, ['CLUSTER', 'SETSLOT', slot, 'NODE', target.id]);
      }
    }
    try {
      await pollUntil(
        `every node to agree that ${toPort} owns slot ${slot}`,
        async () => {
          const seen = await agreedView();
          if (!seen) return false;
          const owners = await Promise.all(live().map((n) => ownerOf(slot, n.port)));
          if (owners.every((p) => p === toPort)) return true;
          return not(`the owners of slot ${slot} as the nodes see them: ${owners.join(', ')}`) ?? false;
        },
        { timeoutMs, everyMs: 100 },
      );
    } catch (error) {
      throw new Error(`${error.message}${disagreement ? `; last seen: ${disagreement}` : ''}`);
    }
    return moved;
  }

  try {
    await waitForAgreement();
    // A replica that never synced would refuse to fail over (its data counts as too old): wait for the links.
    await pollUntil(
      'every replica to finish its first sync',
      async () => {
        const infos = await Promise.all(nodes.map(async (n) => parseInfo(await redisCommand(n.port, ['INFO', 'replication']))));
        return infos.every((info) => info.role === 'master' || info.master_link_status === 'up');
      },
      { timeoutMs, everyMs: 100 },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  const hosts = nodes.map((n) => `127.0.0.1:${n.port}`);
  return {
    nodes,
    seeds: nodes.map((n) => n.url),
    url: `redis+cluster://${hosts.join(',')}`,
    stop,
    slotOwner,
    moveSlot,
    waitForAgreement: async (options) => {
      await waitForAgreement(options);
    },
  };
}
