// Shared by the tests (the fault suite and the CLI tests included): the test Redis, unique queues, polling with a
// deadline, process checks, and a worker process runner.
import { after } from 'node:test';
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { Queue, type QueueOptions } from '../src/index.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const FIXTURES = new URL('./fixtures/tasks.ts', import.meta.url).href;

/** A queue under a name no other test uses. */
export function testQueue(options: Partial<QueueOptions> = {}): Queue {
  return new Queue({ name: `t-${randomBytes(5).toString('hex')}`, redis: REDIS_URL, ...options });
}

/** True when the tests run against a Redis Cluster (REDIS_URL=redis+cluster://host:port,...). */
export const ON_CLUSTER = REDIS_URL.startsWith('redis+cluster://');

/**
 * A plain connection for looking at (and seeding) the test's own keys. On a cluster it is an ioredis Cluster
 * (typed as Redis: the commands the tests use are the same; only SCAN and multi-slot commands differ, and
 * the helpers below handle those).
 */
export function inspector(): Redis {
  if (!ON_CLUSTER) return new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const seeds = REDIS_URL.slice('redis+cluster://'.length)
    .split(',')
    .map((hp) => ({ host: hp.split(':')[0] ?? '127.0.0.1', port: Number(hp.split(':')[1]) }));
  return new Cluster(seeds, { redisOptions: { maxRetriesPerRequest: 1 } }) as unknown as Redis;
}

/** The test file's inspector (see `inspector`), closed after its last test: call it at the file's top level. */
export function useInspector(): Redis {
  const redis = inspector();
  after(async () => {
    await redis.quit();
  });
  return redis;
}

/** The connections SCAN must visit: every primary of a cluster, or the one Redis. */
async function scanTargets(redis: Redis): Promise<Redis[]> {
  const maybe = redis as unknown as Cluster;
  if (!(maybe instanceof Cluster)) return [redis];
  await maybe.ping();
  return maybe.nodes('master');
}

/** True while a connection of queue `name`'s workers is blocked in BLMOVE (on any primary of a cluster). */
export async function blockedOn(redis: Redis, name: string): Promise<boolean> {
  for (const node of await scanTargets(redis)) {
    const list = (await node.client('LIST')) as string;
    if (list.split('\n').some((line) => line.includes(`name=delayed:${name}:blocking `) && line.includes('cmd=blmove'))) return true;
  }
  return false;
}

/** What names a queue's keys: a Queue, or the name and prefix of a queue the CLI made. */
export type QueueRef = Pick<Queue, 'name' | 'prefix'>;

/** The keys a queue has now, in all its partitions (SCAN limited to its hash tags: tests only look at what they made). */
export async function queueKeysNow(redis: Redis, queue: QueueRef): Promise<string[]> {
  const found: string[] = [];
  for (const node of await scanTargets(redis)) {
    for (const match of [`${queue.prefix}:{${queue.name}}:*`, `${queue.prefix}:{${queue.name}/*}:*`]) {
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

/** Deletes every key of a queue: a Queue, or a queue's name (under `prefix`, for queues the CLI made). */
export async function dropQueue(redis: Redis, queue: QueueRef | string, prefix = 'delayed'): Promise<void> {
  const keys = await queueKeysNow(redis, typeof queue === 'string' ? { name: queue, prefix } : queue);
  // One DEL per key: a queue's partitions live in different cluster slots.
  await Promise.all(keys.map((key) => redis.del(key)));
}

/** Runs `fn` with a fresh test queue, then deletes the queue's keys and closes it. */
export async function withQueue(redis: Redis, fn: (q: Queue) => Promise<void>, options: Partial<QueueOptions> = {}): Promise<void> {
  const q = testQueue(options);
  try {
    await fn(q);
  } finally {
    await dropQueue(redis, q);
    await q.close();
  }
}

/**
 * The one "poll until" of the tests: calls `check` every `everyMs` until it returns a truthy value, and resolves
 * with that value; once `timeoutMs` has passed it throws, naming `what`. An error thrown by `check` ends the wait
 * at once (a check that may fail while a server restarts says so: `retrying(check)`).
 */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 60_000, everyMs = 20): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A `waitFor` check for which an error means "not yet" (a server that restarts or fails over meanwhile). */
export function retrying<T>(check: () => T | Promise<T>): () => Promise<T | undefined> {
  return async () => {
    try {
      return await check();
    } catch {
      return undefined;
    }
  };
}

/** A fresh ledger file for tasks to append `<id> <event> <pid>` lines to. */
export function ledgerFile(): string {
  return join(mkdtempSync(join(tmpdir(), 'delayed-ledger-')), 'ledger.txt');
}

export interface LedgerLine {
  readonly id: string;
  readonly event: string;
  readonly pid: number;
}

export function readLedger(path: string): LedgerLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id = '', event = '', pid = '0'] = line.split(' ');
      return { id, event, pid: Number(pid) };
    });
}

/** Is a process alive? (EPERM: it is, under another user.) */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface Outcome {
  readonly id: string;
  readonly name: string;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly reason?: string;
  readonly message?: string;
  readonly signal?: string;
  readonly exitCode?: number;
  readonly attempt: number;
}

/** Handlers that record every outcome, to pass to a worker. */
export function recorder() {
  const outcomes: Outcome[] = [];
  return {
    outcomes,
    successHandler: (task: { id: string; name: string; attempt: number }, result: unknown) => {
      outcomes.push({ id: task.id, name: task.name, ok: true, result, attempt: task.attempt });
    },
    errorHandler: (
      task: { id: string; name: string; attempt: number },
      failure: { reason: string; message: string; signal?: string; exitCode?: number },
    ) => {
      outcomes.push({
        id: task.id,
        name: task.name,
        ok: false,
        reason: failure.reason,
        message: failure.message,
        attempt: task.attempt,
        ...(failure.signal ? { signal: failure.signal } : {}),
        ...(failure.exitCode !== undefined ? { exitCode: failure.exitCode } : {}),
      });
    },
    byId(id: string): Outcome | undefined {
      return outcomes.find((o) => o.id === id);
    },
  };
}

/** Runs a worker until `done()` holds (or the deadline passes), then closes it and waits until it stopped. */
export async function runUntil(
  worker: { run(): Promise<void>; close(): Promise<void> },
  what: string,
  done: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const running = worker.run();
  let failed: unknown;
  running.catch((err: unknown) => (failed = err));
  try {
    await waitFor(what, async () => failed !== undefined || (await done()), timeoutMs);
    if (failed !== undefined) throw failed;
  } finally {
    await worker.close();
    await running.catch(() => undefined);
  }
}

export interface WorkerProcess {
  readonly proc: ChildProcess;
  readonly events: Record<string, unknown>[];
  readonly exited: Promise<number | null>;
}

/**
 * Starts test/fixtures/worker-main.ts in its own process (and, with `group`, its own process group), under
 * `wrapper` when given (a command that gets the node command line, e.g. `faketime -f +30s`).
 */
export function workerProcess(q: Queue, env: Record<string, string> = {}, group = false, wrapper: readonly string[] = []): WorkerProcess {
  const node = [process.execPath, '--import', 'tsx', new URL('./fixtures/worker-main.ts', import.meta.url).pathname];
  const [command, ...args] = [...wrapper, ...node] as [string, ...string[]];
  const proc = spawn(command, args, {
    env: { ...process.env, QUEUE: q.name, REDIS_URL, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: group,
  });
  const events: Record<string, unknown>[] = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not ours
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, events, exited };
}

/** Redis' clock, ms (the clock every due time and lease deadline is on). */
export async function redisNow(redis: Redis | Cluster): Promise<number> {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

/**
 * Runs `once(timeoutMs)` with a longer task timeout each time (×4, twice) until it answers something: on a loaded
 * machine a child may not reach a task's first line within a short timeout, and then there is nothing to check.
 */
export async function withRoomToStart<T>(firstMs: number, once: (timeoutMs: number) => Promise<T | undefined>): Promise<T> {
  for (const ms of [firstMs, firstMs * 4, firstMs * 16]) {
    const got = await once(ms);
    if (got !== undefined) return got;
  }
  throw new Error(`the task never reached its first line within a timeout of ${firstMs * 16} ms`);
}
