/**
 * The Lua scripts in `lua/`, loaded once and called by SHA. Each is sent as `lua/lib.lua` (the shared helpers)
 * followed by the script's own text. A server that does not know a script yet (a restart, a failover,
 * SCRIPT FLUSH) answers NOSCRIPT, and the call is sent again with the full text.
 * Callers use the typed functions of `src/store.ts`, not these.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Client, guard } from './connection.ts';

/** Every script, by the name of its file in `lua/` (without `.lua`). */
export const SCRIPT_NAMES = [
  'register',
  'renew',
  'dequeue',
  'dequeue-levels',
  'push',
  'rate',
  'requeue',
  'fail',
  'sweep',
  'recover',
  'dead-requeue',
  'dead-delete',
  'schedule',
  'promote',
  'run-now',
  'retry',
  'schedule-set',
  'unschedule',
  'fire',
  'schedule-done',
  'cancel',
  'finish',
  'unique',
  'unique-release',
  'limit',
  'sem-acquire',
  'sem-release',
  'put-back',
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

interface Script {
  readonly source: string;
  readonly sha: string;
}

const LUA_DIR = new URL('../lua/', import.meta.url);
const PRELUDE = readFileSync(new URL('lib.lua', LUA_DIR), 'utf8');

function load(name: ScriptName): Script {
  const source = PRELUDE + readFileSync(new URL(`${name}.lua`, LUA_DIR), 'utf8');
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const scripts = Object.fromEntries(SCRIPT_NAMES.map((n) => [n, load(n)])) as Record<ScriptName, Script>;

export type ScriptArg = string | number | Buffer;

/**
 * Runs a script with its keys and arguments; the reply is whatever the script returns. With `bytes`, strings
 * in the reply come as raw bytes (Buffers): for replies that carry entries, which need not be UTF-8.
 */
export async function runScript(
  redis: Client,
  name: ScriptName,
  keys: readonly string[],
  args: readonly ScriptArg[],
  reply: 'text' | 'bytes' = 'text',
): Promise<unknown> {
  const script = scripts[name];
  const send = (command: 'EVALSHA' | 'EVAL', body: string) =>
    guard(
      redis,
      reply === 'bytes'
        ? redis.callBuffer(command, body, keys.length, ...keys, ...args)
        : redis.call(command, body, keys.length, ...keys, ...args),
    );
  try {
    return await send('EVALSHA', script.sha);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return await send('EVAL', script.source);
    throw err;
  }
}

/** The SHA of a script as sent, for pipelines (which resend a NOSCRIPT command with `scriptSource` themselves). */
export function scriptSha(name: ScriptName): string {
  return scripts[name].sha;
}

/** True for the error a server gives when it does not know a script (the command did not run). */
export function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

/** The source of a script as sent (prelude included), for tests and tools. */
export function scriptSource(name: ScriptName): string {
  return scripts[name].source;
}
