/**
 * What the commands of `delayed` share: the exit codes, the flags every queue command takes (one table: how
 * parseArgs reads each, and its line in the help), the checks of values given on the command line, the
 * Redis URL check, and reaching Redis before starting.
 */
import { checkRedisSource } from '../redis-source.ts';
import { DelayedError } from '../errors.ts';
import { MAX_PARTITIONS } from '../keys.ts';
import { Queue, type LogLevel } from '../index.ts';

export const EXIT = { ok: 0, failed: 1, usage: 2, redis: 3, tasks: 4 } as const;

/** A command-line failure: what to say, the process exit code, and a hint a person can act on. */
export class CommandError extends DelayedError {
  readonly exitCode: number;
  readonly hint: string | undefined;
  constructor(message: string, exitCode: number, hint?: string) {
    super('ERR_COMMAND', message);
    this.exitCode = exitCode;
    this.hint = hint;
  }
}

export type OptionSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean };

export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly options: Record<string, OptionSpec>;
  readonly positionals?: number;
  run(values: Values, positionals: string[]): Promise<number>;
}

export const write = (text: string) => process.stdout.write(text);

/** One line of a command's option list: the flag, then what it does (continuation lines line up under it). */
export function helpRow(flag: string, text: string): string {
  return `  ${flag.padEnd(19)}  ${text.split('\n').join(`\n${' '.repeat(23)}`)}`;
}

interface SharedFlag extends OptionSpec {
  readonly flag: string;
  readonly help: string;
}

/** The flags of every command that opens a queue (worker, sweeper, enqueue, status, dashboard), in help order. */
const SHARED = {
  redis: {
    type: 'string',
    flag: '--redis URL',
    help: 'Redis to use (default: $REDIS_URL, else redis://127.0.0.1:6379); a cluster:\nredis+cluster://host:port,host:port; Sentinel: redis+sentinel://host:port,host:port/name',
  },
  prefix: { type: 'string', flag: '--prefix PREFIX', help: 'first part of every key (default: delayed)' },
  partitions: {
    type: 'string',
    flag: '--partitions N',
    help: "the queue's partitions, the same for all its processes (default: $DELAYED_PARTITIONS, else 1)",
  },
  'wait-for-replicas': {
    type: 'string',
    flag: '--wait-for-replicas N',
    help: 'replicas that must confirm each enqueue and finished task (default 0: do not wait)',
  },
  help: { type: 'boolean', short: 'h', flag: '-h, --help', help: 'show this help' },
} satisfies Record<string, SharedFlag>;

function specs(names: readonly (keyof typeof SHARED)[]): Record<string, OptionSpec> {
  return Object.fromEntries(
    names.map((name) => {
      const { flag: _flag, help: _help, ...spec } = SHARED[name] as SharedFlag;
      return [name, spec];
    }),
  );
}

/** --redis, --prefix and -h: what every command takes (the demo too). */
export const COMMON = specs(['redis', 'prefix', 'help']);

/** COMMON plus --partitions and --wait-for-replicas: what every command that opens a queue takes. */
export const QUEUE_COMMON = specs(['redis', 'prefix', 'partitions', 'wait-for-replicas', 'help']);

/** The help lines of QUEUE_COMMON. */
export const COMMON_HELP = Object.values(SHARED)
  .map((f: SharedFlag) => helpRow(f.flag, f.help))
  .join('\n');

export function redisUrl(given: string | undefined): { url: string; shown: string } {
  const fromEnv = given === undefined && process.env.REDIS_URL !== undefined && process.env.REDIS_URL !== '';
  const raw = given ?? (fromEnv ? (process.env.REDIS_URL as string) : 'redis://127.0.0.1:6379');
  const where = given !== undefined ? '--redis' : 'REDIS_URL';
  const expected =
    'expected redis://[[user]:password@]host[:port][/db], rediss://…, redis+cluster://host:port,host:port or redis+sentinel://host:port,host:port/name, e.g. redis://127.0.0.1:6379';
  if (/^rediss?\+(cluster|sentinel):/.test(raw)) {
    try {
      checkRedisSource(raw);
    } catch (err) {
      throw new CommandError(
        `${where}: ${(err as Error).message.replace(/^Expected `redis` to be .*?, got /, 'not a Redis URL: ')}; ${expected}`,
        EXIT.usage,
      );
    }
    return { url: raw, shown: redact(raw) };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CommandError(`${where}: ${JSON.stringify(raw)} is not a Redis URL: ${expected}`, EXIT.usage);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new CommandError(
      `${where}: ${JSON.stringify(redact(raw))} is not a Redis URL (the scheme is ${url.protocol.replace(/:$/, '')}): ${expected}`,
      EXIT.usage,
    );
  }
  if (url.hostname === '') throw new CommandError(`${where}: ${JSON.stringify(redact(raw))} names no host: ${expected}`, EXIT.usage);
  if (!/^\/?(\d{1,2})?$/.test(url.pathname)) {
    throw new CommandError(
      `${where}: ${JSON.stringify(redact(raw))}: the database after the host must be a number (like /0), got ${JSON.stringify(url.pathname)}`,
      EXIT.usage,
    );
  }
  return { url: raw, shown: redact(raw) };
}

/** The URL without its password, for messages. */
function redact(raw: string): string {
  if (/^rediss?\+/.test(raw))
    return raw.replace(/^([^:]+:\/\/)([^@/]*:)?[^@/]*@/, (_, scheme: string, user: string | undefined) => `${scheme}${user ?? ''}***@`);
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.toString().replace(/\/$/, '');
  } catch {
    return raw;
  }
}

export function queueName(values: Record<string, unknown>, required = true): string | undefined {
  const name = (values.queue as string | undefined) ?? (process.env.DELAYED_QUEUE || undefined);
  if (name === undefined && required) throw new CommandError('--queue NAME is required (or set DELAYED_QUEUE)', EXIT.usage);
  return name;
}

export function integer(values: Record<string, unknown>, option: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const raw = values[option];
  if (raw === undefined) return undefined;
  const text = String(raw);
  if (!/^-?\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
    throw new CommandError(`--${option}: expected a whole number ${range}, got ${JSON.stringify(text)}`, EXIT.usage);
  }
  return Number(text);
}

/**
 * --partitions and --wait-for-replicas (or $DELAYED_PARTITIONS), as queue options. The replica limit (100) is
 * a literal in src/queue.ts; it is repeated here for the message.
 */
export function scaleOptions(values: Record<string, unknown>): { partitions?: number; waitForReplicas?: number } {
  const fromEnv = values.partitions === undefined && process.env.DELAYED_PARTITIONS ? { partitions: process.env.DELAYED_PARTITIONS } : {};
  const partitions = integer({ ...values, ...fromEnv }, 'partitions', 1, MAX_PARTITIONS);
  const replicas = integer(values, 'wait-for-replicas', 0, 100);
  return { ...(partitions !== undefined ? { partitions } : {}), ...(replicas !== undefined ? { waitForReplicas: replicas } : {}) };
}

/** A Queue from --queue, --redis, --prefix and the scale options; option errors are usage errors. */
export function makeQueue(
  values: Record<string, unknown>,
  extra: { deadLetters?: number; defaultTimeoutMs?: number } = {},
): { queue: Queue; shown: string } {
  const name = queueName(values) as string;
  const { url, shown } = redisUrl(values.redis as string | undefined);
  try {
    const queue = new Queue({
      name,
      redis: url,
      ...(values.prefix !== undefined ? { prefix: values.prefix as string } : {}),
      ...scaleOptions(values),
      ...extra,
    });
    return { queue, shown };
  } catch (err) {
    throw new CommandError(optionMessage(err as Error), EXIT.usage);
  }
}

/** The library's option messages name its options (`name`); say them the way the command line does. */
export function optionMessage(err: Error): string {
  return err.message
    .replace('`name`', '--queue')
    .replace('`prefix`', '--prefix')
    .replace('`deadLetters`', '--dead-letters')
    .replace('`concurrency`', '--concurrency')
    .replace('`leaseMs`', '--lease-ms')
    .replace('`timeoutMs`', '--timeout')
    .replace('`maxAttempts`', '--max-attempts');
}

/** Fails fast, with the reason, when Redis cannot be reached (the workers themselves would retry forever). */
export async function reachRedis(queue: Queue, shown: string): Promise<void> {
  const redis = queue.redis;
  let lastError: Error | undefined;
  redis.on('error', (err: Error) => {
    lastError = err;
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5000);
      }),
    ]);
  } catch (err) {
    await queue.close();
    const reason = (lastError ?? (err as Error)).message;
    const hint = /WRONGPASS|invalid password|invalid username/i.test(reason)
      ? 'Redis refused the user or password in the URL: check them (redis://user:PASSWORD@host:6379).'
      : /NOAUTH/i.test(reason)
        ? 'Redis wants a password: give it in the URL, redis://:PASSWORD@host:6379 (or user:PASSWORD@).'
        : 'Is redis-server running there? Give its URL with --redis or REDIS_URL.';
    throw new CommandError(`cannot reach Redis at ${shown}: ${reason}`, EXIT.redis, hint);
  } finally {
    clearTimeout(timer);
  }
}

export function logLevel(values: Record<string, unknown>, fallback: LogLevel): LogLevel {
  const level = (values['log-level'] as string | undefined) ?? fallback;
  if (!['debug', 'info', 'warn', 'error', 'silent'].includes(level)) {
    throw new CommandError(`--log-level: expected debug, info, warn, error or silent, got ${JSON.stringify(level)}`, EXIT.usage);
  }
  return level as LogLevel;
}
