/** `delayed status`: one queue's state, or a line per queue; once, sampled, or redrawn with --watch. */
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, findQueues, queueStatus, type QueueStatus } from '../index.ts';
import { ThroughputMeter } from '../throughput.ts';
import {
  COMMON_HELP,
  CommandError,
  EXIT,
  QUEUE_COMMON,
  integer,
  optionMessage,
  queueName,
  reachRedis,
  redisUrl,
  scaleOptions,
  write,
  type Command,
} from './args.ts';
import { renderQueueList, renderStatus } from './render.ts';
import { watch } from './watch.ts';

export const status: Command = {
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
    ...QUEUE_COMMON,
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
    const watching = values.watch === true;
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
          header: `Queues on ${shown} (prefix ${prefix ?? 'delayed'}; found by one SCAN${watching ? ' at start' : ''})`,
        });
      }
      const s = statuses[0] as QueueStatus;
      const fit = tty ? Math.max(3, (process.stdout.rows || 30) - 14 - s.workers.length) : 10;
      const lines = renderStatus(s, { width, runningRows: rows ?? fit, source: shown, noThroughput: note });
      if (s.epoch === null && s.waiting === 0 && s.scheduled === 0 && s.schedules === 0 && s.workers.length === 0 && s.deadLetters === 0) {
        lines.push(
          '',
          `Nothing in Redis for queue ${s.queue} (prefix ${s.prefix}): no task waits and no worker has run. Check the name, --prefix and --redis.`,
        );
      }
      return lines;
    };

    if (!watching) {
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
    const inPlace = tty && !json;
    try {
      await watch({
        intervalMs,
        inPlace,
        frame: async (index) => {
          let statuses: QueueStatus[];
          try {
            statuses = await readAll();
          } catch (err) {
            return json
              ? []
              : [`cannot read from ${shown}: ${(err as Error).message}; retrying every ${intervalMs} ms`, ...(inPlace ? [] : [''])];
          }
          if (json) return [JSON.stringify(listing ? { queues: statuses } : statuses[0])];
          const lines = draw(statuses, index === 0 ? "measuring… (from the workers' next reports)" : 'n/a (no worker reporting)');
          return inPlace ? lines : [...lines, ''];
        },
      });
    } finally {
      await closeAll();
    }
    return EXIT.ok;
  },
};
