/**
 * Task results (`keepResult`), from the outcome a worker writes to the wait of any process.
 *
 * A task that keeps its result carries `k=<ttlMs>` in its entry. The run that finishes it (success, final
 * failure, cancel) writes its outcome with `finish.lua`, in the same script that removes its entry from the
 * in-flight list, so the outcome exists iff the run was released, and a stale run writes none. The outcome is
 * a stream of one item at `result:<id>` (with a TTL), so a wait is `XREAD BLOCK … STREAMS key 0-0`: it returns
 * at once when the outcome is already there (a wait that starts late loses nothing), and a wait broken by a
 * reconnect simply reads again; there is no pub/sub message to miss.
 *
 * Waits share one blocking connection per queue and partition (`ResultWaiter`): one `XREAD` names every key
 * waited for in that partition, for up to a second; a new wait cuts the block short with `CLIENT UNBLOCK`
 * (when allowed; else it joins within the second).
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

/** The blocking reads of one partition's results, shared by every wait of a queue in this process. */
export class ResultWaiter {
  readonly #keys: QueueKeys;
  readonly #open: () => Client;
  readonly #producer: () => Client;
  readonly #waits = new Map<string, Set<Wait>>();
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
    const key = this.#keys.result(taskId);
    return new Promise<StoredOutcome>((resolve, reject) => {
      let set = this.#waits.get(key);
      if (!set) this.#waits.set(key, (set = new Set()));
      const waits = set;
      const wait: Wait = {
        resolve: (outcome) => {
          clearTimeout(timer);
          resolve(outcome);
        },
      };
      const timer = setTimeout(() => {
        waits.delete(wait);
        if (waits.size === 0 && this.#waits.get(key) === waits) this.#waits.delete(key);
        reject(new ResultTimeoutError(taskId, timeoutMs));
      }, timeoutMs);
      waits.add(wait);
      if (this.#running) this.#nudge();
      else void this.#loop();
    });
  }

  /** A new key to read: cut the current block short (if Redis lets us), so the next read names it. */
  #nudge(): void {
    if (!this.#blocked || this.#clientId === undefined) return;
    const producer = this.#producer();
    guard(producer, producer.client('UNBLOCK', this.#clientId)).catch(() => undefined);
  }

  async #loop(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waits.size > 0 && !this.#closed) {
        this.#conn ??= this.#open();
        const conn = this.#conn;
        if (this.#clientId === undefined && !isCluster(conn))
          this.#clientId = await guard(conn, conn.client('ID') as Promise<number>).catch(() => undefined);
        const keys = [...this.#waits.keys()].slice(0, 1000);
        let reply: [string, [string, string[]][]][] | null;
        try {
          this.#blocked = true;
          reply = (await guard(conn, conn.xread('BLOCK', 1000, 'STREAMS', ...keys, ...keys.map(() => '0-0')))) as typeof reply;
        } catch {
          // A dropped connection or an unblock: read again (outcomes stay in Redis for their TTL).
          this.#blocked = false;
          if (!this.#closed) await new Promise((r) => setTimeout(r, 100));
          continue;
        } finally {
          this.#blocked = false;
        }
        for (const [key, items] of reply ?? []) {
          const fields = items[items.length - 1]?.[1] ?? [];
          const at = fields.indexOf('o');
          if (at < 0) continue;
          const outcome = readOutcome(fields[at + 1] ?? '');
          const waits = this.#waits.get(key);
          this.#waits.delete(key);
          for (const wait of waits ?? []) wait.resolve(outcome);
        }
      }
    } finally {
      this.#running = false;
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
