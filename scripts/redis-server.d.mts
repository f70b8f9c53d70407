export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** The server's process id. */
  readonly pid: number | undefined;
  crash(): Promise<void>;
  stop(): Promise<void>;
}
export interface StartRedisOptions {
  /** A config file passed before every other argument (the server may rewrite it, as Sentinel does). */
  readonly configFile?: string;
  /** Run Sentinel: `redis-sentinel`, or `redis-server --sentinel` where that command is missing. */
  readonly sentinel?: boolean;
  /** SIGKILL the server when this process exits while it still runs. */
  readonly killOnExit?: boolean;
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
