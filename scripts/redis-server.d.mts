export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** The server's folder (removed by crash() and stop()). */
  readonly dir: string;
  /** The server's process id (a new one after restart()). */
  readonly pid: number | undefined;
  /** Sends a signal to the server process (e.g. SIGSTOP, SIGCONT). */
  signal(signal: NodeJS.Signals): void;
  /** kill -9, and waits for the exit; the folder stays (an AOF in it survives for restart()). */
  kill9(): Promise<void>;
  /** Starts the server again on the same port with the same folder and arguments (after kill9()). */
  restart(): Promise<void>;
  /** Kills the server at once (no save), as a crash would, and removes its folder. */
  crash(): Promise<void>;
  /** SIGTERM (SIGKILL after 3 s), then removes its folder. */
  stop(): Promise<void>;
}
export interface StartRedisOptions {
  /** A config file passed before every other argument (the server may rewrite it, as Sentinel does). */
  readonly configFile?: string;
  /** Run Sentinel: `redis-sentinel`, or `redis-server --sentinel` where that command is missing. */
  readonly sentinel?: boolean;
  /** SIGKILL the server when this process exits while it still runs. */
  readonly killOnExit?: boolean;
  /** The server's folder (created if missing); default: a fresh temporary folder. */
  readonly dir?: string;
  /** The command to run instead of redis-server (or redis-sentinel). */
  readonly binary?: string;
  /** How long each start may take until the server answers PING (default 10 000 ms). */
  readonly startTimeoutMs?: number;
}
export function hasRedisServer(): boolean;
export function hasRedisSentinel(): boolean;
export function freePort(): Promise<number>;
export function startRedis(extraArgs?: readonly string[], port?: number, options?: StartRedisOptions): Promise<RedisServer>;

/** Runs `hook` (synchronously) when the process exits; returns a function that cancels it. */
export function atExit(hook: () => void): () => void;

/** An error reply from Redis: `message` is the reply's text (`ERR ...`, `MOVED 42 127.0.0.1:7000`). */
export class RedisReplyError extends Error {
  constructor(message: string);
}
export type RedisReply = string | Buffer | number | null | RedisReplyError | RedisReply[];
export interface RedisCommandOptions {
  readonly host?: string;
  readonly timeoutMs?: number;
  /** Bulk strings as Buffers instead of UTF-8 strings. */
  readonly buffers?: boolean;
}
/** One command on a fresh connection; an error reply rejects with RedisReplyError. */
export function redisCommand(port: number, args: readonly (string | number | Buffer)[], options?: RedisCommandOptions): Promise<RedisReply>;
/** INFO's `field:value` lines as an object. */
export function parseInfo(text: unknown): Record<string, string>;
/** Polls `check` until it returns something other than undefined / false / null; rejects after `timeoutMs`. */
export function pollUntil<T>(
  what: string,
  check: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  options?: { readonly timeoutMs?: number; readonly everyMs?: number },
): Promise<T>;
