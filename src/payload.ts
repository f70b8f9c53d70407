/**
 * The wire format of a task in Redis (an "entry"), and the check that arguments survive JSON unchanged.
 *
 *   1|<attempt>|<cutoffs>|<reason>|<id>|<name>|<timeoutMs>|<maxAttempts>|[<options>|]<args as JSON>
 *
 * - `attempt` counts every time the entry was put back (for any reason); with the worker's registration it
 *   makes each run's lease token unique, so a stale release can never remove a newer run.
 * - `cutoffs` counts runs that were cut off (worker lost, child crashed); `reason` is the last such reason.
 * - The first four fields are the only ones Lua rewrites (string operations only: Lua never decodes or
 *   re-encodes the JSON, whose numbers cjson would round), plus `f` in the option segment (`lua/retry.lua`).
 * - The option segment is there only for a task that needs it (a task without options keeps the entry above
 *   without it, byte for byte): `f=<failures>` first, then `;k=v` pairs: `r=<retries>` and `b=<backoff>`
 *   (`src/backoff.ts` `encodeBackoff`) when the call set them, `k=<ttlMs>` when the task keeps its result,
 *   `u=<mode><key>` for a unique task, `p=<level>` for a task of a priority level other than the queue's
 *   default (`src/priorities.ts`; the scripts that put entries back read it, `home` in lua/lib.lua),
 *   `t=<W3C traceparent>` for a traced enqueue (`src/tracing.ts`). `failures` counts runs that threw and were
 *   retried. It starts with `f=`, which no JSON text does, so the two forms never mix up; unknown keys are
 *   skipped (a newer producer's options do not make an older worker fail the task).
 */
import { isUtf8 } from 'node:buffer';
import { decodeBackoff, encodeBackoff, type ResolvedBackoff } from './backoff.ts';
import { InvalidOptionError, PayloadTooLargeError } from './errors.ts';
import { assertJsonFaithful, MAX_DEPTH, nestingDepth } from './json-faithful.ts';

export { assertJsonFaithful } from './json-faithful.ts';

/** Why the last cut-off run ended: its worker was lost, its child crashed, or a stop killed it mid-run. */
export type CutoffReason = '' | 'lost' | 'crashed' | 'stopped';

export interface TaskEntry {
  readonly id: string;
  readonly name: string;
  readonly args: readonly unknown[];
  /** The arguments as they came, JSON: what children get (no second serialisation). */
  readonly argsJson: string;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  readonly attempt: number;
  readonly cutoffs: number;
  readonly reason: CutoffReason;
  /** Runs that threw and were retried (0 unless the entry has an option segment). */
  readonly failures: number;
  /** Retries set for this call (`task.with({ retries })`); undefined: the task definition's. */
  readonly retries?: number;
  /** Backoff set for this call; undefined: the task definition's. */
  readonly backoff?: ResolvedBackoff;
  /** Set when the task keeps its result (`keepResult`): for how long, ms. */
  readonly keepResultMs?: number;
  /** Set for a unique task: its key and what the key prevents (`s` until-start, `f` until-finish, `t` for-ttl). */
  readonly unique?: { readonly key: string; readonly mode: 's' | 'f' | 't' };
  /** The priority level it waits in, when not the queue's default level (`p=` in the option segment). */
  readonly priority?: string;
  /** The W3C trace context the entry carries (`t=`: its producer's span, with `tracing: true`). */
  readonly traceparent?: string;
}

/**
 * An entry as a worker holds it: its text; or its raw bytes when what Redis holds is not valid UTF-8 (text
 * decoded from such bytes would not match them again, so it could not serve as the run's token) or is larger
 * than the queue's `maxPayloadBytes` (it fails unread: decoding tens of megabytes only to refuse them would
 * stall the worker).
 */
export type Entry = string | Buffer;

/** Bytes read from Redis as an entry: text when they are valid UTF-8 (it encodes back to the same bytes). */
export function entryFromBytes(bytes: Buffer, maxBytes: number): Entry {
  return bytes.length <= maxBytes && isUtf8(bytes) ? bytes.toString('utf8') : bytes;
}

/** The id and name an entry held as bytes claims in its header (for the failure report; never trusted). */
export function claimedHeader(bytes: Buffer): { id: string; name: string } {
  const fields = bytes.subarray(0, 1024).toString('latin1').split('|');
  return { id: (fields[4] ?? '').slice(0, 100), name: (fields[5] ?? '').slice(0, 140) };
}

/** Why an entry held as bytes cannot be read. */
export function unreadable(bytes: Buffer, maxBytes: number): string {
  return bytes.length > maxBytes
    ? `the entry is ${bytes.length} bytes, over maxPayloadBytes (${maxBytes})`
    : 'the entry is not valid UTF-8 text';
}

/**
 * A string that names an entry in a set. Raw bytes get a form no entry of ours starts with, made of their size
 * and ends (cheap for a large one; two raw entries alike in both only delay a reconcile of one of them).
 */
export function entryKey(entry: Entry): string {
  if (typeof entry === 'string') return entry;
  const ends =
    entry.length <= 128
      ? entry.toString('base64')
      : `${entry.subarray(0, 64).toString('base64')}/${entry.subarray(-64).toString('base64')}`;
  return `\u0000raw:${entry.length}:${ends}`;
}

/** What a dead-letter record keeps of an entry: the text, or the bytes as base64 (the first 4 KiB of a large one). */
export function entryForRecord(entry: Entry): Record<string, string | number> {
  if (typeof entry === 'string') return { entry };
  if (entry.length <= 65_536) return { entryBase64: entry.toString('base64') };
  return { entryHeadBase64: entry.subarray(0, 4096).toString('base64'), entryBytes: entry.length };
}

/** What a worker can read from an entry without trusting it. */
export type DecodedEntry =
  | { readonly ok: true; readonly task: TaskEntry }
  | { readonly ok: false; readonly problem: string; readonly id: string; readonly name: string };

const TASK_NAME = /^[A-Za-z_$][\w$.:/-]{0,127}$/;
const FORBIDDEN_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

/** A task name: 1-128 characters, a letter, `_` or `$` first, then letters, digits, `_ $ . : / -`. */
export function isValidTaskName(name: unknown): name is string {
  return typeof name === 'string' && TASK_NAME.test(name) && !FORBIDDEN_NAMES.has(name);
}

/** Throws unless `id` can name a task: a string of 1-200 characters without `|`. */
export function checkTaskId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 200 || id.includes('|'))
    throw new InvalidOptionError(`Expected a task id (1-200 characters without |), got \`${JSON.stringify(id)}\``);
}

export interface EntryFields {
  readonly id: string;
  readonly name: string;
  readonly args: readonly unknown[];
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  /** Per-call retries: written only when set. */
  readonly retries?: number;
  /** Per-call backoff: written only when set. */
  readonly backoff?: ResolvedBackoff;
  /** How long the result is kept, ms: written only when set. */
  readonly keepResultMs?: number;
  /** A unique task's key and mode: written only when set. */
  readonly unique?: { readonly key: string; readonly mode: 's' | 'f' | 't' };
  /** A priority level other than the queue's default: written only when set. */
  readonly priority?: string;
  /** The producer span's W3C trace context (`tracing: true` and a sampled span only): written only when set. */
  readonly traceparent?: string;
}

/** The option segment for the fields that need one, with its closing `|`; '' when none does. */
function optionSegment(fields: EntryFields): string {
  if (
    fields.retries === undefined &&
    fields.backoff === undefined &&
    fields.keepResultMs === undefined &&
    fields.unique === undefined &&
    fields.priority === undefined &&
    fields.traceparent === undefined
  )
    return '';
  let text = 'f=0';
  if (fields.retries !== undefined) text += `;r=${fields.retries}`;
  if (fields.backoff !== undefined) text += `;b=${encodeBackoff(fields.backoff)}`;
  if (fields.keepResultMs !== undefined) text += `;k=${fields.keepResultMs}`;
  if (fields.unique !== undefined) text += `;u=${fields.unique.mode}${encodeURIComponent(fields.unique.key)}`;
  if (fields.priority !== undefined) text += `;p=${fields.priority}`;
  if (fields.traceparent !== undefined) text += `;t=${fields.traceparent}`;
  return `${text}|`;
}

/** Checks the arguments and builds a fresh entry (attempt 0); throws before anything is written. */
export function encodeEntry(fields: EntryFields, maxBytes: number): string {
  assertJsonFaithful(fields.args, 'args');
  const entry = `1|0|0||${fields.id}|${fields.name}|${fields.timeoutMs}|${fields.maxAttempts}|${optionSegment(fields)}${JSON.stringify(fields.args)}`;
  // A string's UTF-8 size is at most 3 bytes per UTF-16 unit; count exactly only near the limit.
  if (entry.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(entry);
    if (bytes > maxBytes) throw new PayloadTooLargeError(bytes, maxBytes);
  }
  return entry;
}

const HEADER_FIELDS = 8;

/**
 * The header fields of an entry (`HEADER_FIELDS` of them, each at most 200 characters) and where what follows
 * them starts; `next` is -1 when the header is malformed (`fields` then holds those read before the fault).
 */
function readHeader(raw: string): { fields: string[]; next: number } {
  const fields: string[] = [];
  let start = 0;
  for (let i = 0; i < HEADER_FIELDS; i++) {
    const bar = raw.indexOf('|', start);
    if (bar < 0 || bar - start > 200) return { fields, next: -1 };
    fields.push(raw.slice(start, bar));
    start = bar + 1;
  }
  return { fields, next: start };
}

/** Reads an entry taken from Redis. Never throws; never evaluates anything; rejects oversized input before parsing. */
export function decodeEntry(raw: string, maxBytes: number): DecodedEntry {
  const { fields, next } = readHeader(raw);
  if (next < 0) return bad(fields, 'the entry header is malformed');
  let start = next;
  const [version, attempt, cutoffs, reason, id, name, timeoutMs, maxAttempts] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (version !== '1') return bad(fields, `unknown entry version ${JSON.stringify(version.slice(0, 20))}`);
  const numbers = [attempt, cutoffs, timeoutMs, maxAttempts].map((s) => (/^\d{1,15}$/.test(s) ? Number(s) : NaN));
  if (numbers.some((n) => Number.isNaN(n))) return bad(fields, 'a number in the entry header is malformed');
  if (reason !== '' && reason !== 'lost' && reason !== 'crashed' && reason !== 'stopped')
    return bad(fields, 'the cut-off reason in the entry header is malformed');
  if (!isValidTaskName(name))
    return bad(fields, `the task name ${JSON.stringify((name as string).slice(0, 140))} is not a valid task name`);
  if (raw.length > maxBytes && Buffer.byteLength(raw) > maxBytes)
    return bad(fields, `the entry is ${Buffer.byteLength(raw)} bytes, over maxPayloadBytes (${maxBytes})`);
  let options: EntryOptions = { failures: 0 };
  if (raw.startsWith('f=', start)) {
    const bar = raw.indexOf('|', start);
    const read = bar < 0 || bar - start > 1000 ? undefined : readOptions(raw.slice(start, bar));
    if (!read) return bad(fields, 'the option segment of the entry is malformed');
    options = read;
    start = bar + 1;
  }
  const argsJson = raw.slice(start);
  // Nesting needs two characters a level: a short text cannot be too deep, and is not scanned.
  const depth = argsJson.length <= 2 * MAX_DEPTH ? 0 : nestingDepth(argsJson);
  if (depth > MAX_DEPTH) return bad(fields, `the arguments are nested ${depth} levels deep, over ${MAX_DEPTH}`);
  let args: unknown;
  try {
    args = JSON.parse(argsJson);
  } catch (err) {
    return bad(fields, `the arguments are not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(args)) return bad(fields, 'the arguments are not a JSON array');
  const [a, c, t, m] = numbers as [number, number, number, number];
  return { ok: true, task: { id, name, args, argsJson, timeoutMs: t, maxAttempts: m, attempt: a, cutoffs: c, reason, ...options } };
}

/**
 * What finishing `entry` as cancelled writes besides dropping it, when a put-back (requeue, retry, recover)
 * finds a cancel request: the task's outcome (`keepResult`) and the release of a unique key held until it
 * finishes. Undefined when there is nothing to write (most entries), or when the entry cannot be read (raw
 * bytes, a malformed header): it is then dropped without these writes. Reads only the header and the option
 * segment (lib.lua `ends_with_writes` is the same test).
 */
export function cancelWrites(entry: Entry): { id: string; keepResultMs?: number; uniqueKey?: string } | undefined {
  if (typeof entry !== 'string') return undefined;
  const { fields, next: start } = readHeader(entry);
  if (start < 0) return undefined;
  const id = fields[4]!;
  const bar = entry.indexOf('|', start);
  if (!entry.startsWith('f=', start) || bar < 0) return undefined;
  const options = readOptions(entry.slice(start, bar));
  const uniqueKey = options?.unique?.mode === 'f' ? options.unique.key : undefined;
  if (options?.keepResultMs === undefined && uniqueKey === undefined) return undefined;
  return {
    id,
    ...(options?.keepResultMs !== undefined ? { keepResultMs: options.keepResultMs } : {}),
    ...(uniqueKey !== undefined ? { uniqueKey } : {}),
  };
}

interface EntryOptions {
  failures: number;
  retries?: number;
  backoff?: ResolvedBackoff;
  keepResultMs?: number;
  unique?: { key: string; mode: 's' | 'f' | 't' };
  priority?: string;
  traceparent?: string;
}

/** Reads `f=<n>[;k=v]...`; undefined when malformed. Unknown keys are skipped. */
function readOptions(text: string): EntryOptions | undefined {
  const out: EntryOptions = { failures: 0 };
  let first = true;
  for (const pair of text.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 1) return undefined;
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (first !== (key === 'f')) return undefined;
    first = false;
    if (key === 'f' || key === 'r') {
      if (!/^\d{1,6}$/.test(value)) return undefined;
      if (key === 'f') out.failures = Number(value);
      else out.retries = Number(value);
    } else if (key === 'u') {
      const mode = value[0];
      if (mode !== 's' && mode !== 'f' && mode !== 't') return undefined;
      try {
        out.unique = { mode, key: decodeURIComponent(value.slice(1)) };
      } catch {
        return undefined;
      }
    } else if (key === 'k') {
      if (!/^\d{1,10}$/.test(value)) return undefined;
      out.keepResultMs = Number(value);
    } else if (key === 'b') {
      const backoff = decodeBackoff(value);
      if (!backoff) return undefined;
      out.backoff = backoff;
    } else if (key === 'p') {
      if (!/^[a-z][a-z0-9_-]{0,29}$/.test(value)) return undefined;
      out.priority = value;
    } else if (key === 't') {
      // A trace context that does not read is dropped, not fatal: tracing never fails a task.
      if (/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(value)) out.traceparent = value;
    }
  }
  return out;
}

function bad(fields: readonly string[], problem: string): DecodedEntry {
  return { ok: false, problem, id: (fields[4] ?? '').slice(0, 100), name: (fields[5] ?? '').slice(0, 140) };
}
