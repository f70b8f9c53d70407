// Backoff policies: the delays they give, their bounds under each jitter, their checks and their encoding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  backoffOption,
  baseDelay,
  decodeBackoff,
  DEFAULT_BACKOFF,
  encodeBackoff,
  retryDelay,
  type ResolvedBackoff,
} from '../src/backoff.ts';
import { InvalidOptionError } from '../src/errors.ts';

const exp = (jitter: 'full' | 'none' | 'equal'): ResolvedBackoff => ({ type: 'exponential', delayMs: 1000, maxDelayMs: 10_000, jitter });

test('exponential without jitter doubles from delayMs and stops at maxDelayMs', () => {
  const p = exp('none');
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 2000].map((n) => retryDelay(p, n, new Error('x'))),
    [1000, 2000, 4000, 8000, 10_000, 10_000, 10_000],
  );
});

test('full jitter stays in [0, d], equal jitter in [d/2, d]; both reach their bounds', () => {
  for (const n of [1, 3, 9]) {
    const d = baseDelay(exp('full'), n);
    assert.equal(
      retryDelay(exp('full'), n, null, () => 0),
      0,
    );
    assert.equal(
      retryDelay(exp('full'), n, null, () => 0.999_999_999),
      d,
    );
    assert.equal(
      retryDelay(exp('equal'), n, null, () => 0),
      d / 2,
    );
    assert.equal(
      retryDelay(exp('equal'), n, null, () => 0.999_999_999),
      d,
    );
    for (let i = 0; i < 200; i++) {
      const full = retryDelay(exp('full'), n, null);
      const equal = retryDelay(exp('equal'), n, null);
      assert.ok(full >= 0 && full <= d && Number.isInteger(full), `full ${full} of ${d}`);
      assert.ok(equal >= d / 2 && equal <= d && Number.isInteger(equal), `equal ${equal} of ${d}`);
    }
  }
});

test('fixed gives delayMs every time; the defaults are exponential from 1 s to 1 h with full jitter', () => {
  const fixed = backoffOption({ type: 'fixed', delayMs: 250 });
  assert.deepEqual(fixed, { type: 'fixed', delayMs: 250, maxDelayMs: 3_600_000, jitter: 'none' });
  assert.deepEqual(
    [1, 5, 50].map((n) => retryDelay(fixed as ResolvedBackoff, n, null)),
    [250, 250, 250],
  );
  assert.deepEqual(backoffOption({ type: 'exponential' }), DEFAULT_BACKOFF);
  assert.deepEqual(DEFAULT_BACKOFF, { type: 'exponential', delayMs: 1000, maxDelayMs: 3_600_000, jitter: 'full' });
});

test('a backoff function gets the failure count and the error; what it returns is checked', () => {
  const seen: unknown[] = [];
  const fn = (failures: number, error: unknown) => {
    seen.push([failures, error]);
    return failures * 10.4;
  };
  assert.equal(retryDelay(fn, 3, 'boom'), 31);
  assert.deepEqual(seen, [[3, 'boom']]);
  for (const bad of [-1, Number.NaN, Infinity, '5', undefined, 31 * 24 * 3_600_000]) {
    assert.throws(
      () => retryDelay(() => bad as number, 1, null),
      (e: Error) => e instanceof InvalidOptionError && /^Expected the backoff function to return/.test(e.message),
    );
  }
});

test('bad backoff options are refused with what was expected and what came', () => {
  const cases: [unknown, RegExp][] = [
    [5, /Expected `backoff` to be .* got `5`$/],
    [{ type: 'linear' }, /Expected `backoff.type` to be 'fixed' or 'exponential', got `"linear"`$/],
    [{ type: 'fixed', delayMs: -1 }, /Expected `backoff.delayMs` to be an integer from 0 to 2592000000 .*got `-1`$/],
    [{ type: 'fixed', maxDelayMs: 1.5 }, /Expected `backoff.maxDelayMs`/],
    [{ type: 'fixed', jitter: 'half' }, /Expected `backoff.jitter` to be 'full', 'none' or 'equal', got `"half"`$/],
    [{ type: 'fixed', delay: 5 }, /Expected `backoff` to have only type, delayMs, maxDelayMs and jitter, got `delay`$/],
  ];
  for (const [value, message] of cases) assert.throws(() => backoffOption(value), message);
  assert.equal(backoffOption(undefined), undefined);
});

test('a policy survives its entry encoding; malformed encodings read as nothing', () => {
  for (const p of [exp('full'), exp('none'), exp('equal'), { ...exp('none'), type: 'fixed' as const, delayMs: 0 }]) {
    const text = encodeBackoff(p);
    assert.match(text, /^[ex]\.\d+\.\d+\.[fnq]$/);
    assert.deepEqual(decodeBackoff(text), p);
  }
  for (const bad of ['', 'e.1.2', 'y.1.2.f', 'e.1.2.z', 'e.-1.2.f', 'e.1.99999999999.f', 'e.1.2.f;'])
    assert.equal(decodeBackoff(bad), undefined, bad);
});

test('retry advice: per-call options override the definition; FatalError, exhausted budgets and retryIf end retries', async () => {
  const { retryAdvice } = await import('../src/retry.ts');
  const { FatalError } = await import('../src/errors.ts');
  const policy = {
    retries: 2,
    backoff: { type: 'fixed' as const, delayMs: 100, maxDelayMs: 1000, jitter: 'none' as const },
    retryIf: undefined,
  };
  const err = new Error('x');
  assert.deepEqual(retryAdvice(policy, { failures: 0 }, err), { retry: true, delayMs: 100 });
  assert.deepEqual(retryAdvice(policy, { failures: 2 }, err), { retry: false, why: 'retries exhausted (2 of 2)' });
  assert.deepEqual(retryAdvice(policy, { failures: 2, retries: 3 }, err), { retry: true, delayMs: 100 });
  assert.deepEqual(retryAdvice(policy, { failures: 0, retries: 0 }, err), { retry: false, why: 'no retries' });
  assert.deepEqual(retryAdvice(undefined, { failures: 0 }, err), { retry: false, why: 'no retries' });
  assert.deepEqual(retryAdvice(policy, { failures: 0 }, new FatalError('no')), { retry: false, why: 'a FatalError is not retried' });
  const crossed = Object.assign(new Error('no'), { name: 'FatalError' });
  assert.equal(retryAdvice(policy, { failures: 0 }, crossed).retry, false, 'by name, as it arrives from a child');
  const exp = { type: 'exponential' as const, delayMs: 1000, maxDelayMs: 5000, jitter: 'none' as const };
  assert.deepEqual(retryAdvice(policy, { failures: 3, retries: 9, backoff: exp }, err), { retry: true, delayMs: 5000 });
  assert.deepEqual(retryAdvice({ ...policy, retryIf: () => false }, { failures: 0 }, err), { retry: false, why: 'retryIf said no' });
  const throwing = retryAdvice(
    {
      ...policy,
      retryIf: () => {
        throw new Error('oops');
      },
    },
    { failures: 0 },
    err,
  );
  assert.deepEqual(throwing, { retry: false, why: 'retryIf threw: oops' });
  const badFn = retryAdvice({ ...policy, backoff: () => Number.NaN }, { failures: 0 }, err);
  assert.equal(badFn.retry, false);
  assert.match(badFn.retry ? '' : badFn.why, /^the backoff failed: Expected the backoff function to return/);
  const dflt = retryAdvice({ retries: 1, backoff: undefined, retryIf: undefined }, { failures: 0 }, err, () => 0.5);
  assert.deepEqual(dflt, { retry: true, delayMs: 500 }, 'default: exponential from 1 s, full jitter');
});
