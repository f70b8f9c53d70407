/**
 * The Lua scripts in `lua/`, loaded once and called by SHA. A server that does not know a script yet
 * (a restart, a failover, SCRIPT FLUSH) answers NOSCRIPT, and the call is sent again with the full text.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { guard, type Client } from './connection.ts';

const NAMES = ['register', 'renew', 'dequeue', 'requeue', 'fail', 'sweep', 'recover'] as const;
export type ScriptName = (typeof NAMES)[number];

interface Script {
  readonly source: string;
  readonly sha: string;
}

const LUA_DIR = new URL('../lua/', import.meta.url);

function load(name: ScriptName): Script {
  const source = readFileSync(new URL(`${name}.lua`, LUA_DIR), 'utf8');
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const scripts = Object.fromEntries(NAMES.map((n) => [n, load(n)])) as Record<ScriptName, Script>;

export type ScriptArg = string | number | Buffer;

/** Runs a script with its keys and arguments; the reply is whatever the script returns. */
export async function runScript(redis: Client, name: ScriptName, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown> {
  const script = scripts[name];
  try {
    return await guard(redis, redis.evalsha(script.sha, keys.length, ...keys, ...args));
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('NOSCRIPT')) {
      return await guard(redis, redis.eval(script.source, keys.length, ...keys, ...args));
    }
    throw err;
  }
}

/** Like `runScript`, with strings in the reply as raw bytes (Buffers): for replies that carry entries. */
export async function runScriptBuffer(
  redis: Client,
  name: ScriptName,
  keys: readonly string[],
  args: readonly ScriptArg[],
): Promise<unknown> {
  const script = scripts[name];
  try {
    return await guard(redis, redis.callBuffer('EVALSHA', script.sha, keys.length, ...keys, ...args));
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('NOSCRIPT')) {
      return await guard(redis, redis.callBuffer('EVAL', script.source, keys.length, ...keys, ...args));
    }
    throw err;
  }
}

/** The source of a script, for tests and tools. */
export function scriptSource(name: ScriptName): string {
  return scripts[name].source;
}
