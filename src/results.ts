/**
 * Task results (`keepResult`), from the outcome a worker writes to the wait of any process.
 *
 * A task that keeps its result carries `k=<ttlMs>` in its entry. The run that finishes it (success, final
 * failure, cancel) writes its outcome with `finish.lua`, in the same script that removes its entry from the
 * in-flight list, so the outcome exists iff the run was released, and a stale run writes none. The outcome is
 * a string at `result:<id>` (with a TTL) and the same script adds the id to the partition's `results` stream.
 * A wait reads the string once (an outcome kept before it began: a wait that starts late loses nothing), then
 * blocks on the stream from a place taken before that read (`XREAD BLOCK`), so an outcome kept meanwhile is
 * seen too; a wait broken by a reconnect takes a new place and reads again; there is no pub/sub message to miss.
 *
 * Waits share one blocking connection per queue and partition (`ResultWaiter`): one `XREAD` serves every wait
 * of that partition, for up to a second; a new wait cuts the block short with `CLIENT UNBLOCK` (when allowed;
 * else it joins within the second).
 */
import { assertJsonFaithful } from './payload.ts';
import { type Client, connect, disconnect, guard, isCluster } from './connection.ts';
import { CancelledError, ResultTimeoutError, StateError, TaskFailedError } from './errors.ts';
import type { QueueKeys } from './keys.ts';
import type { Queue } from './queue.ts';
import { checkTaskId } from './payload.ts';
import { msOption } from './options.ts';

// Checked where tasks are defined too (task.ts), so the check lives in options.ts: a child process that loads
// task modules does not load this file and the Redis client behind it.
export { keepResultOption } from './options.ts';

/** What `finish.lua` stores: the value of a success, or why the task failed. */
export type StoredOutcome =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly reason: string; readonly message: string };

/**
 * The outcome JSON for a success; a value JSON cannot carry faithfully, or one over `maxBytes`, is stored as
 * a failure with reason `result-not-kept` (the task itself succeeded: its handler was told).
 */
export function successOutcome(value: unknown, maxBytes: number): string {
  try {
    assertJsonFaithful(value === undefined ? null : value, 'result');
  } catch (err) {
    return failureOutcome('result-not-kept', (err as Error).message.replace(/^Cannot enqueue: /, 'The result '));
  }
  const text = JSON.stringify({ ok: true, value: value === undefined ? null : value });
  const bytes = Buffer.byteLength(text);
  if (bytes > maxBytes) return failureOutcome('result-not-kept', `The result is ${bytes} bytes, over maxResultBytes (${maxBytes})`);
  return text;
}

export function failureOutcome(reason: string, message: string): string {
  return JSON.stringify({ ok: false, reason, message: message.slice(0, 4000) });
}

/** Reads a stored outcome; an unreadable one is a failure that says so. */
export function readOutcome(text: string): StoredOutcome {
  try {
    const parsed = JSON.parse(text) as { ok?: unknown; value?: unknown; reason?: unknown; message?: unknown };
    if (parsed.ok === true) return { ok: true, value: parsed.value };
    return { ok: false, reason: String(parsed.reason ?? 'unknown'), message: String(parsed.message ?? '') };
  } catch {
    return { ok: false, reason: 'unknown', message: 'the stored outcome is not readable' };
  }
}

/** The value of an outcome, or the typed error for a failure. */
export function settleOutcome(taskId: string, outcome: StoredOutcome): unknown {
  if (outcome.ok) return outcome.value;
  if (outcome.reason === 'cancelled') throw new CancelledError(taskId, outcome.reason, outcome.message);
  throw new TaskFailedError(taskId, outcome.reason, outcome.message);
}

/** The id of a task that keeps its result on a queue of several partitions names its partition: `<id>@<p>`. */
export function resultPartition(taskId: string, partitions: number): number {
  const at = taskId.lastIndexOf('@');
  const p = at < 0 ? 0 : Number(taskId.slice(at + 1));
  return Number.isInteger(p) && p >= 0 && p < partitions ? p : 0;
}

interface Wait {
  readonly resolve: (outcome: StoredOutcome) => void;
}

/** A kept outcome as lib.lua `keep_outcome` stores it, '<ms>|<outcome JSON>': when it was written, and what. */
export function readStored(text: string): { at: number; outcome: StoredOutcome } {
  const bar = text.indexOf('|');
  return { at: bar < 0 ? Number.NaN : Number(text.slice(0, bar)), outcome: readOutcome(text.slice(bar + 1)) };
}

/** Items an XREAD returns at most; a full batch may mean the trimmed stream ran past our place. */
const BATCH = 1000;

/**
 * The blocking reads of one partition's results, shared by every wait of a queue in this process. It keeps a
 * place in the partition's `results` stream (ids of tasks whose outcome was just kept), reads the outcome
 * strings of new waits once (MGET: an outcome kept before the place was taken), then blocks on the stream from
 * its place (outcomes kept since): nothing kept after the place can be missed. When the place may be lost (a
 * dropped connection, a full batch: the stream is trimmed to ~1,000 items, or 30 s without a read), it takes
 * a new place and reads every wait's string again.
 */
export class ResultWaiter {
  readonly #keys: QueueKeys;
  readonly #open: () => Client;
  readonly #producer: () => Client;
  /** Task id -> its waits. */
  readonly #waits = new Map<string, Set<Wait>>();
  /** Ids whose outcome string has not been read since they were added (or the place was lost). */
  #fresh = new Set<string>();
  #conn: Client | undefined;
  #clientId: number | undefined;
  #blocked = false;
  #running = false;
  #closed = false;

  constructor(keys: QueueKeys, open: () => Client, producer: () => Client) {
    this.#keys = keys;
    this.#open = open;
    this.#producer = producer;
  }

  /** Waits for the outcome of `taskId`, up to `timeoutMs`. */
  wait(taskId: string, timeoutMs: number): Promise<StoredOutcome> {
    if (this.#closed) return Promise.reject(new StateError('The queue is closed'));
    return new Promise<StoredOutcome>((resolve, reject) => {
      let set = this.#waits.get(taskId);
      if (!set) this.#waits.set(taskId, (set = new Set()));
      const waits = set;
      const wait: Wait = {
        resolve: (outcome) => {
          clearTimeout(timer);
          resolve(outcome);
        },
      };
      const timer = setTimeout(() => {
        waits.delete(wait);
        if (waits.size === 0 && this.#waits.get(taskId) === waits) this.#waits.delete(taskId);
        reject(new ResultTimeoutError(taskId, timeoutMs));
      }, timeoutMs);
      waits.add(wait);
      this.#fresh.add(taskId);
      if (this.#running) this.#nudge();
      else void this.#loop();
    });
  }

  /** A new wait: cut the current block short (if Redis lets us), so that its outcome string is read now. */
  #nudge(): void {
    if (!this.#blocked || this.#clientId === undefined) return;
    const producer = this.#producer();
    guard(producer, producer.client('UNBLOCK', this.#clientId)).catch(() => undefined);
  }

  async #loop(): Promise<void> {
    this.#running = true;
    let place: string | undefined;
    let readAt = 0;
    try {
      while (this.#waits.size > 0 && !this.#closed) {
        this.#conn ??= this.#open();
        const conn = this.#conn;
        try {
          if (this.#clientId === undefined && !isCluster(conn))
            this.#clientId = await guard(conn, conn.client('ID') as Promise<number>).catch(() => undefined);
          if (place === undefined || Date.now() - readAt > 30_000) {
            const newest = await guard(conn, conn.xrevrange(this.#keys.results, '+', '-', 'COUNT', 1));
            place = newest[0]?.[0] ?? '0-0';
            this.#fresh = new Set(this.#waits.keys());
          }
          if (this.#fresh.size > 0) {
            const ids = [...this.#fresh];
            this.#fresh.clear();
            await this.#read(conn, ids);
            continue;
          }
          this.#blocked = true;
          const reply = (await guard(conn, conn.xread('COUNT', BATCH, 'BLOCK', 1000, 'STREAMS', this.#keys.results, place))) as
            | [string, [string, string[]][]][]
            | null;
          this.#blocked = false;
          readAt = Date.now();
          const items = reply?.[0]?.[1] ?? [];
          place = items.at(-1)?.[0] ?? place;
          if (items.length >= BATCH) place = undefined;
          else {
            const ids = items.map(([, fields]) => fields[fields.indexOf('i') + 1] ?? '').filter((id) => this.#waits.has(id));
            if (ids.length > 0) await this.#read(conn, [...new Set(ids)]);
          }
        } catch {
          // A dropped connection: take a new place and read again (outcomes stay in Redis for their TTL).
          this.#blocked = false;
          place = undefined;
          if (!this.#closed) await new Promise((r) => setTimeout(r, 100));
        }
      }
    } finally {
      this.#running = false;
    }
  }

  /** Reads the outcome strings of `ids` (MGET, 1,000 a call) and settles the waits of those that have one. */
  async #read(conn: Client, ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += BATCH) {
      const chunk = ids.slice(i, i + BATCH);
      const texts = await guard(conn, conn.mget(...chunk.map((id) => this.#keys.result(id))));
      chunk.forEach((id, n) => {
        const text = texts[n];
        if (text === null || text === undefined) return;
        const waits = this.#waits.get(id);
        this.#waits.delete(id);
        const { outcome } = readStored(text);
        for (const wait of waits ?? []) wait.resolve(outcome);
      });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#conn) await disconnect(this.#conn);
  }
}

/**
 * `queue.result(id)`: hands the wait to the partition's `ResultWaiter` (made on first use, kept in `waiters`)
 * and turns the outcome into the value or a typed error.
 */
export async function waitForResult<R>(
  queue: Queue,
  waiters: Map<number, ResultWaiter>,
  id: string,
  options: { timeoutMs?: number },
): Promise<R> {
  checkTaskId(id);
  const timeoutMs = msOption('timeoutMs', options.timeoutMs, 30_000, 1);
  const p = resultPartition(id, queue.partitions.length);
  let waiter = waiters.get(p);
  if (!waiter) {
    const open = () => connect(queue.redisSource, 'blocking', queue.name, queue.commandTimeoutMs);
    waiter = new ResultWaiter(queue.partitions[p] as QueueKeys, open, () => queue.redis);
    waiters.set(p, waiter);
  }
  return settleOutcome(id, await waiter.wait(id, timeoutMs)) as R;
}
