// The benchmark's private, throw-away redis-server (started by scripts/redis-server.mjs: a free port, a temp
// dir, no persistence; never the Redis on 6379), plus INFO helpers and redis-benchmark.
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { parseInfo, startRedis as startServer } from '../scripts/redis-server.mjs';

export interface PrivateRedis {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly version: string;
  /** An admin connection used only by the harness (FLUSHALL, INFO, CONFIG RESETSTAT, DBSIZE). */
  readonly admin: Redis;
  stop(): Promise<void>;
}

/** Server settings of the benchmark's redis-server, after the launcher's (no persistence). */
const BENCH_ARGS = [
  '--daemonize',
  'no',
  '--protected-mode',
  'no',
  '--loglevel',
  'warning',
  '--logfile',
  '',
  '--maxclients',
  '2000',
  // Server bookkeeping that would show up in used_memory as if a system had left data behind:
  // per-command latency histograms (allocated on a command's first use) and slow-log entries.
  '--latency-tracking',
  'no',
  '--slowlog-log-slower-than',
  '-1',
];

/** Starts the benchmark's redis-server (REDIS_SERVER: another binary) with an admin connection to it. */
export async function startRedis(binary = process.env.REDIS_SERVER ?? 'redis-server'): Promise<PrivateRedis> {
  const server = await startServer(BENCH_ARGS, undefined, { binary, killOnExit: true });
  const host = '127.0.0.1';
  const admin = new Redis({ host, port: server.port, maxRetriesPerRequest: 1, retryStrategy: () => null });
  admin.on('error', () => {});
  const version = parseInfo(await admin.info('server')).redis_version ?? '?';
  return {
    host,
    port: server.port,
    url: server.url,
    version,
    admin,
    async stop() {
      admin.disconnect();
      await server.stop();
    },
  };
}

/** Bytes of data held by Redis: used_memory without client buffers (they depend on how many connections
 *  are open) and without the Lua script cache (per server, not per task). */
export async function dataMemory(admin: Redis): Promise<number> {
  const info = parseInfo(await admin.info('memory'));
  return Number(info.used_memory) - Number(info.mem_clients_normal ?? 0) - Number(info.used_memory_scripts ?? 0);
}

/** Up to `max` key names with their types, for reporting what a system leaves behind. */
export async function someKeys(admin: Redis, max = 8): Promise<string[]> {
  const [, keys] = await admin.scan('0', 'COUNT', 1000);
  const out: string[] = [];
  for (const k of keys.sort().slice(0, max)) out.push(`${k} (${await admin.type(k)})`);
  return out;
}

/** `INFO commandstats` as command name -> calls (Redis counts the commands run inside Lua scripts too). */
export async function commandCalls(admin: Redis): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const [key, value] of Object.entries(parseInfo(await admin.info('commandstats')))) {
    const m = /^cmdstat_(.+)$/.exec(key);
    const c = /(?:^|,)calls=(\d+)/.exec(value);
    if (m?.[1] && c?.[1]) calls.set(m[1], Number(c[1]));
  }
  calls.delete('config|resetstat'); // the harness's own call
  return calls;
}

export async function freshDb(admin: Redis): Promise<void> {
  await admin.flushall();
}

/** Runs redis-benchmark (REDIS_BENCHMARK: another binary) with `args`; its requests per second and the end of its output. */
export function redisBenchmark(args: string[]): Promise<{ rps: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.env.REDIS_BENCHMARK ?? 'redis-benchmark', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => {
      output += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      output += b.toString();
    });
    child.on('error', reject);
    child.on('close', () => {
      const m = /([\d.]+) requests per second/.exec(output.split('\r').pop() ?? output) ?? /([\d.]+) requests per second/.exec(output);
      resolve({ rps: m?.[1] ? Number(m[1]) : NaN, output: output.slice(-300) });
    });
  });
}
