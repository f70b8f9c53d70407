/**
 * The Lua scripts of issue 12 (run later, retries, schedules), loaded and called as `src/scripts.ts` does its
 * own: by SHA, with the full text after a NOSCRIPT (a restart, a failover, SCRIPT FLUSH). Kept apart from
 * `src/scripts.ts` while the worker is being restructured; they move into its list when that lands.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { guard, type Client } from './connection.ts';

const NAMES = ['schedule', 'promote', 'retry', 'schedule-set', 'unschedule', 'fire', 'schedule-done'] as const;
export type TimeScriptName = (typeof NAMES)[number];

const LUA_DIR = new URL('../lua/', import.meta.url);

const scripts = Object.fromEntries(
  NAMES.map((name) => {
    const source = readFileSync(new URL(`${name}.lua`, LUA_DIR), 'utf8');
    return [name, { source, sha: createHash('sha1').update(source).digest('hex') }];
  }),
) as Record<TimeScriptName, { source: string; sha: string }>;

export type TimeScriptArg = string | number | Buffer;

/** The SHA and text of a script, for pipelines (which must handle NOSCRIPT per command themselves). */
export function timeScript(name: TimeScriptName): { readonly source: string; readonly sha: string } {
  return scripts[name];
}

/** True for the error a server gives when it does not know a script (the command did not run). */
export function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

/** Calls a script without the connection's reply watchdog: for callers that wrap it (`send`). */
export async function callTimeScript(
  redis: Client,
  name: TimeScriptName,
  keys: readonly string[],
  args: readonly TimeScriptArg[],
): Promise<unknown> {
  const script = scripts[name];
  try {
    return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (isNoScript(err)) return await redis.eval(script.source, keys.length, ...keys, ...args);
    throw err;
  }
}

/** Runs one of these scripts with its keys and arguments; the reply is whatever the script returns. */
export function runTimeScript(
  redis: Client,
  name: TimeScriptName,
  keys: readonly string[],
  args: readonly TimeScriptArg[],
): Promise<unknown> {
  return guard(redis, callTimeScript(redis, name, keys, args));
}
