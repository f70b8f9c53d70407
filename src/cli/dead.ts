/** `delayed dead`: list a queue's dead letters, requeue one (`--requeue ID`) or all (`--all`), or `--purge` them. */
import { listDeadLetters, purgeDeadLetters, requeueAllDeadLetters, requeueDeadLetterById } from '../dead-letters.ts';
import { checkTaskId } from '../payload.ts';
import { COMMON_HELP, CommandError, EXIT, QUEUE_COMMON, integer, makeQueue, reachRedis, write, type Command } from './args.ts';

export const dead: Command = {
  summary: 'list dead letters (failed tasks), requeue one or all, or purge them',
  usage: `Usage: delayed dead --queue NAME [--requeue ID | --all | --purge] [--json] [--limit N] [--offset N]

Without an action, lists the queue's dead letters, newest first (the queue must keep them: deadLetters > 0 on
the workers' queue, --dead-letters for delayed worker). --requeue ID puts the failed task with that id back in
the queue (attempt + 1, cut-offs reset); --all does so for every dead letter; --purge deletes them all.

Options:
  --queue NAME         the queue (default: $DELAYED_QUEUE)
  --requeue ID         requeue the dead letter of task ID (exit 1 if it has none)
  --all                requeue every dead letter (unreadable ones stay)
  --purge              delete every dead letter
  --limit N            how many to list, 1-100 (default 50)
  --offset N           how many to skip (default 0)
  --json               one JSON object per letter (or per action)
${COMMON_HELP}

Example:
  delayed dead --queue emails
  delayed dead --queue emails --requeue Xk3_a9Zq.0`,
  options: {
    ...QUEUE_COMMON,
    queue: { type: 'string' },
    requeue: { type: 'string' },
    all: { type: 'boolean' },
    purge: { type: 'boolean' },
    limit: { type: 'string' },
    offset: { type: 'string' },
    json: { type: 'boolean' },
  },
  positionals: 0,
  async run(values) {
    const actions = [typeof values.requeue === 'string', values.all === true, values.purge === true].filter(Boolean).length;
    if (actions > 1) throw new CommandError('dead: give one of --requeue ID, --all, --purge', EXIT.usage);
    if (typeof values.requeue === 'string') {
      try {
        checkTaskId(values.requeue);
      } catch (err) {
        throw new CommandError(`dead: ${(err as Error).message}`, EXIT.usage);
      }
    }
    const limit = integer(values, 'limit', 1, 100) ?? 50;
    const offset = integer(values, 'offset', 0) ?? 0;
    const { queue, shown } = makeQueue(values);
    await reachRedis(queue, shown);
    const json = values.json === true;
    try {
      if (typeof values.requeue === 'string') {
        const done = await requeueDeadLetterById(queue, values.requeue);
        write(
          json
            ? `${JSON.stringify({ requeued: done ? 1 : 0 })}\n`
            : done
              ? `requeued ${values.requeue}\n`
              : `no dead letter for ${values.requeue}\n`,
        );
        return done ? EXIT.ok : EXIT.failed;
      }
      if (values.all === true) {
        const { requeued, skipped } = await requeueAllDeadLetters(queue);
        write(
          json
            ? `${JSON.stringify({ requeued, skipped })}\n`
            : `requeued ${requeued}${skipped > 0 ? `, ${skipped} unreadable left` : ''}\n`,
        );
        return EXIT.ok;
      }
      if (values.purge === true) {
        const purged = await purgeDeadLetters(queue);
        write(json ? `${JSON.stringify({ purged })}\n` : `purged ${purged}\n`);
        return EXIT.ok;
      }
      const page = await listDeadLetters(queue, { limit, offset });
      if (json) {
        for (const l of page.letters) {
          const { record: _record, ...rest } = l;
          write(`${JSON.stringify({ ...rest, at: new Date(l.at).toISOString() })}\n`);
        }
        return EXIT.ok;
      }
      if (page.total === 0) {
        write(`no dead letters on ${shown}\n`);
        return EXIT.ok;
      }
      for (const l of page.letters) write(`${new Date(l.at).toISOString()}  ${l.id}  ${l.name}  ${l.reason}: ${l.message.slice(0, 200)}\n`);
      write(`${page.letters.length} of ${page.total} shown (--offset / --limit for more)\n`);
      return EXIT.ok;
    } catch (err) {
      if (err instanceof CommandError) throw err;
      throw new CommandError(`cannot reach the dead letters on ${shown}: ${(err as Error).message}`, EXIT.redis);
    } finally {
      await queue.close();
    }
  },
};
