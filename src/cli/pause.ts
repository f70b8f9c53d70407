/** `delayed pause` and `delayed resume`: stop and restart the taking of a queue's tasks, from any shell. */
import { COMMON_HELP, CommandError, EXIT, QUEUE_COMMON, makeQueue, reachRedis, write, type Command } from './args.ts';

function pauseCommand(action: 'pause' | 'resume'): Command {
  const doing = action === 'pause' ? 'paused' : 'resumed';
  return {
    summary: action === 'pause' ? 'pause a queue: workers finish what they run and take nothing new' : 'resume a paused queue',
    usage: `Usage: delayed ${action} --queue NAME

${
  action === 'pause'
    ? 'Pauses the queue: within one lease renewal (leaseMs / 3, 1 s by default) its workers take no new task;\nwhat they run finishes. Producers still enqueue. Lasts until `delayed resume`.'
    : 'Resumes a paused queue: its workers take tasks again within one lease renewal.'
}

Options:
  --queue NAME         the queue (default: $DELAYED_QUEUE)
${COMMON_HELP}

Example:
  delayed ${action} --queue emails`,
    options: { ...QUEUE_COMMON, queue: { type: 'string' } },
    positionals: 0,
    async run(values) {
      const { queue, shown } = makeQueue(values);
      await reachRedis(queue, shown);
      try {
        await (action === 'pause' ? queue.pause() : queue.resume());
        write(`${doing} ${queue.name}\n`);
        return EXIT.ok;
      } catch (err) {
        throw new CommandError(`cannot ${action} ${shown}: ${(err as Error).message}`, EXIT.redis);
      } finally {
        await queue.close();
      }
    },
  };
}

export const pause = pauseCommand('pause');
export const resume = pauseCommand('resume');
