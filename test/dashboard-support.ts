// Shared by the dashboard tests: dead letters made by a real worker, workers registered through
// register.lua, a dashboard on a free port, and a count of the commands Redis ran on one queue's keys.
import { Redis } from 'ioredis';
import { defineTask, InlineWorker, queueStatus, type Queue } from '../src/index.ts';
import { serveDashboard, type RunningDashboard, type ServeOptions } from '../src/dashboard/index.ts';
import { runScript } from '../src/scripts.ts';
import { REDIS_URL, waitFor } from './helpers.ts';
import { monitor } from './monitor.ts';

export const TOKEN = 'test-token-0123456789abcdef';

/** Throws the message it is given: every run of it ends in a dead letter (on a queue keeping them). */
export const explode = defineTask('explode', (message: string, _payload: unknown) => {
  throw new Error(message);
});
/** Finishes after `ms`. */
export const nap = defineTask('nap', async (ms: number) => {
  await new Promise((r) => setTimeout(r, ms));
  return ms;
});

/** Enqueues one `explode` per message and runs a worker until all of them are dead letters. */
export async function makeDeadLetters(
  q: Queue,
  items: readonly { message: string; payload?: unknown }[],
  partitionKeys?: readonly string[],
): Promise<void> {
  const before = (await queueStatus(q, { deadLimit: 1 })).deadLetters;
  for (const [i, item] of items.entries()) {
    const key = partitionKeys?.[i];
    await explode.with(key !== undefined ? { partitionKey: key } : {}).delay(q, item.message, item.payload ?? null);
  }
  const worker = new InlineWorker({ queue: q, tasks: [explode], handleSignals: false, concurrency: 8 });
  const running = worker.run();
  try {
    await waitFor(
      `${items.length} dead letters`,
      async () => (await queueStatus(q, { deadLimit: 1 })).deadLetters >= before + items.length,
      30_000,
    );
  } finally {
    await worker.close();
    await running;
  }
}

/** Registers a worker with made-up facts through register.lua in every partition (nothing runs). */
export async function registerFakeWorker(q: Queue, id: string, leaseMs = 600_000, running: unknown[] = []): Promise<void> {
  const facts = JSON.stringify({
    kind: 'inline',
    concurrency: 4,
    startedAt: new Date().toISOString(),
    counts: { started: 0, succeeded: 0, failed: 0, requeued: 0 },
    running,
    host: 'fake-host',
    pid: 4242,
  });
  for (const keys of q.partitions)
    await runScript(q.redis, 'register', [keys.workers, keys.epoch, keys.info], [id, leaseMs, 'test-epoch', facts]);
}

export async function startDashboard(options: Omit<ServeOptions, 'port' | 'host'>): Promise<RunningDashboard> {
  return await serveDashboard({ ...options, port: 0, host: '127.0.0.1' });
}

/**
 * Counts the commands Redis runs on keys of one queue (by its hash tags), with MONITOR on a connection of
 * its own. Single Redis only. `settle()` waits until a marker command has come through, so every command
 * sent before it has been counted.
 */
export async function monitorQueue(q: Queue) {
  const tags = q.partitions.map((k) => `{${k.tag}}`);
  const seen: string[][] = [];
  let markers = 0;
  const marker = `dashboard-monitor-marker-${Math.random()}`;
  const watch = await monitor(REDIS_URL, (args) => {
    if (args[1] === marker) markers++;
    else if (args.some((a) => tags.some((t) => a.includes(t)))) seen.push(args);
  });
  const probe = new Redis(REDIS_URL);
  return {
    seen,
    /** Commands (by name, lower case) seen so far, EVALSHA counted once (not its inner calls). */
    count(name?: string): number {
      return seen.filter((a) => name === undefined || (a[0] ?? '').toLowerCase() === name).length;
    },
    async settle(): Promise<void> {
      const want = markers + 1;
      await probe.echo(marker);
      await waitFor('the monitor to catch up', () => markers >= want, 10_000, 5);
    },
    async stop(): Promise<void> {
      watch.close();
      probe.disconnect();
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON the server sent
type Json = any;

export async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

export function post(url: string, body: unknown, auth?: string): Promise<{ status: number; body: Json; headers: Headers }> {
  return getJson(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
    body: JSON.stringify(body),
  });
}

/**
 * Counts every command Redis runs for one connection (MULTI and EXEC included), with MONITOR, by the
 * connection's local port. Single Redis only.
 */
export async function monitorConnection(client: Redis) {
  await client.ping();
  const port = (client as unknown as { stream: { localPort: number } }).stream.localPort;
  const seen: string[][] = [];
  let markers = 0;
  const marker = `dashboard-cost-marker-${Math.random()}`;
  const watch = await monitor(REDIS_URL, (args, source) => {
    if (args[1] === marker) markers++;
    else if (source.endsWith(`:${port}`)) seen.push(args);
  });
  return {
    seen,
    /** Waits until every command sent before this call has been counted (a marker sent on the same connection). */
    async settle(): Promise<void> {
      const want = markers + 1;
      await client.echo(marker);
      await waitFor('the monitor to catch up', () => markers >= want, 10_000, 5);
    },
    reset(): void {
      seen.length = 0;
    },
    async stop(): Promise<void> {
      watch.close();
    },
  };
}
