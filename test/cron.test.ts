// Cron expressions and their next occurrences, in UTC and across DST changes in three zones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkTimeZone, instantsOf, nextCron, nextOccurrence, parseCron } from '../src/cron.ts';
import { InvalidOptionError } from '../src/errors.ts';

/** The next `n` occurrences after `from`, as ISO strings. */
function seq(expr: string, tz: string, from: string, n: number): string[] {
  const cron = parseCron(expr);
  const out: string[] = [];
  let t = Date.parse(from);
  for (let i = 0; i < n; i++) {
    const next = nextCron(cron, t, tz);
    if (next === undefined) break;
    assert.ok(next > t, 'each occurrence is after the one before');
    out.push(new Date(next).toISOString().replace(':00.000Z', 'Z'));
    t = next;
  }
  return out;
}

test('fields: values, ranges, steps, lists, names, Sunday as 0 or 7, macros', () => {
  const c = parseCron('*/15 1-3,22 1,15 JAN-mar sun,7');
  assert.deepEqual([...c.minutes], [0, 15, 30, 45]);
  assert.deepEqual([...c.hours], [1, 2, 3, 22]);
  assert.deepEqual([...c.days], [1, 15]);
  assert.deepEqual([...c.months], [1, 2, 3]);
  assert.deepEqual([...c.weekdays], [0]);
  assert.deepEqual([...parseCron('5/20 * * * *').minutes], [5, 25, 45]);
  assert.deepEqual([...parseCron('0 0 * * 1-7/2').weekdays].sort(), [0, 1, 3, 5]);
  assert.deepEqual([...parseCron('* * * * *').weekdays].sort(), [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(seq('@daily', 'UTC', '2026-05-01T10:00:00Z', 1), ['2026-05-02T00:00Z']);
  assert.deepEqual(seq('@hourly', 'UTC', '2026-05-01T10:00:00Z', 1), ['2026-05-01T11:00Z']);
});

test('bad expressions and zones are refused with what was expected and what came', () => {
  const cases: [string, RegExp][] = [
    ['* * * *', /it has 4 fields, not 5/],
    ['60 * * * *', /minute 60 is outside 0-59/],
    ['* 24 * * *', /hour 24 is outside 0-23/],
    ['* * 0 * *', /day of month 0 is outside 1-31/],
    ['* * * 13 *', /month 13 is outside 1-12/],
    ['* * * * 8', /day of week 8 is outside 0-7/],
    ['5-1 * * * *', /runs backwards/],
    ['*/0 * * * *', /step .* must be at least 1/],
    ['x * * * *', /"x" is not a minute/],
    ['1-2-3 * * * *', /is not a range/],
  ];
  for (const [expr, message] of cases) {
    assert.throws(
      () => parseCron(expr),
      (e: Error) => e instanceof InvalidOptionError && e.message.startsWith('Expected `cron` to be a 5-field') && message.test(e.message),
      expr,
    );
  }
  assert.throws(
    () => checkTimeZone('Mars/Olympus'),
    /Expected `tz` to be an IANA time zone name such as 'Europe\/Berlin', got `"Mars\/Olympus"`$/,
  );
  assert.equal(checkTimeZone('Europe/Berlin'), 'Europe/Berlin');
});

test('next occurrences in UTC: strictly after, weekdays, and day-of-month OR day-of-week', () => {
  assert.deepEqual(seq('0 9 * * MON-FRI', 'UTC', '2026-12-04T10:00:00Z', 3), [
    '2026-12-07T09:00Z',
    '2026-12-08T09:00Z',
    '2026-12-09T09:00Z',
  ]);
  assert.deepEqual(seq('0 3 * * *', 'UTC', '2026-05-01T03:00:00Z', 1), ['2026-05-02T03:00Z'], 'an occurrence at `after` is not next');
  // 13th of the month OR a Friday
  assert.deepEqual(seq('0 0 13 * 5', 'UTC', '2026-11-10T00:00:00Z', 3), ['2026-11-13T00:00Z', '2026-11-20T00:00Z', '2026-11-27T00:00Z']);
  assert.deepEqual(seq('0 0 29 2 *', 'UTC', '2026-01-01T00:00:00Z', 2), ['2028-02-29T00:00Z', '2032-02-29T00:00Z']);
  assert.deepEqual(seq('0 0 30 2 *', 'UTC', '2026-01-01T00:00:00Z', 1), [], 'never: undefined');
});

test('Europe/Berlin spring gap: a skipped time fires once at the end of the gap; skipped times together fire once', () => {
  // 2026-03-29 02:00 CET becomes 03:00 CEST (01:00Z)
  assert.deepEqual(seq('30 2 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', 3), [
    '2026-03-29T01:00Z',
    '2026-03-30T00:30Z',
    '2026-03-31T00:30Z',
  ]);
  assert.deepEqual(seq('*/15 2 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', 3), [
    '2026-03-29T01:00Z',
    '2026-03-30T00:00Z',
    '2026-03-30T00:15Z',
  ]);
  // hourly: 02:00 is skipped, its run is at 03:00 CEST, and 03:00 itself does not run a second time
  assert.deepEqual(seq('0 * * * *', 'Europe/Berlin', '2026-03-28T23:30:00Z', 3), [
    '2026-03-29T00:00Z',
    '2026-03-29T01:00Z',
    '2026-03-29T02:00Z',
  ]);
  assert.deepEqual(instantsOf(Date.parse('2026-03-29T02:30:00Z'), 'Europe/Berlin'), [], 'a wall time in the gap has no instant');
});

test('Europe/Berlin autumn: a repeated time fires once, at its first instant', () => {
  // 2026-10-25 03:00 CEST becomes 02:00 CET (01:00Z): 02:xx happens twice
  assert.deepEqual(seq('30 2 * * *', 'Europe/Berlin', '2026-10-24T12:00:00Z', 2), ['2026-10-25T00:30Z', '2026-10-26T01:30Z']);
  assert.deepEqual(seq('0 * * * *', 'Europe/Berlin', '2026-10-24T23:30:00Z', 3), [
    '2026-10-25T00:00Z',
    '2026-10-25T02:00Z',
    '2026-10-25T03:00Z',
  ]);
  // from inside the second pass of the repeated hour, the next run is the first one after it
  assert.deepEqual(seq('*/30 * * * *', 'Europe/Berlin', '2026-10-25T01:10:00Z', 1), ['2026-10-25T02:00Z']);
  assert.deepEqual(instantsOf(Date.parse('2026-10-25T02:30:00Z'), 'Europe/Berlin'), [
    Date.parse('2026-10-25T00:30:00Z'),
    Date.parse('2026-10-25T01:30:00Z'),
  ]);
});

test('America/New_York and Australia/Lord_Howe (a 30-minute DST)', () => {
  // 2026-11-01 02:00 EDT becomes 01:00 EST: 01:30 happens twice, runs once
  assert.deepEqual(seq('30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', 2), ['2026-11-01T05:30Z', '2026-11-02T06:30Z']);
  // 2026-03-08 02:00 EST becomes 03:00 EDT (07:00Z)
  assert.deepEqual(seq('30 2 * * *', 'America/New_York', '2026-03-07T12:00:00Z', 2), ['2026-03-08T07:00Z', '2026-03-09T06:30Z']);
  // Lord Howe 2026-10-04 02:00 (+10:30) becomes 02:30 (+11): 02:15 is skipped and runs at 02:30 local
  assert.deepEqual(seq('15 2 * * *', 'Australia/Lord_Howe', '2026-10-02T12:00:00Z', 3), [
    '2026-10-02T15:45Z',
    '2026-10-03T15:30Z',
    '2026-10-04T15:15Z',
  ]);
});

test('everyMs ticks on a fixed grid from its anchor, never drifting', () => {
  const rule = { everyMs: 1000 };
  assert.equal(nextOccurrence(rule, 5000, 250), 5250);
  assert.equal(nextOccurrence(rule, 5250, 250), 6250, 'a tick at `after` is not next');
  assert.equal(nextOccurrence(rule, 5249.9, 250), 5250);
  let t = 0;
  for (let i = 0; i < 1000; i++) t = nextOccurrence(rule, t + 17, 0) as number;
  assert.equal(t % 1000, 0);
});

test('nextCron is quick enough to run in a sweep: a year of minutely and a never-firing expression', () => {
  const started = performance.now();
  assert.equal(nextCron(parseCron('0 0 31 2 *'), Date.parse('2026-01-01T00:00:00Z'), 'Europe/Berlin'), undefined);
  const never = performance.now() - started;
  const minutely = parseCron('* * * * *');
  let t = Date.parse('2026-01-01T00:00:00Z');
  const s2 = performance.now();
  for (let i = 0; i < 1000; i++) t = nextCron(minutely, t, 'Europe/Berlin') as number;
  const perCall = (performance.now() - s2) / 1000;
  assert.ok(never < 2000, `a never-firing expression took ${never.toFixed(0)} ms`);
  assert.ok(perCall < 2, `minutely took ${perCall.toFixed(3)} ms a call`);
});
