/** `delayed schedules`: a queue's repeating schedules and when each fires next; `--remove ID` unschedules one. */
import { COMMON_HELP, CommandError, EXIT, QUEUE_COMMON, makeQueue, reachRedis, write, type Command } from './args.ts';

export const schedules: Command = {
  summary: "list a queue's repeating schedules (cron / every), or remove one",
  usage: `Usage: delayed schedules --queue NAME [--remove ID] [--json]

Lists the queue's schedules (registered with queue.schedule()): id, cron expression and zone or period,
task, and the next due time (on Redis' clock). Schedules are the one kind of key that outlives a drained
queue; --remove ID unschedules one (occurrences already enqueued still run).

Options:
  --queue NAME         the queue (default: $DELAYED_QUEUE)
  --remove ID          remove the schedule ID
  --json               one JSON object per schedule
${COMMON_HELP}

Example:
  delayed schedules --queue reports`,
  options: {
    ...QUEUE_COMMON,
    queue: { type: 'string' },
    remove: { type: 'string' },
    json: { type: 'boolean' },
  },
  positionals: 0,
  async run(values) {
    const { queue, shown } = makeQueue(values);
    await reachRedis(queue, shown);
    try {
      if (typeof values.remove === 'string') {
        const removed = await queue.unschedule(values.remove);
        if (!removed) throw new CommandError(`no schedule ${JSON.stringify(values.remove)} on ${shown}`, EXIT.failed);
        write(`removed ${values.remove}\n`);
        return EXIT.ok;
      }
      const list = await queue.schedules();
      if (values.json === true) {
        for (const s of list) write(`${JSON.stringify({ ...s, nextDueAt: s.nextDueAt?.toISOString() ?? null })}\n`);
        return EXIT.ok;
      }
      if (list.length === 0) {
        write(`no schedules on ${shown}\n`);
        return EXIT.ok;
      }
      const rows = list.map((s) => [
        s.id,
        s.cron !== undefined ? `cron ${s.cron} (${s.tz})` : `every ${s.everyMs} ms`,
        s.task,
        s.nextDueAt?.toISOString() ?? '-',
        `missed ${typeof s.missed === 'object' ? `backfill ${s.missed.backfill}` : s.missed}, overlap ${s.overlap}`,
      ]);
      const head = ['ID', 'WHEN', 'TASK', 'NEXT (Redis clock)', 'POLICY'];
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
      for (const row of [head, ...rows])
        write(
          `${row
            .map((c, i) => c.padEnd(widths[i] as number))
            .join('  ')
            .trimEnd()}\n`,
        );
      return EXIT.ok;
    } catch (err) {
      if (err instanceof CommandError) throw err;
      throw new CommandError(`cannot read the schedules on ${shown}: ${(err as Error).message}`, EXIT.redis);
    } finally {
      await queue.close();
    }
  },
};
