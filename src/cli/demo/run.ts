/**
 * `delayed demo`: the README's "run it". A private redis-server (unless one is given), a few thousand sample
 * tasks, two preforked workers as separate `delayed worker` processes, a live progress bar; halfway one
 * worker gets kill -9 and is started again. Then the figures: enqueued, completed, lost, run twice, recovery
 * time, keys left in Redis. The sample task (./tasks.ts) counts each run in a demo-only Redis hash
 * (task id → runs); the demo deletes that hash and the queue's keys at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, queueStatus, type QueueStatus } from '../../index.ts';
import { stopSignalListener } from '../../signals.ts';
import { CommandError } from '../args.ts';
import { formatCount, formatDuration } from '../render.ts';
import { hasRedisServer, INSTALL_REDIS_HINT, startPrivateRedis, type PrivateRedis } from './private-redis.ts';
import { Screen } from './screen.ts';
import { printSummary, type DemoSummary } from './summary.ts';

export interface DemoOptions {
  /** Tasks to enqueue. @default 4000 */
  readonly tasks?: number;
  /** Worker processes. @default 2 */
  readonly workers?: number;
  /** Children per worker. @default 4 */
  readonly concurrency?: number;
  /** A Redis URL to use; a private redis-server otherwise. */
  readonly redis?: string;
  readonly prefix?: string;
  /** Progress and the summary as text go to stdout; with json, progress goes to stderr and nothing to stdout. */
  readonly json?: boolean;
  /** Give up after this long. @default 300_000 */
  readonly timeoutMs?: number;
  /** Each task works for a random time in [min, max] ms. @default [5, 25] */
  readonly taskMs?: readonly [number, number];
}

const EXT = extname(fileURLToPath(import.meta.url));
/** The `delayed` command (the workers are `delayed worker` processes) and the sample task's module. */
const CLI = fileURLToPath(new URL(`../main${EXT}`, import.meta.url));
const TASKS = fileURLToPath(new URL(`./tasks${EXT}`, import.meta.url));

interface WorkerProc {
  readonly index: number;
  readonly proc: ChildProcess;
  readonly exited: Promise<void>;
  stderr: string;
  expectedExit: boolean;
}

/** The id field of an entry (`1|attempt|cutoffs|reason|id|…`). */
function entryId(entry: string): string {
  return entry.split('|', 5)[4] ?? '';
}

export async function runDemo(options: DemoOptions = {}): Promise<DemoSummary> {
  const total = options.tasks ?? 4000;
  const workerCount = options.workers ?? 2;
  const concurrency = options.concurrency ?? 4;
  const timeoutMs = options.timeoutMs ?? 300_000;
  const [minMs, maxMs] = options.taskMs ?? [5, 25];
  const out = options.json ? process.stderr : process.stdout;
  const t0 = performance.now();
  const screen = new Screen(out, t0);

  let privateRedis: PrivateRedis | undefined;
  let url = options.redis;
  if (url === undefined) {
    if (!hasRedisServer()) throw new CommandError('the demo needs redis-server, and it is not installed here.', 3, INSTALL_REDIS_HINT);
    try {
      privateRedis = await startPrivateRedis();
    } catch (err) {
      throw new CommandError(
        `cannot start a private redis-server: ${(err as Error).message}`,
        3,
        'Or point the demo at a running Redis with REDIS_URL=redis://host:6379.',
      );
    }
    url = privateRedis.url;
    screen.say(`delayed demo: private redis-server at ${url} (pid ${privateRedis.pid}; no persistence, stopped at the end)`);
  } else {
    screen.say(`delayed demo: using the Redis at ${url.replace(/\/\/([^@/]*):([^@/]*)@/, '//$1:***@')}`);
  }

  const name = `demo-${randomBytes(4).toString('hex')}`;
  const queue = new Queue({ name, redis: url, ...(options.prefix !== undefined ? { prefix: options.prefix } : {}) });
  const redis = queue.redis;
  let redisError: Error | undefined;
  redis.on('error', (err: Error) => (redisError = err));
  const ledger = `delayed-demo:{${name}}:runs`;
  const workers: WorkerProc[] = [];
  let interrupted = false;
  // Any stop signal, however often: stop the workers and clean up (the finally below).
  const onSignal = stopSignalListener(() => {
    interrupted = true;
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const startWorker = (index: number): WorkerProc => {
    const proc = spawn(
      process.execPath,
      [
        ...process.execArgv,
        CLI,
        'worker',
        '--queue',
        name,
        '--tasks',
        TASKS,
        '--kind',
        'preforked',
        '--concurrency',
        String(concurrency),
        '--redis',
        url as string,
        '--quiet',
        ...(options.prefix !== undefined ? ['--prefix', options.prefix] : []),
      ],
      { env: { ...process.env, DELAYED_DEMO_REDIS: url }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const w: WorkerProc = {
      index,
      proc,
      exited: new Promise<void>((resolve) => proc.once('exit', () => resolve())),
      stderr: '',
      expectedExit: false,
    };
    proc.stderr?.on('data', (chunk: Buffer) => {
      w.stderr = (w.stderr + chunk.toString()).slice(-4000);
    });
    workers[index] = w;
    return w;
  };
  const stopWorkers = async (signal: NodeJS.Signals) => {
    for (const w of workers) {
      w.expectedExit = true;
      if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill(signal);
    }
    await Promise.race([Promise.all(workers.map((w) => w.exited)), sleep(20_000)]);
    for (const w of workers) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGKILL');
  };
  const check = () => {
    if (interrupted) throw new CommandError('interrupted', 130);
    const crashed = workers.find((w) => !w.expectedExit && (w.proc.exitCode !== null || w.proc.signalCode !== null));
    if (crashed) {
      throw new CommandError(
        `worker ${crashed.index + 1} (pid ${crashed.proc.pid}) exited on its own (code ${crashed.proc.exitCode}, signal ${crashed.proc.signalCode})${crashed.stderr ? `:\n${crashed.stderr.trim()}` : ''}`,
        1,
      );
    }
    if (performance.now() - t0 > timeoutMs) throw new CommandError(`gave up after ${timeoutMs / 1000} s`, 1);
  };

  try {
    try {
      await redis.ping();
    } catch (err) {
      throw new CommandError(
        `cannot reach Redis at ${url}: ${(redisError ?? (err as Error)).message}`,
        3,
        'Is redis-server running there? Give its URL with --redis or REDIS_URL.',
      );
    }
    for (let i = 0; i < workerCount; i++) startWorker(i);
    screen.say(
      `Starting ${workerCount} preforked workers (\`delayed worker\`, ${concurrency} children each): pids ${workers.map((w) => w.proc.pid).join(', ')}`,
    );
    let s: QueueStatus | undefined;
    for (;;) {
      check();
      s = await queueStatus(queue, { runningLimit: 0, deadLimit: 0 });
      if (s.workersAlive >= workerCount) break;
      await sleep(50);
    }

    const requests = Array.from({ length: total }, () => ({
      name: 'demo.work',
      args: [ledger, minMs + Math.floor(Math.random() * (maxMs - minMs + 1))],
    }));
    const tEnqueue = performance.now();
    for (let i = 0; i < requests.length; i += 10_000) await queue.enqueueMany(requests.slice(i, i + 10_000));
    screen.say(
      `Enqueued ${formatCount(total)} tasks (demo.work: works ${minMs}-${maxMs} ms, then counts its run) on queue ${name} in ${Math.round(performance.now() - tEnqueue)} ms`,
    );

    const killAt = Math.floor(total / 2);
    let killed: { at: number; id: string; held: string[]; before: number[]; pid: number } | undefined;
    let recoveredAt: number | null = null;
    let heldDoneAt: number | null = null;
    let reapedAt: number | null = null;
    const history: { at: number; done: number }[] = [];
    let done = 0;
    let lastDoneAt = performance.now();
    while (done < total || (killed && (recoveredAt === null || heldDoneAt === null))) {
      check();
      const now = performance.now();
      const [count, status] = await Promise.all([redis.hlen(ledger), queueStatus(queue, { runningLimit: 0, deadLimit: 0 })]);
      if (count > done) lastDoneAt = now;
      done = count;
      s = status;
      history.push({ at: now, done });
      while (history.length > 2 && (history[0] as { at: number }).at < now - 2000) history.shift();
      const first = history[0] as { at: number; done: number };
      const rate = now > first.at ? ((done - first.done) * 1000) / (now - first.at) : 0;
      screen.progress(done, total, rate, s);

      if (!killed && done >= killAt) {
        const victim = workers[0] as WorkerProc;
        const registration = s.workers.find((w) => w.alive && w.pid === victim.proc.pid);
        if (registration) {
          victim.expectedExit = true;
          victim.proc.kill('SIGKILL');
          const at = performance.now();
          await victim.exited;
          const held = (await redis.lrange(queue.keys.worker(registration.id), 0, -1)).map(entryId);
          // Its children notice the parent is gone within 100 ms and die; a run they were finishing may
          // still count itself. Take the run counts after that, to tell when the tasks ran again elsewhere.
          await sleep(300);
          const before = held.length === 0 ? [] : (await redis.hmget(ledger, ...held)).map((r) => Number(r ?? 0));
          killed = { at, id: registration.id, held, before, pid: victim.proc.pid ?? 0 };
          screen.event(
            `kill -9 worker 1 (pid ${killed.pid}): it held ${held.length} task${held.length === 1 ? '' : 's'}, now in a list that nobody renews`,
          );
          const again = startWorker(0);
          screen.event(`started worker 1 again (pid ${again.proc.pid})`);
        }
      }
      if (killed && recoveredAt === null && (await redis.llen(queue.keys.worker(killed.id))) === 0) {
        recoveredAt = performance.now();
        screen.event(
          `the sweeper put the killed worker's tasks back in the queue, ${formatDuration(recoveredAt - killed.at)} after the kill (its lease ran out)`,
        );
      }
      if (killed && recoveredAt !== null && heldDoneAt === null) {
        const runs = killed.held.length === 0 ? [] : await redis.hmget(ledger, ...killed.held);
        const before = killed.before;
        if (runs.every((r, i) => Number(r ?? 0) > (before[i] ?? 0))) {
          heldDoneAt = performance.now();
          screen.event(
            `the ${killed.held.length} tasks it held have run again on the live workers, ${formatDuration(heldDoneAt - killed.at)} after the kill`,
          );
        }
      }
      if (done < total && now - lastDoneAt > 30_000)
        throw new CommandError(`no task completed for 30 s (${formatCount(done)} of ${formatCount(total)} done)`, 1);
      await sleep(100);
    }
    const finishedAt = lastDoneAt;
    screen.progress(done, total, (done * 1000) / Math.max(1, finishedAt - tEnqueue), s);
    screen.end();

    // The killed worker's registration is removed by a sweep 5 s after its lease ended; wait for it, so the
    // keys left are what a drained queue keeps.
    if (killed) {
      screen.say("Waiting for the sweeper to remove the killed worker's registration (5 s after its lease ended)…");
      for (let i = 0; i < 200; i++) {
        check();
        if ((await redis.zscore(queue.keys.workers, killed.id)) === null) {
          reapedAt = performance.now();
          break;
        }
        await sleep(100);
      }
    }
    screen.say('Stopping the workers (SIGTERM: they finish what they run, then leave)…');
    await stopWorkers('SIGTERM');
    // The sweep lock is a key with a 1 s TTL: let it expire, so only what stays for good is counted.
    for (let i = 0; i < 30 && (await redis.exists(queue.keys.sweepLock)) === 1; i++) await sleep(100);
    const watch = new Set([queue.keys.retired, queue.keys.retiredLock]);
    const allLeft = await keysOf(queue);
    const keysLeft = allLeft.filter((k) => !watch.has(k));
    const watchKeys = allLeft.filter((k) => watch.has(k));
    const values = await redis.hvals(ledger);
    const runTwice = values.filter((v) => Number(v) > 1).length;
    const completed = values.length;
    const summary: DemoSummary = {
      enqueued: total,
      completed,
      lost: total - completed,
      runTwice,
      recoveryMs: killed && recoveredAt !== null ? Math.round(recoveredAt - killed.at) : null,
      killedWorkerHeld: killed?.held.length ?? 0,
      heldDoneMs: killed && heldDoneAt !== null ? Math.round(heldDoneAt - killed.at) : null,
      keysLeft,
      watchKeys,
      elapsedMs: Math.round(performance.now() - t0),
      throughput: Math.round((completed * 1000) / Math.max(1, finishedAt - tEnqueue)),
      workers: workerCount,
      concurrency,
      taskMs: [minMs, maxMs],
      queue: name,
      redis: privateRedis ? 'private' : 'given',
    };
    if (reapedAt === null && killed) screen.say("(the killed worker's registration was still there when the demo stopped waiting)");
    if (!options.json) printSummary(out, summary);
    return summary;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    screen.end();
    await stopWorkers(interrupted ? 'SIGINT' : 'SIGTERM');
    try {
      const keys = [...(await keysOf(queue)), ledger];
      await redis.del(...keys);
    } catch {
      // Redis gone (a private one is thrown away anyway)
    }
    await queue.close();
    if (privateRedis) await privateRedis.stop();
  }
}

/** The demo queue's keys, found with SCAN MATCH on its own hash tag (the demo's Redis, once, at the end). */
async function keysOf(queue: Queue): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await queue.redis.scan(cursor, 'MATCH', `${queue.prefix}:{${queue.name}}:*`, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found.sort();
}
