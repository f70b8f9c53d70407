import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertJsonFaithful, decodeEntry, encodeEntry, isValidTaskName } from '../src/payload.ts';
import { PayloadTooLargeError, SerializationError } from '../src/errors.ts';

const fields = { id: 'p.1', name: 'add', timeoutMs: 1000, maxAttempts: 3 };

test('arguments that JSON carries faithfully pass, and round-trip exactly', () => {
  // biome-ignore lint/correctness/noPrecisionLoss: a number past 2^53 travels as JSON writes it
  const args = [1, -2.5, 'x|y\n', true, null, [1, [2]], { a: { b: [] } }, Object.create(null) as object, 12345678901234567];
  const entry = encodeEntry({ ...fields, args }, 1_000_000);
  const decoded = decodeEntry(entry, 1_000_000);
  assert.ok(decoded.ok);
  assert.deepEqual(decoded.task.args, JSON.parse(JSON.stringify(args)));
  assert.equal(decoded.task.attempt, 0);
  assert.equal(decoded.task.cutoffs, 0);
  assert.equal(decoded.task.name, 'add');
});

test('arguments JSON cannot carry faithfully are refused with the path of the problem', () => {
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  const cases: [unknown[], string, RegExp][] = [
    [[() => 1], 'args[0]', /function/],
    [[Symbol('s')], 'args[0]', /symbol/],
    [[10n], 'args[0]', /BigInt/],
    [[circular], 'args[0].self', /circular/],
    [[[1, undefined]], 'args[0][1]', /undefined/],
    [[{ a: undefined }], 'args[0].a', /undefined/],
    [[NaN], 'args[0]', /NaN/],
    [[Infinity], 'args[0]', /Infinity/],
    [[new Date(0)], 'args[0]', /Date/],
    [[new Map()], 'args[0]', /Map/],
    [[new Set([1])], 'args[0]', /Set/],
    // biome-ignore lint/suspicious/noSparseArray: the bad input under test
    [[[, 1]], 'args[0][0]', /sparse/],
    [[{ [Symbol('k')]: 1 }], 'args[0]', /symbol keys/],
    [[{ toJSON: () => 1 }], 'args[0]', /toJSON/],
    [
      [
        new (class Point {
          x = 1;
        })(),
      ],
      'args[0]',
      /Point/,
    ],
  ];
  for (const [args, path, message] of cases) {
    assert.throws(
      () => assertJsonFaithful(args, 'args'),
      (err: unknown) => {
        assert.ok(err instanceof SerializationError, `expected SerializationError for ${path}`);
        assert.equal(err.path, path);
        assert.match(err.message, message);
        assert.equal(err.code, 'ERR_SERIALIZATION');
        return true;
      },
    );
  }
});

test('a shared (non-circular) object is fine', () => {
  const shared = { a: 1 };
  assert.doesNotThrow(() => assertJsonFaithful([shared, shared], 'args'));
});

test('an encoded task over the size limit is refused before anything is written', () => {
  assert.throws(
    () => encodeEntry({ ...fields, args: ['x'.repeat(2000)] }, 1024),
    (err: unknown) => {
      assert.ok(err instanceof PayloadTooLargeError);
      assert.ok(err.bytes > 1024);
      assert.equal(err.limit, 1024);
      return true;
    },
  );
  // Multi-byte characters are counted in bytes, not in UTF-16 units.
  assert.throws(() => encodeEntry({ ...fields, args: ['é'.repeat(600)] }, 1024), PayloadTooLargeError);
  assert.doesNotThrow(() => encodeEntry({ ...fields, args: ['é'.repeat(400)] }, 1024));
});

test('task names: letters first, a fixed character set, no prototype names', () => {
  for (const ok of ['add', 'emails.send', 'billing/charge:v2', '_x', '$y']) assert.ok(isValidTaskName(ok), ok);
  for (const bad of ['', '1abc', 'a b', 'a|b', '__proto__', 'constructor', 'prototype', 'x'.repeat(129), 42]) {
    assert.ok(!isValidTaskName(bad), String(bad));
  }
});

test('corrupt entries decode to a reason, never throw, never evaluate', () => {
  const good = encodeEntry({ ...fields, args: [1, 2] }, 1_000_000);
  const cases: [string, RegExp][] = [
    ['', /header/],
    ['not an entry at all', /header/],
    ['2|0|0||p.1|add|1000|3|[]', /version/],
    ['1|x|0||p.1|add|1000|3|[]', /number/],
    ['1|0|0|weird|p.1|add|1000|3|[]', /reason/],
    ['1|0|0||p.1|__proto__|1000|3|[]', /task name/],
    ['1|0|0||p.1|add|1000|3|{"a":1}', /array/],
    ['1|0|0||p.1|add|1000|3|[1,', /JSON/],
    ['1|0|0||p.1|add|1000|3|process.exit(1)', /JSON/],
    [good.replace('[1,2]', `["${'x'.repeat(2000)}"]`), /over maxPayloadBytes/],
  ];
  for (const [raw, problem] of cases) {
    const decoded = decodeEntry(raw, 1024);
    assert.equal(decoded.ok, false, raw.slice(0, 40));
    if (!decoded.ok) assert.match(decoded.problem, problem);
  }
});

test('__proto__ keys in arguments stay plain data', () => {
  const decoded = decodeEntry('1|0|0||p.1|add|1000|3|[{"__proto__":{"polluted":true}}]', 1_000_000);
  assert.ok(decoded.ok);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  const arg = decoded.task.args[0] as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(arg), Object.prototype);
  assert.deepEqual(Object.keys(arg), ['__proto__']);
});

test('nesting deeper than 1000 levels is refused at enqueue and at decoding, before parsing', () => {
  const depth = 100_000;
  const decoded = decodeEntry(`1|0|0||p.1|add|1000|3|[${'['.repeat(depth)}${']'.repeat(depth)}]`, 10_000_000);
  assert.equal(decoded.ok, false);
  if (!decoded.ok) assert.match(decoded.problem, /nested 100001 levels deep/);
  // Brackets inside strings do not count.
  const inString = decodeEntry(`1|0|0||p.1|add|1000|3|["${'['.repeat(5000)}", "\\"["]`, 10_000_000);
  assert.ok(inString.ok);
  let deep: unknown = 1;
  for (let i = 0; i < 999; i++) deep = [deep];
  assert.doesNotThrow(() => encodeEntry({ ...fields, args: [deep] }, 1e7));
  const ok = decodeEntry(encodeEntry({ ...fields, args: [deep] }, 1e7), 1e7);
  assert.ok(ok.ok, 'what enqueue accepts, decoding accepts');
  assert.throws(() => encodeEntry({ ...fields, args: [[deep]] }, 1e7), /nested more than 1000 levels/);
});

test('a trace context rides in the option segment (t=) only when given; a malformed one is dropped, never fatal', () => {
  const tp = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
  const plain = encodeEntry({ ...fields, args: [1, 2] }, 1e6);
  assert.ok(!plain.includes('f='), 'untraced: no option segment');
  const traced = encodeEntry({ ...fields, args: [1, 2], traceparent: tp }, 1e6);
  assert.equal(traced, plain.replace(/\|(\[.*)$/, `|f=0;t=${tp}|$1`));
  const decoded = decodeEntry(traced, 1e6);
  assert.ok(decoded.ok && decoded.task.traceparent === tp && decoded.task.failures === 0);
  const withRetries = encodeEntry({ ...fields, args: [1, 2], retries: 2, traceparent: tp }, 1e6);
  assert.match(withRetries, new RegExp(`\\|f=0;r=2;t=${tp}\\|`));
  const bad = decodeEntry(traced.replace(tp, 'not-a-traceparent'), 1e6);
  assert.ok(bad.ok && bad.task.traceparent === undefined, 'read, without a trace context');
});
