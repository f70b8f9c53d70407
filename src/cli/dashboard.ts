/** `delayed dashboard`: serve the web dashboard (the server and the page live in src/dashboard/). */
import { serveDashboard } from '../dashboard/serve.ts';
import { Queue, consoleLogger } from '../index.ts';
import { stopSignalListener } from '../signals.ts';
import {
  COMMON_HELP,
  CommandError,
  EXIT,
  QUEUE_COMMON,
  integer,
  logLevel,
  optionMessage,
  reachRedis,
  redisUrl,
  scaleOptions,
  write,
  type Command,
} from './args.ts';

export const dashboard: Command = {
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
    ...QUEUE_COMMON,
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
    // The first stop signal closes the server; a launcher's copy of it (npx, npm run) changes nothing, and a
    // deliberate second signal while it closes ends the command at once.
    await new Promise<void>((resolve) => {
      const onSignal = stopSignalListener((request) => {
        if (request === 'stop') resolve();
        else if (request === 'stop-now') process.exit(130);
      });
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    });
    await running.close();
    for (const q of queues) await q.close();
    return EXIT.ok;
  },
};
