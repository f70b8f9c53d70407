// A static check of lua/*.lua for Redis Cluster: every key a script touches must be passed in KEYS, so that
// the client can route the script to the node owning those keys (and all of a queue's keys share a slot).
// Each redis.call / redis.pcall is parsed: its command name must be a string literal listed below, and every
// argument in a key position of that command must be exactly `KEYS[n]`, never a literal, an ARGV value, a
// variable or a concatenation. A command missing from the table fails the test: add it, with its key
// positions, on purpose.
// The checker itself is in test/lua-keys.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { findCalls, helperKeyProblems, isKeyParam, keyConcatenations, keyHelpers, LUA_DIR, problems, tokenize } from './lua-keys.ts';

const scripts = readdirSync(LUA_DIR)
  .filter((f) => f.endsWith('.lua'))
  .sort()
  .map((file) => ({ file, src: readFileSync(`${LUA_DIR}${file}`, 'utf8') }));

// lib.lua's helpers that take a key (a parameter named `key`): checked where they are called.
const helpers = keyHelpers(scripts.find((s) => s.file === 'lib.lua')?.src ?? '');

test('there are Lua scripts, and each makes at least one redis.call (or key-taking helper call) the checker sees', () => {
  assert.ok(scripts.length >= 7, `expected the 7 scripts, found ${scripts.map((s) => s.file).join(', ')}`);
  for (const { file, src } of scripts) {
    const calls = findCalls(tokenize(src));
    const viaHelper = [...helpers.keys()].some((name) => new RegExp(`\\b${name}\\s*\\(`).test(src.replace(/--.*$/gm, '')));
    assert.ok(calls.length > 0 || viaHelper, `${file}: no redis.call found`);
    // Every textual occurrence is one the parser understood (none hidden behind an odd spelling).
    const textual = (src.replace(/--.*$/gm, '').match(/redis\s*\.\s*p?call/g) ?? []).length;
    assert.equal(calls.length, textual, `${file}: ${textual} redis.call/pcall in the text, ${calls.length} parsed`);
  }
});

test('lib.lua has the key-taking helpers the scripts call', () => {
  assert.deepEqual([...helpers.keys()].sort(), ['end_writes', 'gcra_charge', 'gcra_room', 'keep_outcome', 'release_unique']);
});

for (const { file, src } of scripts) {
  test(`lua/${file}: every key argument of every redis.call (and of every key-taking helper) is KEYS[n]`, () => {
    assert.deepEqual(problems(src, file === 'lib.lua' ? isKeyParam : undefined), []);
    assert.deepEqual(helperKeyProblems(src, helpers, file === 'lib.lua' ? isKeyParam : undefined), []);
  });
  test(`lua/${file}: no key name is built by concatenation`, () => {
    assert.deepEqual(keyConcatenations(src), []);
  });
}

test('the checker catches what it is there to catch', () => {
  const bad: Record<string, string> = {
    literal: "redis.call('GET', 'delayed:{q}:waiting')",
    argv: "redis.call('LPUSH', ARGV[1], 'x')",
    variable: "local k = KEYS[1]\nredis.call('LLEN', k)",
    concatenation: "redis.call('GET', KEYS[1] .. ':x')",
    concatenationBefore: "redis.call('GET', 'x:' .. KEYS[1])",
    secondKey: "redis.call('LMOVE', KEYS[1], ARGV[1], 'RIGHT', 'LEFT')",
    secondKeyBlocking: "redis.call('BLMOVE', KEYS[1], 'other', 'RIGHT', 'LEFT', 1)",
    rpoplpush: "redis.pcall('RPOPLPUSH', KEYS[1], KEYS[2] .. 'x')",
    zrangebyscore: "redis.call('ZRANGEBYSCORE', ARGV[2], '-inf', 1)",
    unknownCommand: "redis.call('SUNIONSTORE', KEYS[1], KEYS[2])",
    dynamicCommand: 'redis.call(ARGV[1], KEYS[1])',
    expandedKeys: "redis.call('DEL', unpack(KEYS))",
    oneBadAmongMany: "redis.call('DEL', KEYS[1], KEYS[2], 'x')",
    msetValueIsFine_keyIsNot: "redis.call('MSET', KEYS[1], 'v', ARGV[1], 'w')",
    missingKey: "redis.call('GET')",
    keysZero: "redis.call('GET', KEYS[0])",
    aliased: "local call = redis.call\ncall('GET', 'x')",
    noParentheses: "redis.call'TIME'",
    commented: "--[[ redis.call('GET', KEYS[1]) ]] redis.call('GET', [[k]])",
  };
  for (const [what, src] of Object.entries(bad)) {
    assert.notDeepEqual(problems(src), [], `not caught: ${what}: ${src}`);
  }
  assert.notDeepEqual(keyConcatenations("local k = KEYS[1] .. ':x'"), []);
  assert.notDeepEqual(keyConcatenations("local k = 'x:' .. KEYS[2]"), []);

  const good = [
    "local t = redis.call('TIME')",
    "redis.call('LMOVE', KEYS[1], KEYS[3], 'RIGHT', 'LEFT')",
    "redis.call('LPUSH', KEYS[3], unpack(items))",
    "redis.call('LPUSH', KEYS[2], now .. '|' .. ARGV[2])",
    "redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', tonumber(ARGV[2]), 10)",
    "redis.pcall('DEL', KEYS[1], KEYS[2])",
    "redis.call('blmove', KEYS[1], KEYS[2], 'RIGHT', 'LEFT', 0) -- redis.call('GET', 'x')",
    "redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', math.max(1, tonumber(ARGV[1])))",
  ];
  for (const src of good) assert.deepEqual(problems(src), [], src);
  // Computed indexes (keys passed in pairs) are keys; a bare name is one only where it is a helper's key parameter.
  assert.deepEqual(problems("redis.call('DEL', KEYS[8 + 2 * rank])"), []);
  assert.notDeepEqual(problems("redis.call('DEL', KEYS[ARGV[1] .. 'x'])"), []);
  assert.notDeepEqual(problems("redis.call('DEL', key)"), []);
  assert.deepEqual(problems("redis.call('DEL', key)", isKeyParam), []);
  const lib = keyHelpers("local function drop(id, key, other_key)\n  redis.call('DEL', key, other_key)\nend");
  assert.deepEqual([...lib], [['drop', [1, 2]]]);
  assert.deepEqual(helperKeyProblems('drop(ARGV[1], KEYS[9 + 2 * r], KEYS[2])', lib), []);
  assert.notDeepEqual(helperKeyProblems('drop(ARGV[1], ARGV[2], KEYS[2])', lib), []);
  assert.notDeepEqual(helperKeyProblems('drop(ARGV[1], KEYS[2], ARGV[2])', lib), []);
  assert.notDeepEqual(helperKeyProblems('local k = KEYS[1]\ndrop(ARGV[1], k, KEYS[2])', lib), []);
  assert.deepEqual(keyConcatenations("redis.call('HSET', KEYS[3], ARGV[1], now .. ' ' .. ARGV[4])"), []);
});
