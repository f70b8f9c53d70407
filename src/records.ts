/**
 * The wire formats other than the task entry (that one is `src/payload.ts`), each with its writer and its
 * reader side by side:
 * - worker facts, in the hash `info`: `<now_ms> <json>`; the worker sends the JSON with every registration and
 *   renewal, and register.lua / renew.lua put Redis' time in front;
 * - a dead letter, in the list `dead`: `<now_ms>|<json>`; the worker makes the JSON, fail.lua puts Redis'
 *   time in front. The JSON holds the failure and the task's entry as the worker held it.
 */
import { hostname } from 'node:os';
import type { Failure, TaskInfo } from './handlers.ts';
import { type Entry, entryForRecord } from './payload.ts';

/** What a worker says about itself (shown by `delayed status`, the dashboard and the metrics). */
export interface WorkerFacts {
  readonly kind?: string;
  readonly concurrency?: number;
  readonly startedAt?: string;
  readonly counts?: { started?: number; succeeded?: number; failed?: number; requeued?: number };
  readonly running?: readonly { id: string; name: string; attempt: number; forMs: number; progress?: unknown }[];
  readonly host?: string;
  readonly pid?: number;
}

/** The JSON a worker registers and renews with (the facts, plus this host and process). */
export function workerFactsJson(facts: WorkerFacts): string {
  return JSON.stringify({ ...facts, host: hostname(), pid: process.pid });
}

/** Facts as read back: any field may be missing or of another type (the hash is not trusted). */
export type ReadFacts = { readonly [K in keyof WorkerFacts]?: unknown };

/** Reads a value of the `info` hash: when it was written (Redis ms) and the facts; null if unreadable. */
export function readWorkerFacts(raw: string | undefined): { at: number; facts: ReadFacts } | null {
  if (raw === undefined) return null;
  const space = raw.indexOf(' ');
  const at = Number(raw.slice(0, space));
  if (space < 0 || !Number.isFinite(at)) return null;
  try {
    const facts: unknown = JSON.parse(raw.slice(space + 1));
    if (facts === null || typeof facts !== 'object' || Array.isArray(facts)) return null;
    return { at, facts: facts as ReadFacts };
  } catch {
    return null;
  }
}

/** The JSON part of a dead letter (fail.lua stores it after `<now_ms>|`). */
export function deadLetterJson(info: Pick<TaskInfo, 'id' | 'name'>, failure: Failure, entry: Entry): string {
  const { reason, message, signal, exitCode } = failure;
  return JSON.stringify({ id: info.id, name: info.name, reason, message, signal, exitCode, ...entryForRecord(entry) });
}

/** Reads a dead letter: when it failed (Redis ms, 0 if unreadable) and its fields (empty if unreadable). Never throws. */
export function readDeadLetter(record: string): { at: number; fields: Record<string, unknown> } {
  const bar = record.indexOf('|');
  let fields: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(record.slice(bar + 1));
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) fields = parsed as Record<string, unknown>;
  } catch {
    // shown as unknown
  }
  return { at: Number(record.slice(0, Math.max(0, bar))) || 0, fields };
}
