// A private, throw-away redis-server for the benchmark, plus INFO helpers.
// Never touches the Redis on 6379: it binds a free port in a temp dir, without persistence.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface PrivateRedis {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly version: string;
  /** An admin connection used only by the harness (FLUSHALL, INFO, CONFIG RESETSTAT, DBSIZE). */
  readonly admin: Redis;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function startRedis(binary = process.env.REDIS_SERVER ?? 'redis-server'): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'delayed-bench-redis-'));
  const host = '127.0.0.1';
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    if (port === 6379) continue;
    const child = spawn(
      binary,
      [
        '--port',
        String(port),
        '--bind',
        host,
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
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
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const admin = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    admin.on('error', () => {});
    let ready = false;
    for (let i = 0; i < 100 && child.exitCode === null; i++) {
      try {
        await admin.connect();
        await admin.ping();
        ready = true;
        break;
      } catch {
        await sleep(50);
      }
    }
    if (!ready) {
      admin.disconnect();
      child.kill('SIGKILL');
      await exited;
      if (attempt < 3) continue; // port raced away: try another
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`redis-server did not start: ${stderr.trim()}`);
    }
    const version = parseInfo(await admin.info('server')).redis_version ?? '?';
    const kill = () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    };
    process.once('exit', kill); // last resort if the harness dies
    return {
      host,
      port,
      url: `redis://${host}:${port}`,
      version,
      admin,
      async stop() {
        admin.disconnect();
        if (child.exitCode === null) {
          child.kill('SIGTERM');
          await Promise.race([exited, sleep(3000)]);
          kill();
        }
        process.removeListener('exit', kill);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}

export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
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
