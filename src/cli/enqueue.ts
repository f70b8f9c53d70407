/** `delayed enqueue`: one task from a script or cron; prints its id. */
import {
  COMMON_HELP,
  CommandError,
  EXIT,
  QUEUE_COMMON,
  integer,
  makeQueue,
  optionMessage,
  reachRedis,
  write,
  type Command,
} from './args.ts';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `30s`, `5m`, `2h`, `1d`, `1.5s` or a bare number of ms, as ms. */
export function duration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  const ms = m ? Math.round(Number(m[1]) * (UNITS[m[2] ?? 'ms'] as number)) : Number.NaN;
  if (!Number.isSafeInteger(ms)) {
    throw new CommandError(`--delay: expected a duration such as 500ms, 30s, 5m, 2h or 1d, got ${JSON.stringify(text)}`, EXIT.usage);
  }
  return ms;
}

export const enqueue: Command = {
  summary: 'enqueue one task (for scripts and cron); prints its id',
  usage: `Usage: delayed enqueue TASK --queue NAME [--args JSON] [options]

Enqueues one run of the task named TASK and prints its id on stdout.

Options:
  --queue NAME         the queue (default: $DELAYED_QUEUE)
  --args JSON          the arguments, as a JSON array (default [])
  --timeout MS         hard limit for the run (default: the queue's, 600000)
  --max-attempts N     how many runs may be cut off (worker lost, crash) before it fails (default 3)
  --delay DURATION     run no earlier than this long from now, on Redis' clock: 500ms, 30s, 5m, 2h, 1d
  --retries N          retries of a run that throws (default: the task definition's, else 0)
${COMMON_HELP}

Examples:
  delayed enqueue add --queue math --args '[1, 2]' --timeout 10000
  delayed enqueue report --queue jobs --args '["weekly"]' --delay 30s`,
  options: {
    ...QUEUE_COMMON,
    queue: { type: 'string' },
    args: { type: 'string' },
    timeout: { type: 'string' },
    'max-attempts': { type: 'string' },
    delay: { type: 'string' },
    retries: { type: 'string' },
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
    const retries = integer(values, 'retries', 0, 1000);
    const delayMs = values.delay === undefined ? undefined : duration(values.delay as string);
    const { queue, shown } = makeQueue(values);
    await reachRedis(queue, shown);
    let id: string;
    try {
      id = await queue.enqueue(task, args, {
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        ...(maxAttempts !== undefined ? { maxAttempts } : {}),
        ...(retries !== undefined ? { retries } : {}),
        ...(delayMs !== undefined ? { delayMs } : {}),
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
