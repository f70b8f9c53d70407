/** `delayed worker`: run tasks from a queue until stopped, one line per outcome. */
import { existsSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ForkedWorker, InlineWorker, ModuleLoadError, PreforkedWorker, consoleLogger, type Logger, type Worker } from '../index.ts';
import { REPEAT_WINDOW_MS, stopSignalListener } from '../signals.ts';
import { moduleUrl } from '../task.ts';
import { loadTypeScriptSupport } from '../typescript-tasks.ts';
import {
  COMMON_HELP,
  CommandError,
  EXIT,
  QUEUE_COMMON,
  integer,
  logLevel,
  makeQueue,
  optionMessage,
  reachRedis,
  write,
  type Command,
} from './args.ts';
import { formatDuration } from './render.ts';

export const worker: Command = {
  summary: 'run a worker: take tasks from a queue and run them',
  usage: `Usage: delayed worker --queue NAME --tasks MODULE [options]

Runs tasks from the queue until stopped. SIGTERM or Ctrl-C: stop taking tasks and let the running ones
finish (up to --shutdown-timeout); a second signal (${REPEAT_WINDOW_MS / 1000} s or more later) stops at once and puts the running
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
    ...QUEUE_COMMON,
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

    const metrics = metricsPort !== undefined ? new (await import('../metrics.ts')).Metrics() : undefined;
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
      return at === undefined ? '' : ` ${formatDuration(performance.now() - at)}`;
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
