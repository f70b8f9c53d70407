/** `delayed demo`: the command; the demo itself is in src/cli/demo/. */
import { COMMON, CommandError, EXIT, integer, redisUrl, write, type Command } from './args.ts';

export const demo: Command = {
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
    const { runDemo } = await import('./demo/run.ts');
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
