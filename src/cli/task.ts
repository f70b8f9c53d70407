/** `delayed task ID` (where a task is now) and `delayed cancel ID` (cancel it from any shell). */
import type { TaskLookup } from '../lookup.ts';
import { checkTaskId } from '../payload.ts';
import { COMMON_HELP, CommandError, EXIT, QUEUE_COMMON, makeQueue, reachRedis, write, type Command } from './args.ts';

/** One line (or a JSON object) saying where a task is. */
export function describeTask(t: TaskLookup): string {
  if (t.state === 'unknown') return `${t.id}: unknown (finished, never enqueued, or failed without a dead letter)`;
  if (t.state === 'succeeded')
    return `${t.id}: succeeded ${t.finishedAt.toISOString()}, result ${JSON.stringify(t.value)?.slice(0, 2000) ?? 'null'}`;
  const head = `${t.id} ${t.name} (attempt ${t.attempt}${t.partition > 0 ? `, partition ${t.partition}` : ''})`;
  switch (t.state) {
    case 'scheduled':
      return `${head}: scheduled, due ${t.dueAt.toISOString()} (Redis clock)`;
    case 'waiting':
      return `${head}: waiting`;
    case 'running': {
      const where = t.host !== null ? `${t.host} pid ${t.pid ?? '?'}` : t.workerId;
      const since = t.since ? ` since ${t.since.toISOString()}` : '';
      const progress = t.progress !== undefined ? `, progress ${JSON.stringify(t.progress)}` : '';
      return `${head}: running on ${where} (worker ${t.workerId})${since}${progress}${t.cancelling ? ', cancel requested' : ''}`;
    }
    case 'failed':
      return `${head}: failed ${t.failedAt.toISOString()}, ${t.reason}: ${t.message}`;
  }
}

const json = (t: TaskLookup) => JSON.stringify(t, (_k, v: unknown) => (v instanceof Date ? v.toISOString() : v));

function taskId(positionals: string[], command: string): string {
  const id = positionals[0];
  if (id === undefined || id === '')
    throw new CommandError(`${command}: which task? Give its id`, EXIT.usage, `Usage: delayed ${command} ID --queue NAME`);
  try {
    checkTaskId(id);
  } catch (err) {
    throw new CommandError(`${command}: ${(err as Error).message}`, EXIT.usage);
  }
  return id;
}

export const task: Command = {
  summary: 'show where a task is now: scheduled, waiting, running (where, since when), failed, unknown',
  usage: `Usage: delayed task ID --queue NAME [--json]

Looks the task up by the id its enqueue returned: scheduled (due when), waiting, running (on which worker
and host, since when, whether a cancel is pending), failed (its dead letter, when the queue keeps them) or
unknown (finished, or never enqueued). Reads the queue's lists: the cost grows with the backlog.

Options:
  --queue NAME         the queue (default: $DELAYED_QUEUE)
  --json               one JSON object
${COMMON_HELP}

Example:
  delayed task Xk3_a9Zq.0 --queue emails`,
  options: { ...QUEUE_COMMON, queue: { type: 'string' }, json: { type: 'boolean' } },
  positionals: 1,
  async run(values, positionals) {
    const id = taskId(positionals, 'task');
    const { queue, shown } = makeQueue(values);
    await reachRedis(queue, shown);
    try {
      const found = await queue.task(id);
      write(`${values.json === true ? json(found) : describeTask(found)}\n`);
      return found.state === 'unknown' ? EXIT.failed : EXIT.ok;
    } catch (err) {
      if (err instanceof CommandError) throw err;
      throw new CommandError(`cannot look the task up on ${shown}: ${(err as Error).message}`, EXIT.redis);
    } finally {
      await queue.close();
    }
  },
};

export const cancel: Command = {
  summary: 'cancel a task: removed if it waits, killed if it runs',
  usage: `Usage: delayed cancel ID --queue NAME

Cancels the task: "removed" (it was scheduled or waiting: it never runs), "stopping" (it runs: its worker
hears of it with its next lease renewal, kills the child's process group and fails the task with reason
cancelled, never retried) or "not-found" (finished, failed, or never enqueued; exit code 1).

Options:
  --queue NAME         the queue (default: $DELAYED_QUEUE)
${COMMON_HELP}

Example:
  delayed cancel Xk3_a9Zq.0 --queue emails`,
  options: { ...QUEUE_COMMON, queue: { type: 'string' } },
  positionals: 1,
  async run(values, positionals) {
    const id = taskId(positionals, 'cancel');
    const { queue, shown } = makeQueue(values);
    await reachRedis(queue, shown);
    try {
      const result = await queue.cancel(id);
      write(`${result}\n`);
      return result === 'not-found' ? EXIT.failed : EXIT.ok;
    } catch (err) {
      if (err instanceof CommandError) throw err;
      throw new CommandError(`cannot cancel on ${shown}: ${(err as Error).message}`, EXIT.redis);
    } finally {
      await queue.close();
    }
  },
};
