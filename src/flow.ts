/**
 * Flow control inside a task: `limit(key, { limit, perMs })` (a rate per key, GCRA on Redis' clock) and
 * `semaphore(name, n)` (at most n holders at once across all workers and machines). When a call is refused the
 * task gives way: the call throws `LimitedError`, and the worker puts the task back to run later (when the limit
 * next lets a call through; for a full semaphore after `retryAfterMs`), uncounted: not a failure, not an attempt
 * towards `maxAttempts`, and the worker's slot is free for other tasks meanwhile.
 *
 * The task asks its worker (over IPC from a child process; a direct call in an `InlineWorker`), and the worker
 * runs the script (lua/limit.lua, sem-acquire.lua, sem-release.lua): children hold no Redis connection, and
 * this module loads no Redis client. A semaphore slot names its worker's registration, so it is fenced by the
 * lease: a worker killed with its slots loses them when its lease runs out (and the sweep clears what is left).
 * Slots a task still holds are given back when its run ends, whatever the ending.
 */
import { FLOW, type RunContext, taskContext } from './context.ts';
import { DelayedError, InvalidOptionError, StateError } from './errors.ts';
import { defaultBurst } from './options.ts';
import type { FlowAnswer, FlowRequest } from './flow-types.ts';

export interface LimitOptions {
  /** Calls let through per `perMs`, over all workers and machines (1..1,000,000). */
  readonly limit: number;
  /** The period of `limit`, ms (1..86,400,000). */
  readonly perMs: number;
  /** How many calls may go through at once after a quiet spell. @default what 10 ms of the limit allows, at least 1 */
  readonly burst?: number;
}

export interface SemaphoreOptions {
  /**
   * When all slots are held, the task is put back to try again this much later, ms (Redis' clock).
   * @default 1000
   */
  readonly retryAfterMs?: number;
}

/** A slot of a semaphore, held until `release()` or the end of the run (whichever comes first). */
export interface Slot {
  /** The semaphore's name. */
  readonly name: string;
  /** Gives the slot back now (later calls do nothing). Rejects only when the worker cannot reach Redis. */
  release(): Promise<void>;
  /** `await using slot = await semaphore(...)`: released when the block ends. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Thrown by `limit()` and `semaphore()` when the call is refused: let it propagate (or rethrow it). The run
 * ends there and the worker puts the task back to run `retryAfterMs` later; that is not a failure.
 */
export class LimitedError extends DelayedError {
  /** `limit` (a rate) or `semaphore` (every slot held). */
  readonly kind: 'limit' | 'semaphore';
  /** The limit's key or the semaphore's name. */
  readonly key: string;
  /** When the task runs again, ms from now. */
  readonly retryAfterMs: number;
  constructor(kind: 'limit' | 'semaphore', key: string, retryAfterMs: number) {
    super(
      'ERR_LIMITED',
      kind === 'limit'
        ? `The limit ${JSON.stringify(key)} is reached; the task runs again in ${retryAfterMs} ms`
        : `Every slot of the semaphore ${JSON.stringify(key)} is held; the task runs again in ${retryAfterMs} ms`,
    );
    this.kind = kind;
    this.key = key;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The longest limit key or semaphore name, characters. */
export const MAX_FLOW_KEY = 200;

const isCount = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= max;

function checkKey(what: string, key: unknown): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_FLOW_KEY)
    throw new InvalidOptionError(`Expected the ${what} to be a string of 1 to ${MAX_FLOW_KEY} characters, got \`${JSON.stringify(key)}\``);
  return key;
}

async function ask(fn: string, request: FlowRequest): Promise<FlowAnswer & { ok: true }> {
  const gate = (taskContext() as RunContext | undefined)?.[FLOW];
  if (!gate) throw new StateError(`Expected ${fn}() to be called inside a task run by a worker, got a call outside one`);
  const answer = await gate.ask(request);
  if (!answer.ok) throw new StateError(`${fn}() could not be answered: ${answer.error}`);
  return answer;
}

/**
 * Lets the task go on if key `key` is under its limit (`limit` calls per `perMs`, over every worker), else
 * throws `LimitedError`: the task is put back to run at its turn (uncounted): the next time the key allows a
 * call, or, after other refused calls, one interval after the previous one's turn. Exact spacing
 * on Redis' clock (GCRA): over any time T at most limit·T/perMs + burst calls go through. One script call.
 */
export async function limit(key: string, options: LimitOptions): Promise<void> {
  checkKey('limit key', key);
  if (options === null || typeof options !== 'object')
    throw new InvalidOptionError(`Expected limit options to be { limit, perMs, burst? }, got \`${JSON.stringify(options)}\``);
  const { limit: count, perMs } = options;
  if (!isCount(count, 1_000_000))
    throw new InvalidOptionError(`Expected \`limit\` to be an integer from 1 to 1,000,000, got \`${JSON.stringify(count)}\``);
  if (!isCount(perMs, 86_400_000))
    throw new InvalidOptionError(`Expected \`perMs\` to be an integer from 1 to 86,400,000 (a day), got \`${JSON.stringify(perMs)}\``);
  const burst = options.burst ?? defaultBurst(count, perMs);
  if (!isCount(burst, 1_000_000))
    throw new InvalidOptionError(`Expected \`burst\` to be an integer from 1 to 1,000,000, got \`${JSON.stringify(burst)}\``);
  const intervalMs = perMs / count;
  const answer = await ask('limit', { op: 'limit', key, intervalMs, toleranceMs: (burst - 1) * intervalMs });
  if (answer.waitMs > 0) throw new LimitedError('limit', key, answer.waitMs);
}

/**
 * Takes one of the `n` slots of semaphore `name` (shared by every worker and machine), or, when all are held,
 * throws `LimitedError`: the task is put back to try again `retryAfterMs` later (uncounted). The slot is the
 * run's until `slot.release()` or the run's end, or until its worker's lease runs out (a killed worker's slots
 * come back within the lease and one sweep). Two script calls per slot (take, give back).
 */
export async function semaphore(name: string, n: number, options: SemaphoreOptions = {}): Promise<Slot> {
  checkKey('semaphore name', name);
  if (!isCount(n, 1_000_000))
    throw new InvalidOptionError(`Expected the semaphore size to be an integer from 1 to 1,000,000, got \`${JSON.stringify(n)}\``);
  const { retryAfterMs = 1000 } = options ?? {};
  if (!isCount(retryAfterMs, 86_400_000))
    throw new InvalidOptionError(
      `Expected \`retryAfterMs\` to be an integer from 1 to 86,400,000, got \`${JSON.stringify(retryAfterMs)}\``,
    );
  const answer = await ask('semaphore', { op: 'acquire', name, n, retryAfterMs });
  if (answer.waitMs > 0 || answer.slot === undefined) throw new LimitedError('semaphore', name, answer.waitMs);
  const slot = answer.slot;
  let released: Promise<void> | undefined;
  const release = () => {
    released ??= ask('release', { op: 'release', slot }).then(() => undefined);
    return released;
  };
  return { name, release, [Symbol.asyncDispose]: release };
}
