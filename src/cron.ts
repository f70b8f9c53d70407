/**
 * Cron expressions (5 fields) and their next occurrence in an IANA time zone, with `Intl` only (no dependency).
 *
 *   ┌ minute 0-59 ┌ hour 0-23 ┌ day of month 1-31 ┌ month 1-12 or JAN-DEC ┌ day of week 0-7 or SUN-SAT (0 and 7: Sunday)
 *   *             *           *                   *                       *
 *
 * Each field: `*`, a value, a range `a-b`, a step `*∕n` or `a-b/n` or `a/n`, or a comma list of those. When both
 * day fields are restricted (neither is `*`), a day matches if either does (as in Vixie cron). Macros:
 * `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`), `@hourly`.
 *
 * Occurrences are local wall-clock minutes in the zone, mapped to instants:
 * - a local time that a DST jump skips (a gap) fires once, at the first valid instant after the gap (the
 *   instant of the jump); several skipped times of one gap fire that one instant once, together;
 * - a local time that happens twice (clocks go back) fires once, at its first instant: the repeated hour
 *   fires nothing the second time round.
 * Next times are computed from the previous occurrence, never from "now", so nothing drifts.
 */
import { InvalidOptionError } from './errors.ts';

export interface CronExpression {
  /** The expression as given. */
  readonly source: string;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly days: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  /** 0-6, Sunday 0. */
  readonly weekdays: ReadonlySet<number>;
  readonly daysRestricted: boolean;
  readonly weekdaysRestricted: boolean;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
  readonly namesFrom?: number;
}

const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, namesFrom: 1 },
  { name: 'day of week', min: 0, max: 7, names: WEEKDAYS, namesFrom: 0 },
];

function fail(source: string, why: string): never {
  throw new InvalidOptionError(
    `Expected \`cron\` to be a 5-field cron expression (minute hour day month weekday), got \`${source}\`: ${why}`,
  );
}

function parseValue(text: string, spec: FieldSpec, source: string): number {
  const upper = text.toUpperCase();
  const named = spec.names?.indexOf(upper) ?? -1;
  if (named >= 0) return named + (spec.namesFrom ?? 0);
  if (!/^\d{1,2}$/.test(text)) fail(source, `${JSON.stringify(text)} is not a ${spec.name}`);
  const n = Number(text);
  if (n < spec.min || n > spec.max) fail(source, `${spec.name} ${n} is outside ${spec.min}-${spec.max}`);
  return n;
}

function parseField(text: string, spec: FieldSpec, source: string): Set<number> {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^([^/]+)(?:\/(\d{1,2}))?$/.exec(part);
    if (!m) fail(source, `${JSON.stringify(part)} is not a valid ${spec.name} field`);
    const [, range = '', stepText] = m;
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1) fail(source, `the step in ${JSON.stringify(part)} must be at least 1`);
    let from: number;
    let to: number;
    if (range === '*') {
      from = spec.min;
      to = spec.name === 'day of week' ? 6 : spec.max;
    } else if (range.includes('-')) {
      const [a = '', b = '', ...more] = range.split('-');
      if (more.length > 0) fail(source, `${JSON.stringify(range)} is not a range`);
      from = parseValue(a, spec, source);
      to = parseValue(b, spec, source);
      if (from > to) fail(source, `the range ${JSON.stringify(range)} runs backwards`);
    } else {
      from = parseValue(range, spec, source);
      to = stepText === undefined ? from : spec.name === 'day of week' ? 6 : spec.max;
    }
    for (let v = from; v <= to; v += step) values.add(spec.name === 'day of week' && v === 7 ? 0 : v);
  }
  return values;
}

/** Parses a cron expression; throws an `InvalidOptionError` that says what is wrong. */
export function parseCron(source: string): CronExpression {
  if (typeof source !== 'string') throw new InvalidOptionError(`Expected \`cron\` to be a string, got \`${typeof source}\``);
  const expanded = MACROS[source.trim().toLowerCase()] ?? source.trim();
  const parts = expanded.split(/\s+/);
  if (parts.length !== 5) fail(source, `it has ${parts.length} fields, not 5`);
  const [minutes, hours, days, months, weekdays] = parts.map((p, i) => parseField(p, FIELDS[i] as FieldSpec, source)) as [
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
  ];
  return {
    source,
    minutes,
    hours,
    days,
    months,
    weekdays,
    daysRestricted: !(parts[2] ?? '').startsWith('*'),
    weekdaysRestricted: !(parts[4] ?? '').startsWith('*'),
  };
}

// ---- time zones ----

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Throws an `InvalidOptionError` unless `tz` is an IANA zone this Node knows. */
export function checkTimeZone(tz: unknown): string {
  if (typeof tz !== 'string' || tz.length === 0)
    throw new InvalidOptionError(`Expected \`tz\` to be an IANA time zone name, got \`${String(tz)}\``);
  try {
    formatter(tz);
  } catch {
    throw new InvalidOptionError(`Expected \`tz\` to be an IANA time zone name such as 'Europe/Berlin', got \`${JSON.stringify(tz)}\``);
  }
  return tz;
}

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** The local wall-clock time of an instant in `tz`, as ms since the epoch read as if it were UTC. */
export function wallTime(instant: number, tz: string): number {
  const fields: Record<string, number> = {};
  for (const part of formatter(tz).formatToParts(instant)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  const whole = Math.floor(instant / 1000) * 1000;
  const wall = Date.UTC(
    fields.year ?? 1970,
    (fields.month ?? 1) - 1,
    fields.day ?? 1,
    fields.hour ?? 0,
    fields.minute ?? 0,
    fields.second ?? 0,
  );
  return wall + (instant - whole);
}

/** The zone's offset from UTC at an instant, ms (positive east of Greenwich). */
export function offsetAt(instant: number, tz: string): number {
  return wallTime(instant, tz) - instant;
}

const DAY = 86_400_000;
const MINUTE = 60_000;

/**
 * The instants whose local time in `tz` is the wall time `wall`: one normally, two in a repeated hour (earlier
 * first), none in a gap. Assumes at most one offset change within a day either side (true of every real zone).
 */
export function instantsOf(wall: number, tz: string): number[] {
  const found = new Set<number>();
  for (const offset of [offsetAt(wall - DAY, tz), offsetAt(wall + DAY, tz), offsetAt(wall, tz)]) {
    const instant = wall - offset;
    if (wallTime(instant, tz) === wall) found.add(instant);
  }
  return [...found].sort((a, b) => a - b);
}

/** For a wall time inside a gap: the instant the gap ends (the first valid instant after the skipped time). */
function gapEnd(wall: number, tz: string): number {
  // Before the jump, the earlier (smaller) offset applies; `wall - larger` lies before the jump, `wall - smaller` after.
  const a = offsetAt(wall - DAY, tz);
  const b = offsetAt(wall + DAY, tz);
  let lo = wall - Math.max(a, b);
  let hi = wall - Math.min(a, b);
  const before = offsetAt(lo, tz);
  // Find the first instant whose offset differs from `before`, to the second (jumps happen on whole seconds).
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (offsetAt(mid, tz) === before) lo = mid;
    else hi = mid;
  }
  return hi;
}

function dayMatches(cron: CronExpression, date: Date): boolean {
  const dom = cron.days.has(date.getUTCDate());
  const dow = cron.weekdays.has(date.getUTCDay());
  if (cron.daysRestricted && cron.weekdaysRestricted) return dom || dow;
  if (cron.daysRestricted) return dom;
  if (cron.weekdaysRestricted) return dow;
  return true;
}

/** How far ahead `nextCron` looks before it decides an expression never fires (e.g. `0 0 30 2 *`). */
const HORIZON_MS = 30 * 366 * DAY;

/**
 * The first occurrence of `cron` strictly after the instant `after` (ms), in zone `tz` (default UTC); undefined
 * when there is none within 30 years. DST gaps and repeated hours as in the file comment.
 */
export function nextCron(cron: CronExpression, after: number, tz = 'UTC'): number | undefined {
  const start = wallTime(after, tz);
  let wall = Math.floor(start / MINUTE) * MINUTE + MINUTE;
  const limit = start + HORIZON_MS;
  while (wall < limit) {
    const d = new Date(wall);
    if (!cron.months.has(d.getUTCMonth() + 1)) {
      wall = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
      continue;
    }
    if (!dayMatches(cron, d)) {
      wall = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
      continue;
    }
    if (!cron.hours.has(d.getUTCHours())) {
      wall = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours() + 1);
      continue;
    }
    if (!cron.minutes.has(d.getUTCMinutes())) {
      wall += MINUTE;
      continue;
    }
    const instants = instantsOf(wall, tz);
    // A repeated time fires at its first instant only; a skipped one at the end of its gap.
    const fire = instants.length > 0 ? instants[0] : gapEnd(wall, tz);
    if (fire !== undefined && fire > after) return fire;
    wall += MINUTE;
  }
  return undefined;
}

/** A repeating schedule: a cron expression in a zone, or a fixed period. */
export type Recurrence = { readonly cron: CronExpression; readonly tz: string } | { readonly everyMs: number };

/** The occurrence after `after` (ms); for `everyMs`, the ticks are `anchor + k · everyMs`, so nothing drifts. */
export function nextOccurrence(rule: Recurrence, after: number, anchor = 0): number | undefined {
  if ('everyMs' in rule) {
    const k = Math.floor((after - anchor) / rule.everyMs) + 1;
    return anchor + k * rule.everyMs;
  }
  return nextCron(rule.cron, after, rule.tz);
}
