/** `delayed sweeper`: a standalone sweeper, for setups that want sweeping apart from the workers. */
import { Sweeper, consoleLogger } from '../index.ts';
import { COMMON_HELP, EXIT, QUEUE_COMMON, integer, logLevel, makeQueue, reachRedis, write, type Command } from './args.ts';

export const sweeper: Command = {
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
  options: { ...QUEUE_COMMON, queue: { type: 'string' }, interval: { type: 'string' }, 'log-level': { type: 'string' } },
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
