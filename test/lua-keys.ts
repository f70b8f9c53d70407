// The checker behind test/lua-keys.test.ts: a static check of Lua scripts for Redis Cluster. Every key a script
// touches must be passed in KEYS, so that the client can route the script to the node owning those keys (and
// all of a queue's keys share a slot). Each redis.call / redis.pcall is parsed: its command name must be a
// string literal listed below, and every argument in a key position of that command must be exactly
// `KEYS[n]` (n a number, a variable holding an index or arithmetic on those: the key is still one the caller
// passed), never a literal, an ARGV value, a variable holding a key or a concatenation. A command missing from
// the table is a problem: add it, with its key positions, on purpose.
import { fileURLToPath } from 'node:url';

export const LUA_DIR = fileURLToPath(new URL('../lua/', import.meta.url));

// ---- a small Lua 5.1 lexer: names, numbers, strings (values decoded), operators; comments dropped ----

interface Token {
  readonly type: 'name' | 'number' | 'string' | 'op';
  readonly text: string; // for strings: the decoded value
  readonly line: number;
}

const OPERATORS = ['...', '..', '==', '~=', '<=', '>=', '::'];

function longBracketLevel(src: string, at: number): number {
  // `[` `=`* `[` at `at`: returns the number of `=`, or -1 when it is not a long bracket.
  if (src[at] !== '[') return -1;
  let i = at + 1;
  while (src[i] === '=') i++;
  return src[i] === '[' ? i - at - 1 : -1;
}

export function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  const fail = (why: string): never => {
    throw new Error(`Lua lexer: ${why} at line ${line}`);
  };
  const skipLong = (level: number): string => {
    // at the opening long bracket; returns its content and moves past the closing one
    const open = i;
    const close = `]${'='.repeat(level)}]`;
    const end = src.indexOf(close, open + level + 2);
    if (end < 0) fail('unclosed long bracket');
    let content = src.slice(open + level + 2, end);
    line += (src.slice(open, end).match(/\n/g) ?? []).length;
    i = end + close.length;
    if (content.startsWith('\r\n')) content = content.slice(2);
    else if (content.startsWith('\n')) content = content.slice(1);
    return content;
  };
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\n') {
      line++;
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (src.startsWith('--', i)) {
      i += 2;
      const level = longBracketLevel(src, i);
      if (level >= 0) skipLong(level);
      else while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '"' || c === "'") {
      const start = line;
      let value = '';
      i++;
      for (;;) {
        if (i >= src.length || src[i] === '\n') fail('unfinished string');
        const d = src[i]!;
        if (d === c) {
          i++;
          break;
        }
        if (d === '\\') {
          const e = src[i + 1] ?? '';
          const simple: Record<string, string> = {
            n: '\n',
            t: '\t',
            r: '\r',
            a: '\x07',
            b: '\b',
            f: '\f',
            v: '\v',
            '\\': '\\',
            '"': '"',
            "'": "'",
            '\n': '\n',
          };
          if (e in simple) {
            value += simple[e];
            if (e === '\n') line++;
            i += 2;
          } else if (/\d/.test(e)) {
            const digits = /^\d{1,3}/.exec(src.slice(i + 1))![0];
            value += String.fromCharCode(Number(digits));
            i += 1 + digits.length;
          } else {
            fail(`unknown escape \\${e}`);
          }
        } else {
          value += d;
          i++;
        }
      }
      tokens.push({ type: 'string', text: value, line: start });
    } else if (longBracketLevel(src, i) >= 0) {
      const start = line;
      tokens.push({ type: 'string', text: skipLong(longBracketLevel(src, i)), line: start });
    } else if (/[A-Za-z_]/.test(c)) {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))![0];
      tokens.push({ type: 'name', text: name, line });
      i += name.length;
    } else if (/\d/.test(c) || (c === '.' && /\d/.test(src[i + 1] ?? ''))) {
      const number = /^(0[xX][0-9a-fA-F]+|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)/.exec(src.slice(i))![0];
      tokens.push({ type: 'number', text: number, line });
      i += number.length;
    } else {
      const op = OPERATORS.find((o) => src.startsWith(o, i)) ?? c;
      if (op.length === 1 && !'+-*/%^#<>=(){}[];:,.'.includes(op)) fail(`unexpected character ${JSON.stringify(op)}`);
      tokens.push({ type: 'op', text: op, line });
      i += op.length;
    }
  }
  return tokens;
}

// ---- redis.call / redis.pcall and their arguments ----

interface Call {
  readonly fn: string; // 'redis.call' or 'redis.pcall'
  readonly line: number;
  readonly args: Token[][]; // each argument's tokens
}

const OPENERS: Record<string, string> = { '(': ')', '{': '}', '[': ']' };

/** Every redis.call / redis.pcall with its arguments; throws when one is used in any other way. */
export function findCalls(tokens: readonly Token[]): Call[] {
  const calls: Call[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.type !== 'name' || t.text !== 'redis') continue;
    const dot = tokens[i + 1];
    const member = tokens[i + 2];
    if (dot?.text !== '.' || member?.type !== 'name' || (member.text !== 'call' && member.text !== 'pcall')) continue;
    const fn = `redis.${member.text}`;
    if (tokens[i + 3]?.text !== '(')
      throw new Error(`line ${t.line}: ${fn} is used other than as a call with parentheses, so its arguments cannot be checked`);
    const args: Token[][] = [];
    let current: Token[] = [];
    const stack: string[] = [];
    let j = i + 4;
    for (; j < tokens.length; j++) {
      const u = tokens[j]!;
      if (stack.length === 0 && u.type === 'op' && u.text === ')') break;
      if (stack.length === 0 && u.type === 'op' && u.text === ',') {
        args.push(current);
        current = [];
        continue;
      }
      if (u.type === 'op' && u.text in OPENERS) stack.push(OPENERS[u.text]!);
      else if (u.type === 'op' && (u.text === ')' || u.text === '}' || u.text === ']')) {
        if (stack.pop() !== u.text) throw new Error(`line ${u.line}: unbalanced ${u.text} in the arguments of ${fn}`);
      }
      current.push(u);
    }
    if (j >= tokens.length) throw new Error(`line ${t.line}: ${fn}( is never closed`);
    if (current.length > 0 || args.length > 0) args.push(current);
    if (args.some((a) => a.length === 0)) throw new Error(`line ${t.line}: an empty argument in ${fn}`);
    calls.push({ fn, line: t.line, args });
    i = j;
  }
  return calls;
}

// ---- which arguments of each command are keys ----

// Positions count the arguments after the command name, from 1.
type KeySpec =
  | { readonly kind: 'none' }
  | { readonly kind: 'fixed'; readonly positions: readonly number[] }
  // from `first`, every `step`-th argument, up to the last but `skipLast` arguments
  | { readonly kind: 'range'; readonly first: number; readonly step: number; readonly skipLast: number };

const none: KeySpec = { kind: 'none' };
const fixed = (...positions: number[]): KeySpec => ({ kind: 'fixed', positions });
const range = (first: number, step: number, skipLast: number): KeySpec => ({ kind: 'range', first, step, skipLast });

const KEY_SPECS: Record<string, KeySpec> = {
  TIME: none,
  // one key, first
  ...Object.fromEntries(
    [
      'GET',
      'SET',
      'SETNX',
      'SETEX',
      'PSETEX',
      'GETSET',
      'GETDEL',
      'GETEX',
      'INCR',
      'INCRBY',
      'DECR',
      'DECRBY',
      'APPEND',
      'STRLEN',
      'EXPIRE',
      'PEXPIRE',
      'EXPIREAT',
      'PEXPIREAT',
      'TTL',
      'PTTL',
      'PERSIST',
      'TYPE',
      'LPUSH',
      'RPUSH',
      'LPUSHX',
      'RPUSHX',
      'LPOP',
      'RPOP',
      'LLEN',
      'LRANGE',
      'LTRIM',
      'LREM',
      'LINDEX',
      'LSET',
      'LINSERT',
      'LPOS',
      'HSET',
      'HSETNX',
      'HGET',
      'HMGET',
      'HMSET',
      'HDEL',
      'HGETALL',
      'HKEYS',
      'HVALS',
      'HLEN',
      'HEXISTS',
      'HINCRBY',
      'SADD',
      'SREM',
      'SISMEMBER',
      'SMEMBERS',
      'SCARD',
      'SPOP',
      'ZADD',
      'ZREM',
      'ZSCORE',
      'ZMSCORE',
      'ZINCRBY',
      'ZCARD',
      'ZCOUNT',
      'ZRANK',
      'ZREVRANK',
      'ZRANGE',
      'ZREVRANGE',
      'ZRANGEBYSCORE',
      'ZREVRANGEBYSCORE',
      'ZREMRANGEBYSCORE',
      'ZREMRANGEBYRANK',
      'ZPOPMIN',
      'ZPOPMAX',
      'XADD',
      'XLEN',
      'XRANGE',
      'XDEL',
      'XTRIM',
    ].map((name) => [name, fixed(1)]),
  ),
  // two keys: source and destination
  LMOVE: fixed(1, 2),
  BLMOVE: fixed(1, 2),
  RPOPLPUSH: fixed(1, 2),
  BRPOPLPUSH: fixed(1, 2),
  SMOVE: fixed(1, 2),
  RENAME: fixed(1, 2),
  RENAMENX: fixed(1, 2),
  COPY: fixed(1, 2),
  ZRANGESTORE: fixed(1, 2),
  // every argument a key
  DEL: range(1, 1, 0),
  UNLINK: range(1, 1, 0),
  EXISTS: range(1, 1, 0),
  MGET: range(1, 1, 0),
  TOUCH: range(1, 1, 0),
  // keys then a timeout
  BLPOP: range(1, 1, 1),
  BRPOP: range(1, 1, 1),
  // key value key value ...
  MSET: range(1, 2, 0),
  MSETNX: range(1, 2, 0),
};

// `KEYS[n]`, or `KEYS[<arithmetic>]` (an index computed from numbers and names, as for keys passed in pairs).
const isKeysRef = (arg: readonly Token[]): boolean => {
  if (arg.length < 4 || arg[0]!.type !== 'name' || arg[0]!.text !== 'KEYS' || arg[1]!.text !== '[' || arg.at(-1)!.text !== ']')
    return false;
  const index = arg.slice(2, -1);
  if (index.length === 1) return (index[0]!.type === 'number' && /^[1-9]\d*$/.test(index[0]!.text)) || index[0]!.type === 'name';
  return index.every((t) => t.type === 'number' || t.type === 'name' || ['+', '-', '*', '(', ')'].includes(t.text));
};

/** A parameter of a lib.lua helper that stands for a key: `key`, or a name ending in `_key`. */
export const isKeyParam = (name: string): boolean => name === 'key' || name.endsWith('_key');

/**
 * The helpers of lua/lib.lua that take keys: `local function NAME(...)` with key parameters (`isKeyParam`).
 * Their bodies may pass those where a key goes; every call of one must pass `KEYS[...]` there
 * (`helperKeyProblems`). Returns helper name -> the key parameters' positions (from 0).
 */
export function keyHelpers(libSrc: string): Map<string, number[]> {
  const tokens = tokenize(libSrc);
  const found = new Map<string, number[]>();
  for (let i = 0; i + 3 < tokens.length; i++) {
    if (tokens[i]!.text !== 'local' || tokens[i + 1]!.text !== 'function' || tokens[i + 3]!.text !== '(') continue;
    const params: string[] = [];
    for (let j = i + 4; j < tokens.length && tokens[j]!.text !== ')'; j++) if (tokens[j]!.type === 'name') params.push(tokens[j]!.text);
    const at = params.flatMap((p, n) => (isKeyParam(p) ? [n] : []));
    if (at.length > 0) found.set(tokens[i + 2]!.text, at);
  }
  return found;
}

/**
 * Calls of key-taking helpers (see `keyHelpers`) whose key argument is not `KEYS[...]`. `keyParam`: names that
 * stand for a key there too (in lib.lua, a helper passing its own key parameter on to another helper).
 */
export function helperKeyProblems(
  src: string,
  helpers: ReadonlyMap<string, readonly number[]>,
  keyParam: (name: string) => boolean = () => false,
): string[] {
  const tokens = tokenize(src);
  const found: string[] = [];
  for (let i = 0; i + 1 < tokens.length; i++) {
    const t = tokens[i]!;
    const at = helpers.get(t.text);
    if (at === undefined || t.type !== 'name' || tokens[i + 1]!.text !== '(' || tokens[i - 1]?.text === 'function') continue;
    const args: Token[][] = [[]];
    const stack: string[] = [];
    for (let j = i + 2; j < tokens.length; j++) {
      const u = tokens[j]!;
      if (stack.length === 0 && u.text === ')') break;
      if (stack.length === 0 && u.text === ',') {
        args.push([]);
        continue;
      }
      if (u.text in OPENERS) stack.push(OPENERS[u.text]!);
      else if (u.text === ')' || u.text === '}' || u.text === ']') stack.pop();
      args.at(-1)!.push(u);
    }
    for (const n of at) {
      const arg = args[n];
      if (!arg || !(isKeysRef(arg) || (arg.length === 1 && arg[0]!.type === 'name' && keyParam(arg[0]!.text))))
        found.push(`line ${t.line}: ${t.text}: key argument ${n + 1} is ${arg ? show(arg) : 'missing'}, not KEYS[...]`);
    }
  }
  return found;
}

// The last argument of a call expands to several values when it is a call or `...`.
const mayExpand = (arg: readonly Token[]): boolean => arg.at(-1)?.text === ')' || (arg.length === 1 && arg[0]!.text === '...');

const show = (arg: readonly Token[]): string => arg.map((t) => (t.type === 'string' ? JSON.stringify(t.text) : t.text)).join(' ');

/**
 * What is wrong with the calls of one script ([] when nothing). `keyParams`: names that stand for a key
 * (lib.lua's helpers' key parameters, `isKeyParam`, checked at their call sites instead).
 */
export function problems(src: string, keyParams: (name: string) => boolean = () => false): string[] {
  const tokens = tokenize(src);
  const found: string[] = [];
  let calls: Call[];
  try {
    calls = findCalls(tokens);
  } catch (error) {
    return [(error as Error).message];
  }
  for (const call of calls) {
    const where = `line ${call.line}: ${call.fn}`;
    const [name, ...rest] = call.args;
    if (name?.length !== 1 || name[0]!.type !== 'string') {
      found.push(`${where}: the command is not a string literal (${name ? show(name) : 'nothing'})`);
      continue;
    }
    const command = name[0]!.text.toUpperCase();
    const spec = KEY_SPECS[command];
    if (!spec) {
      found.push(`${where}: unknown command ${command}: add it and its key positions to KEY_SPECS`);
      continue;
    }
    const expands = rest.length > 0 && mayExpand(rest.at(-1)!);
    let positions: number[];
    if (spec.kind === 'none') positions = [];
    else if (spec.kind === 'fixed') positions = [...spec.positions];
    else {
      if (expands) {
        found.push(`${where} ${command}: the key arguments end in ${show(rest.at(-1)!)}, which may expand to any number of values`);
        continue;
      }
      positions = [];
      for (let p = spec.first; p <= rest.length - spec.skipLast; p += spec.step) positions.push(p);
      if (positions.length === 0) found.push(`${where} ${command}: no key argument`);
    }
    for (const p of positions) {
      const arg = rest[p - 1];
      if (!arg || (expands && p >= rest.length)) {
        found.push(
          `${where} ${command}: key argument ${p} is ${arg ? `${show(arg)}, which may expand to any number of values` : 'missing'}`,
        );
      } else if (arg.some((t) => t.type === 'op' && t.text === '..')) {
        found.push(`${where} ${command}: key argument ${p} builds a key name by concatenation: ${show(arg)}`);
      } else if (!isKeysRef(arg) && !(arg.length === 1 && arg[0]!.type === 'name' && keyParams(arg[0]!.text))) {
        found.push(`${where} ${command}: key argument ${p} is ${show(arg)}, not KEYS[n]`);
      }
    }
  }
  return found;
}

/** Concatenations with a KEYS element anywhere in a script (a key name built from a key, whatever it feeds). */
export function keyConcatenations(src: string): string[] {
  const tokens = tokenize(src);
  const found: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i]!.text !== '..') continue;
    const before = tokens.slice(Math.max(0, i - 4), i);
    const after = tokens.slice(i + 1, i + 5);
    if (isKeysRef(before) || isKeysRef(after) || tokens[i + 1]?.text === 'KEYS') {
      found.push(`line ${tokens[i]!.line}: ${show([...before, tokens[i]!, ...after])}`);
    }
  }
  return found;
}
