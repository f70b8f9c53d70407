#!/usr/bin/env node
/**
 * The `delayed` command: run workers and sweepers, enqueue from scripts, watch a queue, run the demo.
 * Thin by design: it parses arguments with node:util's parseArgs and calls the package's public API.
 *
 * Exit codes: 0 done; 1 failed (e.g. the demo lost tasks, a metrics port was taken); 2 bad usage (unknown
 * subcommand or option, bad value, bad Redis URL); 3 Redis unreachable (or no redis-server for the demo);
 * 4 a tasks module did not load or defines no task.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  ForkedWorker,
  InlineWorker,
  ModuleLoadError,
  PreforkedWorker,
  Queue,
  Sweeper,
  ThroughputMeter,
  consoleLogger,
  findQueues,
  formatDuration,
  queueStatus,
  renderQueueList,
  renderStatus,
  type LogLevel,
  type Logger,
  type QueueStatus,
  type Worker,
} from './index.ts';
import { CommandError } from './errors.ts';
import { checkRedisSource } from './connection.ts';
import { serveDashboard } from './dashboard/serve.ts';
import { stopSignalListener } from './signals.ts';
import { moduleUrl } from './task.ts';
import { loadTypeScriptSupport } from './typescript-tasks.ts';

const EXIT = { ok: 0, failed: 1, usage: 2, redis: 3, tasks: 4 } as const;

// ---------------------------------------------------------------------------------------------------------
// Options shared by the subcommands.

type OptionSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean };

const COMMON = {
  redis: { type: 'string' },
  prefix: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} satisfies Record<string, OptionSpec>;

const COMMON_HELP = `  --redis URL          Redis to use (default: $REDIS_URL, else redis://127.0.0.1:6379); a cluster:
                       redis+cluster://host:port,host:port; Sentinel: redis+sentinel://host:port,host:port/name
  --prefix PREFIX      first part of every key (default: delayed)
  --partitions N       the queue's partitions, the same for all its processes (default: $DELAYED_PARTITIONS, else 1)
  --wait-for-replicas N  replicas that must confirm each enqueue and finished task (default 0: do not wait)
  -h, --help           show this help`;

const QUEUE_OPTIONS = {
  partitions: { type: 'string' },
  'wait-for-replicas': { type: 'string' },
} satisfies Record<string, OptionSpec>;

interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly options: Record<string, OptionSpec>;
  readonly positionals?: number;
  run(values: Record<string, string | boolean | string[] | undefined>, positionals: string[]): Promise<number>;
}

const write = (text: string) => process.stdout.write(text);

function redisUrl(given: string | undefined): { url: string; shown: string } {
  const fromEnv = given === undefined && process.env.REDIS_URL !== undefined && process.env.REDIS_URL !== '';
  const raw = given ?? (fromEnv ? (process.env.REDIS_URL as string) : 'redis://127.0.0.1:6379');
  const where = given !== undefined ? '--redis' : 'REDIS_URL';
  const expected =
    'expected redis://[[user]:password@]host[:port][/db], rediss://…, redis+cluster://host:port,host:port or redis+sentinel://host:port,host:port/name, e.g. redis://127.0.0.1:6379';
  if (/^rediss?\+(cluster|sentinel):/.test(raw)) {
    try {
      checkRedisSource(raw);
    } catch (err) {
      throw new CommandError(
        `${where}: ${(err as Error).message.replace(/^Expected `redis` to be .*?, got /, 'not a Redis URL: ')}; ${expected}`,
        EXIT.usage,
      );
    }
    return { url: raw, shown: redact(raw) };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CommandError(`${where}: ${JSON.stringify(raw)} is not a Redis URL: ${expected}`, EXIT.usage);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new CommandError(
      `${where}: ${JSON.stringify(redact(raw))} is not a Redis URL (the scheme is ${url.protocol.replace(/:$/, '')}): ${expected}`,
      EXIT.usage,
    );
  }
  if (url.hostname === '') throw new CommandError(`${where}: ${JSON.stringify(redact(raw))} names no host: ${expected}`, EXIT.usage);
  if (!/^\/?(\d{1,2})?$/.test(url.pathname)) {
    throw new CommandError(
      `${where}: ${JSON.stringify(redact(raw))}: the database after the host must be a number (like /0), got ${JSON.stringify(url.pathname)}`,
      EXIT.usage,
    );
  }
  return { url: raw, shown: redact(raw) };
}

/** The URL without its password, for messages. */
function redact(raw: string): string {
  if (/^rediss?\+/.test(raw))
    return raw.replace(/^([^:]+:\/\/)([^@/]*:)?[^@/]*@/, (_, scheme: string, user: string | undefined) => `${scheme}${user ?? ''}***@`);
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.toString().replace(/\/$/, '');
  } catch {
    return raw;
  }
}

function queueName(values: Record<string, unknown>, required = true): string | undefined {
  const name = (values.queue as string | undefined) ?? (process.env.DELAYED_QUEUE || undefined);
  if (name === undefined && required) throw new CommandError('--queue NAME is required (or set DELAYED_QUEUE)', EXIT.usage);
  return name;
}

function integer(values: Record<string, unknown>, option: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const raw = values[option];
  if (raw === undefined) return undefined;
  const text = String(raw);
  if (!/^-?\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
    throw new CommandError(`--${option}: expected a whole number ${range}, got ${JSON.stringify(text)}`, EXIT.usage);
  }
  return Number(text);
}

/** --partitions and --wait-for-replicas (or $DELAYED_PARTITIONS), as queue options. */
function scaleOptions(values: Record<string, unknown>): { partitions?: number; waitForReplicas?: number } {
  const fromEnv = values.partitions === undefined && process.env.DELAYED_PARTITIONS ? { partitions: process.env.DELAYED_PARTITIONS } : {};
  const partitions = integer({ ...values, ...fromEnv }, 'partitions', 1, 256);
  const replicas = integer(values, 'wait-for-replicas', 0, 100);
  return { ...(partitions !== undefined ? { partitions } : {}), ...(replicas !== undefined ? { waitForReplicas: replicas } : {}) };
}

function makeQueue(
  values: Record<string, unknown>,
  extra: { deadLetters?: number; defaultTimeoutMs?: number } = {},
): { queue: Queue; shown: string } {
  const name = queueName(values) as string;
  const { url, shown } = redisUrl(values.redis as string | undefined);
  try {
    const queue = new Queue({
      name,
      redis: url,
      ...(values.prefix !== undefined ? { prefix: values.prefix as string } : {}),
      ...scaleOptions(values),
      ...extra,
    });
    return { queue, shown };
  } catch (err) {
    throw new CommandError(optionMessage(err as Error), EXIT.usage);
  }
}

/** The library's option messages name its options (`name`); say them the way the command line does. */
function optionMessage(err: Error): string {
  return err.message
    .replace('`name`', '--queue')
    .replace('`prefix`', '--prefix')
    .replace('`deadLetters`', '--dead-letters')
    .replace('`concurrency`', '--concurrency')
    .replace('`leaseMs`', '--lease-ms')
    .replace('`timeoutMs`', '--timeout')
    .replace('`maxAttempts`', '--max-attempts');
}

/** Fails fast, with the reason, when Redis cannot be reached (the workers themselves would retry forever). */
async function reachRedis(queue: Queue, shown: string): Promise<void> {
  const redis = queue.redis;
  let lastError: Error | undefined;
  redis.on('error', (err: Error) => {
    lastError = err;
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5000);
      }),
    ]);
  } catch (err) {
    await queue.close();
    const reason = (lastError ?? (err as Error)).message;
    const hint = /WRONGPASS|invalid password|invalid username/i.test(reason)
      ? 'Redis refused the user or password in the URL: check them (redis://user:PASSWORD@host:6379).'
      : /NOAUTH/i.test(reason)
        ? 'Redis wants a password: give it in the URL, redis://:PASSWORD@host:6379 (or user:PASSWORD@).'
        : 'Is redis-server running there? Give its URL with --redis or REDIS_URL.';
    throw new CommandError(`cannot reach Redis at ${shown}: ${reason}`, EXIT.redis, hint);
  } finally {
    clearTimeout(timer);
  }
}

function logLevel(values: Record<string, unknown>, fallback: LogLevel): LogLevel {
  const level = (values['log-level'] as string | undefined) ?? fallback;
  if (!['debug', 'info', 'warn', 'error', 'silent'].includes(level)) {
    throw new CommandError(`--log-level: expected debug, info, warn, error or silent, got ${JSON.stringify(level)}`, EXIT.usage);
  }
  return level as LogLevel;
}

function duration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
}

// ---------------------------------------------------------------------------------------------------------
// delayed worker

const worker: Command = {
  summary: 'run a worker: take tasks from a queue and run them',
  usage: `Usage: delayed worker --queue NAME --tasks MODULE [options]

Runs tasks from the queue until stopped. SIGTERM or Ctrl-C: stop taking tasks and let the running ones
finish (up to --shutdown-timeout); a second signal (1 s or more later) stops at once and puts the running
tasks back.
Prints one line per task outcome on stdout; warnings go to stderr.

Options:
  --queue NAME         the queue (default: $DELAYED_QUEUE)
  --tasks MODULE       a module that exports tasks made with defineTask (path or file: URL); repeat for
                       more modules. A .ts module is loaded through tsx when tsx is installed
  --kind KIND          preforked (default): long-lived child processes, one task at a time each
                       forked: a fresh child process per task
                       inline: in this process, many at once (for I/O-bound tasks; no hard timeout)
  --concurrency N      tasks at once (default 1)
  --lease-ms MS        lease length: a dead worker's tasks are back this long after it died (default 3000)
  --shutdown-timeout MS  how long running tasks may finish on stop (default 10000)
  --dead-letters N     keep the last N failed tasks in the dead-letter list (default 0)
  --max-tasks-per-child N  preforked: replace a child after N tasks
  --max-rss-mb MB      preforked: replace a child whose memory passed MB after a task
  --metrics-port PORT  serve Prometheus metrics on http://HOST:PORT/metrics (0: any free port)
  --metrics-host HOST  address to serve metrics on (default: all interfaces)
  --quiet              no line per task
  --log-level LEVEL    debug, info, warn (default), error or silent
${COMMON_HELP}

Example:
  delayed worker --queue emails --tasks ./dist/tasks.js --concurrency 4 --metrics-port 9464`,
  options: {
    ...COMMON,
    ...QUEUE_OPTIONS,
    queue: { type: 'string' },
    tasks: { type: 'string', multiple: true },
    kind: { type: 'string' },
    concurrency: { type: 'string' },
    'lease-ms': { type: 'string' },
    'shutdown-timeout': { type: 'string' },
    'dead-letters': { type: 'string' },
    'max-tasks-per-child': { type: 'string' },
    'max-rss-mb': { type: 'string' },
    'metrics-port': { type: 'string' },
    'metrics-host': { type: 'string' },
    quiet: { type: 'boolean' },
    'log-level': { type: 'string' },
  },
  async run(values) {
    const kind = (values.kind as string | undefined) ?? 'preforked';
    if (!['preforked', 'forked', 'inline'].includes(kind))
      throw new CommandError(`--kind: expected preforked, forked or inline, got ${JSON.stringify(kind)}`, EXIT.usage);
    const modules = (values.tasks as string[] | undefined) ?? [];
    if (modules.length === 0)
      throw new CommandError('--tasks MODULE is required: the module that exports your tasks (e.g. --tasks ./dist/tasks.js)', EXIT.usage);
    const concurrency = integer(values, 'concurrency', 1, 1000);
    const leaseMs = integer(values, 'lease-ms', 100);
    const shutdownTimeoutMs = integer(values, 'shutdown-timeout', 0);
    const deadLetters = integer(values, 'dead-letters', 0, 1_000_000);
    const maxTasksPerChild = integer(values, 'max-tasks-per-child', 1);
    const maxRssMb = integer(values, 'max-rss-mb', 1);
    const metricsPort = integer(values, 'metrics-port', 0, 65535);
    if (kind !== 'preforked' && (maxTasksPerChild !== undefined || maxRssMb !== undefined)) {
      throw new CommandError('--max-tasks-per-child and --max-rss-mb apply to --kind preforked only', EXIT.usage);
    }
    const level = logLevel(values, 'warn');
    for (const spec of modules) {
      if (/^[a-z][a-z0-9+.-]+:/i.test(spec) && !spec.startsWith('file:')) continue;
      const path = fileURLToPath(moduleUrl(spec));
      if (!existsSync(path) || !statSync(path).isFile()) {
        throw new CommandError(
          `--tasks ${spec}: no such file (looked for ${path})`,
          EXIT.tasks,
          'Give the path of the module that exports your tasks, relative to the current directory.',
        );
      }
    }
    let childExecArgv: string[];
    try {
      childExecArgv = await loadTypeScriptSupport(modules.map(moduleUrl));
    } catch (err) {
      throw new CommandError(
        `--tasks: ${(err as Error).message}`,
        EXIT.tasks,
        'Install it in your project (npm install --save-dev tsx) and run this again, or build your tasks with tsc and give the .js file.',
      );
    }
    const { queue, shown } = makeQueue(values, deadLetters !== undefined ? { deadLetters } : {});
    await reachRedis(queue, shown);

    const metrics = metricsPort !== undefined ? new (await import('./metrics.ts')).Metrics() : undefined;
    const logger: Logger = consoleLogger(level);
    const options = {
      queue,
      tasks: modules,
      logger,
      ...(concurrency !== undefined ? { concurrency } : {}),
      ...(leaseMs !== undefined ? { leaseMs } : {}),
      ...(shutdownTimeoutMs !== undefined ? { shutdownTimeoutMs } : {}),
    };
    const childOptions = childExecArgv.length > 0 ? { childExecArgv } : {};
    let w: Worker;
    try {
      w =
        kind === 'inline'
          ? new InlineWorker(options)
          : kind === 'forked'
            ? new ForkedWorker({ ...options, ...childOptions })
            : new PreforkedWorker({
                ...options,
                ...childOptions,
                ...(maxTasksPerChild !== undefined ? { maxTasksPerChild } : {}),
                ...(maxRssMb !== undefined ? { maxRssBytes: maxRssMb * 1_048_576 } : {}),
              });
    } catch (err) {
      await queue.close();
      throw new CommandError(optionMessage(err as Error), EXIT.usage);
    }
    metrics?.observeWorker(w);
    let server: Awaited<ReturnType<NonNullable<typeof metrics>['listen']>> | undefined;
    if (metrics && metricsPort !== undefined) {
      try {
        server = await metrics.listen(metricsPort, values['metrics-host'] as string | undefined);
      } catch (err) {
        await queue.close();
        const code = (err as NodeJS.ErrnoException).code;
        throw new CommandError(
          `cannot serve metrics on port ${metricsPort}: ${(err as Error).message}`,
          EXIT.failed,
          code === 'EADDRINUSE' ? 'Another process uses that port: pick another --metrics-port (0 takes any free one).' : undefined,
        );
      }
    }

    const quiet = values.quiet === true;
    const started = new Map<string, number>();
    const runKey = (t: { id: string; attempt: number }) => `${t.id}#${t.attempt}`;
    const took = (t: { id: string; attempt: number }) => {
      const at = started.get(runKey(t));
      started.delete(runKey(t));
      return at === undefined ? '' : ` ${duration(performance.now() - at)}`;
    };
    const line = (status: string, t: { id: string; name: string; attempt: number }, rest: string) =>
      write(`${new Date().toISOString()} ${status.padEnd(8)} ${t.name} ${t.id}${t.attempt > 0 ? ` attempt=${t.attempt}` : ''}${rest}\n`);
    w.on('start', (t) => started.set(runKey(t), performance.now()));
    w.on('success', (t) => (quiet ? took(t) : line('ok', t, took(t))));
    w.on('failure', (t, f) => {
      const time = took(t);
      if (!quiet) line('failed', t, `${time} reason=${f.reason}: ${f.message.split('\n')[0]}`);
    });
    w.on('requeue', (t, why) => {
      const time = took(t);
      if (!quiet) line('put back', t, `${time} (${why === 'crashed' ? 'its process crashed' : 'the worker is stopping'})`);
    });
    w.on('leaseLost', () => started.clear());

    // The worker handles SIGINT / SIGTERM while it runs. This listener stays to the end: a launcher's copy of
    // the signal (npx and npm forward the Ctrl-C they got) must not kill the command after a clean drain; a
    // deliberate second signal while the command finishes up ends it at once.
    let stopped = false;
    const lateSignal = stopSignalListener((request) => {
      if (request === 'stop-now' && stopped) process.exit(130);
    });
    process.on('SIGINT', lateSignal);
    process.on('SIGTERM', lateSignal);
    void (async () => {
      for (let i = 0; i < 400 && !stopped && w.workerId === ''; i++) await sleep(25);
      if (stopped || w.workerId === '') return;
      write(
        `worker ${w.workerId} started: queue ${queue.name} on ${shown}, ${kind} x${w.concurrency}, tasks ${modules.join(' ')}` +
          `${server ? `, metrics at ${server.url}` : ''} (pid ${process.pid}; Ctrl-C to stop)\n`,
      );
    })();
    try {
      await w.run();
    } catch (err) {
      stopped = true;
      await server?.close();
      await queue.close();
      if (err instanceof ModuleLoadError) {
        const message = err.message.split('\n')[0] ?? err.message;
        const files = modules.filter((m) => !/^[a-z][a-z0-9+.-]+:/i.test(m) || m.startsWith('file:'));
        throw new CommandError(
          message,
          EXIT.tasks,
          /defines no task/.test(err.message)
            ? 'Export the handles that defineTask returns from that module, e.g. `export const add = defineTask("add", (a, b) => a + b)`.'
            : /\.ts\b|Unknown file extension/.test(err.message)
              ? 'Node runs JavaScript: build the module first (tsc) and give the .js file, or install tsx (npm install --save-dev tsx): `delayed worker` then loads .ts modules itself.'
              : `Run it on its own to see the whole error: ${files.length > 0 ? files.map((f) => `node ${f}`).join('; ') : 'node <module>'}`,
        );
      }
      throw err;
    }
    stopped = true;
    await server?.close();
    await queue.close();
    write(`worker stopped: ${w.counts.succeeded} ok, ${w.counts.failed} failed, ${w.counts.requeued} put back\n`);
    return EXIT.ok;
  },
};

// ---------------------------------------------------------------------------------------------------------
// delayed sweeper

const sweeper: Command = {
  summary: 'run a standalone sweeper: put back the tasks of dead workers',
  usage: `Usage: delayed sweeper --queue NAME [options]

Every worker also sweeps, so this is for setups that want the sweeping separate (or for a queue whose
workers are all gone). Logs each time it put tasks back. Stops on SIGTERM or Ctrl-C.

Options:
  --queue NAME         the queue (default: $DELAYED_QUEUE)
  --interval MS        how often to sweep (default 1000)
  --log-level LEVEL    debug, info (default), warn, error or silent
${COMMON_HELP}

Example:
  delayed sweeper --queue emails --interval 2000`,
  options: { ...COMMON, ...QUEUE_OPTIONS, queue: { type: 'string' }, interval: { type: 'string' }, 'log-level': { type: 'string' } },
  async run(values) {
    const intervalMs = integer(values, 'interval', 1);
    const level = logLevel(values, 'info');
    const { queue, shown } = makeQueue(values);
    await reachRedis(queue, shown);
    const s = new Sweeper({ queue, logger: consoleLogger(level), ...(intervalMs !== undefined ? { intervalMs } : {}) });
    write(`sweeper started: queue ${queue.name} on ${shown}, every ${intervalMs ?? 1000} ms (pid ${process.pid}; Ctrl-C to stop)\n`);
    await s.run();
    await queue.close();
    write('sweeper stopped\n');
    return EXIT.ok;
  },
};

// ---------------------------------------------------------------------------------------------------------
// delayed enqueue

const enqueue: Command = {
  summary: 'enqueue one task (for scripts and cron); prints its id',
  usage: `Usage: delayed enqueue TASK --queue NAME [--args JSON] [options]

Enqueues one run of the task named TASK and prints its id on stdout.

Options:
  --queue NAME         the queue (default: $DELAYED_QUEUE)
  --args JSON          the arguments, as a JSON array (default [])
  --timeout MS         hard limit for the run (default: the queue's, 600000)
  --max-attempts N     how many runs may be cut off (worker lost, crash) before it fails (default 3)
${COMMON_HELP}

Example:
  delayed enqueue add --queue math --args '[1, 2]' --timeout 10000`,
  options: {
    ...COMMON,
    ...QUEUE_OPTIONS,
    queue: { type: 'string' },
    args: { type: 'string' },
    timeout: { type: 'string' },
    'max-attempts': { type: 'string' },
  },
  positionals: 1,
  async run(values, positionals) {
    const task = positionals[0];
    if (task === undefined) throw new CommandError("which task? Give its name: delayed enqueue TASK --args '[...]'", EXIT.usage);
    let args: unknown;
    const rawArgs = (values.args as string | undefined) ?? '[]';
    try {
      args = JSON.parse(rawArgs);
    } catch (err) {
      throw new CommandError(
        `--args: not valid JSON (${(err as Error).message}): ${rawArgs}`,
        EXIT.usage,
        'Quote it for the shell: --args \'[1, "two", {"three": 3}]\'',
      );
    }
    if (!Array.isArray(args))
      throw new CommandError(
        `--args: expected a JSON array of arguments, got ${rawArgs}`,
        EXIT.usage,
        `For one argument, wrap it: --args '[${rawArgs}]'`,
      );
    const timeoutMs = integer(values, 'timeout', 1);
    const maxAttempts = integer(values, 'max-attempts', 1, 1000);
    const { queue, shown } = makeQueue(values);
    await reachRedis(queue, shown);
    let id: string;
    try {
      id = await queue.enqueue(task, args, {
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        ...(maxAttempts !== undefined ? { maxAttempts } : {}),
      });
    } catch (err) {
      await queue.close();
      const code = (err as { code?: string }).code;
      if (code === 'ERR_INVALID_OPTION' || code === 'ERR_SERIALIZATION' || code === 'ERR_PAYLOAD_TOO_LARGE')
        throw new CommandError(optionMessage(err as Error), EXIT.usage);
      throw new CommandError(`cannot enqueue on ${shown}: ${(err as Error).message}`, EXIT.redis);
    }
    await queue.close();
    write(`${id}\n`);
    return EXIT.ok;
  },
};

// ---------------------------------------------------------------------------------------------------------
// delayed status

const status: Command = {
  summary: 'show a queue: waiting, in flight, workers, dead letters, throughput',
  usage: `Usage: delayed status [--queue NAME] [--watch] [--json] [options]

With --queue: that queue's state. Reading it costs a few O(1) Redis reads plus one per worker, however
many tasks wait. Without --queue: finds the queues with ONE SCAN of the keyspace (MATCH <prefix>:{*}:*),
then shows one line each; with --watch the scan is done once, at start.

Throughput comes from the workers' counters, which each worker reports with every lease renewal: --watch
shows it from consecutive reads; a single read shows it with --sample MS (two reads MS apart).

Options:
  --queue NAME         the queue (default: $DELAYED_QUEUE; none: list the queues)
  --watch              redraw every --interval until Ctrl-C (or q)
  --interval MS        redraw interval for --watch (default 1000)
  --sample MS          one-shot: read twice, MS apart, to show throughput (2000 or more is best)
  --json               machine-readable output (with --watch: one JSON object per line)
  --rows N             in-flight tasks to list (default: what fits; 100 with --json)
  --dead N             newest dead letters to read (default 5)
${COMMON_HELP}

Examples:
  delayed status --queue emails
  delayed status --queue emails --watch
  delayed status --queue emails --json | jq .waiting
  delayed status`,
  options: {
    ...COMMON,
    ...QUEUE_OPTIONS,
    queue: { type: 'string' },
    watch: { type: 'boolean', short: 'w' },
    interval: { type: 'string' },
    sample: { type: 'string' },
    json: { type: 'boolean' },
    rows: { type: 'string' },
    dead: { type: 'string' },
  },
  async run(values) {
    const json = values.json === true;
    const watch = values.watch === true;
    const intervalMs = integer(values, 'interval', 100) ?? 1000;
    const sampleMs = integer(values, 'sample', 0) ?? 0;
    const rows = integer(values, 'rows', 0);
    const deadLimit = integer(values, 'dead', 0, 1000) ?? 5;
    const name = queueName(values, false);
    const { url, shown } = redisUrl(values.redis as string | undefined);
    const prefix = values.prefix as string | undefined;
    const scale = scaleOptions(values);
    const open = (queue: string) => {
      let q: Queue;
      try {
        q = new Queue({ name: queue, redis: url, ...(prefix !== undefined ? { prefix } : {}), ...scale });
      } catch (err) {
        throw new CommandError(optionMessage(err as Error), EXIT.usage);
      }
      // Connection errors surface as failed reads (shown, and retried with --watch), not as stray log lines.
      q.redis.on('error', () => undefined);
      return q;
    };
    const statusOptions = { runningLimit: rows ?? (json ? 100 : 200), deadLimit };

    let queues: Queue[];
    let listing = false;
    if (name !== undefined) {
      queues = [open(name)];
      await reachRedis(queues[0] as Queue, shown);
    } else {
      listing = true;
      const probe = open('status');
      await reachRedis(probe, shown);
      await probe.close();
      const names = await findQueues({ redis: url, ...(prefix !== undefined ? { prefix } : {}) });
      queues = names.map(open);
    }
    const meters = queues.map(() => new ThroughputMeter(10_000));
    const readAll = async (): Promise<QueueStatus[]> => {
      const out: QueueStatus[] = [];
      for (let i = 0; i < queues.length; i++) {
        const s = await queueStatus(queues[i] as Queue, statusOptions);
        s.throughput = (meters[i] as ThroughputMeter).add(s);
        out.push(s);
      }
      return out;
    };
    const closeAll = async () => {
      for (const q of queues) await q.close();
    };
    const tty = process.stdout.isTTY === true;
    const draw = (statuses: QueueStatus[], note: string): string[] => {
      const width = tty ? process.stdout.columns || 100 : 120;
      if (listing) {
        return renderQueueList(statuses, {
          width,
          header: `Queues on ${shown} (prefix ${prefix ?? 'delayed'}; found by one SCAN${watch ? ' at start' : ''})`,
        });
      }
      const s = statuses[0] as QueueStatus;
      const fit = tty ? Math.max(3, (process.stdout.rows || 30) - 14 - s.workers.length) : 10;
      const lines = renderStatus(s, { width, runningRows: rows ?? fit, source: shown, noThroughput: note });
      if (s.epoch === null && s.waiting === 0 && s.workers.length === 0 && s.deadLetters === 0) {
        lines.push(
          '',
          `Nothing in Redis for queue ${s.queue} (prefix ${s.prefix}): no task waits and no worker has run. Check the name, --prefix and --redis.`,
        );
      }
      return lines;
    };

    if (!watch) {
      let statuses = await readAll();
      if (sampleMs > 0) {
        await sleep(sampleMs);
        statuses = await readAll();
      }
      await closeAll();
      if (json) write(`${JSON.stringify(listing ? { queues: statuses } : statuses[0])}\n`);
      else
        write(
          `${draw(statuses, sampleMs > 0 ? 'n/a (no worker reported twice during --sample; try a longer one)' : 'use --watch, or --sample 2000').join('\n')}\n`,
        );
      return EXIT.ok;
    }

    // --watch: redraw in place (or, when not on a terminal or with --json, print one frame per interval).
    let quit = false;
    let wake: (() => void) | undefined;
    const stop = () => {
      quit = true;
      wake?.();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    const inPlace = tty && !json;
    const stdin = process.stdin;
    if (inPlace && stdin.isTTY) {
      stdin.setRawMode(true);
      stdin.resume();
      stdin.on('data', (key: Buffer) => {
        const k = key.toString();
        if (k === 'q' || k === 'Q' || k === '\u0003' || k === '\u001b') stop();
      });
    }
    if (inPlace) write('\u001b[?25l\u001b[2J');
    let frames = 0;
    try {
      while (!quit) {
        let lines: string[];
        let statuses: QueueStatus[] | undefined;
        try {
          statuses = await readAll();
          lines = draw(statuses, frames === 0 ? "measuring… (from the workers' next reports)" : 'n/a (no worker reporting)');
        } catch (err) {
          lines = [`cannot read from ${shown}: ${(err as Error).message}; retrying every ${intervalMs} ms`];
        }
        frames++;
        if (json) {
          if (statuses) write(`${JSON.stringify(listing ? { queues: statuses } : statuses[0])}\n`);
        } else if (inPlace) {
          lines.push('', `every ${formatDuration(intervalMs)} · q or Ctrl-C to quit`);
          const height = process.stdout.rows || 30;
          write(
            `\u001b[H${lines
              .slice(0, height - 1)
              .map((l) => `${l}\u001b[K`)
              .join('\n')}\n\u001b[J`,
          );
        } else {
          write(`${lines.join('\n')}\n\n`);
        }
        if (quit) break;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, intervalMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      if (inPlace) write('\u001b[?25h');
      if (inPlace && stdin.isTTY) {
        stdin.setRawMode(false);
        stdin.pause();
      }
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await closeAll();
    }
    return EXIT.ok;
  },
};

// ---------------------------------------------------------------------------------------------------------
// delayed demo

const demo: Command = {
  summary: 'see it work: thousands of tasks, two workers, one killed with kill -9 halfway',
  usage: `Usage: delayed demo [--tasks N] [--json] [options]

Starts a private redis-server (unless REDIS_URL or --redis is given), enqueues N sample tasks, runs two
preforked workers as separate \`delayed worker\` processes with a live progress bar, kill -9s one of them
halfway and starts it again, then prints what happened: tasks enqueued, completed, lost (0), run twice,
recovery time, and the keys left in Redis. It deletes its keys and stops its redis-server at the end.

Options:
  --tasks N            how many tasks (default 4000)
  --workers N          worker processes (default 2)
  --concurrency N      children per worker (default 4)
  --json               print the summary as JSON on stdout (progress goes to stderr)
  --timeout S          give up after S seconds (default 300)
  --redis URL          use this Redis instead of a private one (default: $REDIS_URL)
  --prefix PREFIX      first part of every key (default: delayed)
  -h, --help           show this help

Example:
  npx delayed demo`,
  options: {
    ...COMMON,
    tasks: { type: 'string' },
    workers: { type: 'string' },
    concurrency: { type: 'string' },
    json: { type: 'boolean' },
    timeout: { type: 'string' },
  },
  async run(values) {
    const tasks = integer(values, 'tasks', 1, 1_000_000);
    const workers = integer(values, 'workers', 1, 16);
    const concurrency = integer(values, 'concurrency', 1, 64);
    const timeout = integer(values, 'timeout', 1);
    const given = (values.redis as string | undefined) ?? (process.env.REDIS_URL || undefined);
    const redis = given === undefined ? undefined : redisUrl(given).url;
    if (redis !== undefined && /^rediss?\+/.test(redis))
      throw new CommandError('The demo runs on one Redis: give it a redis:// URL (or none, for a private redis-server)', EXIT.usage);
    const { runDemo } = await import('./demo.ts');
    // The demo's own failures are CommandErrors: they reach the user as they are.
    const summary = await runDemo({
      json: values.json === true,
      ...(tasks !== undefined ? { tasks } : {}),
      ...(workers !== undefined ? { workers } : {}),
      ...(concurrency !== undefined ? { concurrency } : {}),
      ...(timeout !== undefined ? { timeoutMs: timeout * 1000 } : {}),
      ...(redis !== undefined ? { redis } : {}),
      ...(values.prefix !== undefined ? { prefix: values.prefix as string } : {}),
    });
    if (values.json === true) write(`${JSON.stringify(summary)}\n`);
    return summary.lost === 0 && summary.completed === summary.enqueued ? EXIT.ok : EXIT.failed;
  },
};

// ---------------------------------------------------------------------------------------------------------
// delayed dashboard (the server and the page live in src/dashboard/)

const dashboard: Command = {
  summary: 'serve a web dashboard of queues: figures, workers, dead letters (read-only unless --allow-actions)',
  usage: `Usage: delayed dashboard --queue NAME [--queue NAME…] [--port 9465] [--host 127.0.0.1] [options]

Serves a live web page (refreshed once a second, whatever the number of open tabs) showing each queue's
waiting and in-flight tasks, workers, dead letters and throughput. Each refresh costs a few O(1) Redis
reads plus one per worker, however many tasks wait. Read-only by default; with --allow-actions, requeueing
and deleting dead letters need the token (Authorization: Bearer TOKEN), which the page asks for.

Options:
  --queue NAME         a queue to show (repeat for several; default: $DELAYED_QUEUE)
  --port N             port to listen on (default 9465; 0: any free port)
  --host HOST          address to bind (default 127.0.0.1: this machine only)
  --allow-actions      enable requeue / delete of dead letters (needs a token)
  --token TOKEN        the actions' token, 16+ characters (default: $DELAYED_DASHBOARD_TOKEN)
  --log-level LEVEL    debug, info, warn, error or silent (default info: actions are logged)
${COMMON_HELP}

Examples:
  delayed dashboard --queue emails
  DELAYED_DASHBOARD_TOKEN=$(openssl rand -hex 16) delayed dashboard --queue emails --allow-actions`,
  options: {
    ...COMMON,
    ...QUEUE_OPTIONS,
    queue: { type: 'string', multiple: true },
    port: { type: 'string' },
    host: { type: 'string' },
    'allow-actions': { type: 'boolean' },
    token: { type: 'string' },
    'log-level': { type: 'string' },
  },
  async run(values) {
    const names = (values.queue as string[] | undefined) ?? (process.env.DELAYED_QUEUE ? [process.env.DELAYED_QUEUE] : []);
    if (names.length === 0) throw new CommandError('--queue NAME is required (or set DELAYED_QUEUE)', EXIT.usage);
    const port = integer(values, 'port', 0, 65535) ?? 9465;
    const host = (values.host as string | undefined) ?? '127.0.0.1';
    const token = (values.token as string | undefined) ?? (process.env.DELAYED_DASHBOARD_TOKEN || undefined);
    const allowActions = values['allow-actions'] === true;
    if (allowActions && token === undefined)
      throw new CommandError(
        '--allow-actions needs --token TOKEN (or DELAYED_DASHBOARD_TOKEN): actions are never open to anyone',
        EXIT.usage,
      );
    const logger = consoleLogger(logLevel(values, 'info'));
    const { url, shown } = redisUrl(values.redis as string | undefined);
    const prefix = values.prefix as string | undefined;
    let queues: Queue[];
    try {
      queues = names.map((name) => new Queue({ name, redis: url, ...(prefix !== undefined ? { prefix } : {}), ...scaleOptions(values) }));
    } catch (err) {
      throw new CommandError(optionMessage(err as Error), EXIT.usage);
    }
    await reachRedis(queues[0] as Queue, shown);
    let running: Awaited<ReturnType<typeof serveDashboard>>;
    try {
      running = await serveDashboard({ queues, port, host, allowActions, ...(token !== undefined ? { token } : {}), logger });
    } catch (err) {
      for (const q of queues) await q.close();
      const e = err as Error & { code?: string };
      if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL')
        throw new CommandError(`cannot listen on ${host}:${port}: ${e.message}`, EXIT.failed);
      throw new CommandError(optionMessage(e).replace('`token`', '--token'), EXIT.usage);
    }
    write(
      `Dashboard for ${names.join(', ')} on ${shown}: ${running.url} (${allowActions ? 'actions enabled, with the token' : 'read-only'}); Ctrl-C to stop\n`,
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await running.close();
    for (const q of queues) await q.close();
    return EXIT.ok;
  },
};

// ---------------------------------------------------------------------------------------------------------

const COMMANDS: Record<string, Command> = { worker, sweeper, status, enqueue, demo, dashboard };

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function mainHelp(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length));
  return `delayed ${version()}: a task queue for Node.js on Redis

Usage: delayed <command> [options]

Commands:
${names.map((n) => `  ${n.padEnd(width)}  ${(COMMANDS[n] as Command).summary}`).join('\n')}

Run \`delayed <command> --help\` for a command's options.
Environment: REDIS_URL (default Redis), DELAYED_QUEUE (default --queue).
Exit codes: 0 done, 1 failed, 2 bad usage, 3 Redis unreachable, 4 a tasks module did not load.
`;
}

/** The closest of `choices` to `word`, if it is close enough to be a likely typo. */
function suggest(word: string, choices: readonly string[]): string | undefined {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
      let prev = row[0] as number;
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const current = row[j] as number;
        row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = current;
      }
    }
    return row[b.length] as number;
  };
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const choice of choices) {
    const d = distance(word, choice);
    if (d < bestDistance) {
      best = choice;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

function parseError(name: string, command: Command, err: Error & { code?: string }): CommandError {
  const help = `Run \`delayed ${name} --help\` for the options.`;
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = /'([^']+)'/.exec(err.message)?.[1] ?? '?';
    const bare = option.replace(/^-+/, '').split('=')[0] ?? '';
    const close = suggest(bare, Object.keys(command.options));
    return new CommandError(`${name}: unknown option ${option}${close ? ` (did you mean --${close}?)` : ''}`, EXIT.usage, help);
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const option = /'(-[^' ]+)/.exec(err.message)?.[1];
    return new CommandError(`${name}: ${option ? `${option} needs a value` : err.message}`, EXIT.usage, help);
  }
  if (err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const word = /'([^']+)'/.exec(err.message)?.[1] ?? '?';
    return new CommandError(`${name}: unexpected argument ${JSON.stringify(word)}`, EXIT.usage, help);
  }
  return new CommandError(`${name}: ${err.message}`, EXIT.usage, help);
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help') {
    write(mainHelp());
    return first === undefined ? EXIT.usage : EXIT.ok;
  }
  if (first === '--version' || first === '-v' || first === 'version') {
    write(`${version()}\n`);
    return EXIT.ok;
  }
  if (first === 'help') {
    const topic = rest[0];
    const command = topic === undefined ? undefined : COMMANDS[topic];
    if (topic !== undefined && !command) throw unknownCommand(topic);
    write(command ? `${command.usage}\n` : mainHelp());
    return EXIT.ok;
  }
  const command = COMMANDS[first];
  if (!command) throw unknownCommand(first);
  if (rest.includes('--help') || rest.includes('-h')) {
    write(`${command.usage}\n`);
    return EXIT.ok;
  }
  let parsed: { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: rest,
      options: command.options,
      strict: true,
      allowPositionals: (command.positionals ?? 0) > 0,
    }) as typeof parsed;
  } catch (err) {
    throw parseError(first, command, err as Error & { code?: string });
  }
  if (parsed.positionals.length > (command.positionals ?? 0)) {
    throw new CommandError(
      `${first}: unexpected argument ${JSON.stringify(parsed.positionals[command.positionals ?? 0])}`,
      EXIT.usage,
      `Run \`delayed ${first} --help\` for the usage.`,
    );
  }
  return await command.run(parsed.values, parsed.positionals);
}

function unknownCommand(word: string): CommandError {
  const close = suggest(word, Object.keys(COMMANDS));
  return new CommandError(
    `unknown command ${JSON.stringify(word)}${close ? ` (did you mean ${close}?)` : ''}`,
    EXIT.usage,
    `The commands are: ${Object.keys(COMMANDS).join(', ')}. Run \`delayed --help\` for more.`,
  );
}

function exit(code: number): void {
  // Let what was written reach the pipe or terminal, then end (open handles must not keep the command alive).
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

main(process.argv.slice(2)).then(exit, (err: unknown) => {
  if (err instanceof CommandError) {
    process.stderr.write(`delayed: ${err.message}\n${err.hint ? `${err.hint}\n` : ''}`);
    exit(err.exitCode);
  } else {
    process.stderr.write(`delayed: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    exit(EXIT.failed);
  }
});
