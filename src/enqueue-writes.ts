/**
 * The writes of an enqueue, once `Queue` has built and checked the entries: one LPUSH, push.lua for a task of
 * another priority level or for the front, schedule.lua for a task that runs later, or one pipelined batch per
 * partition for `enqueueMany`; then WAIT when the queue asks for replicas.
 */
import { send } from './connection.ts';
import { NotReplicatedError } from './errors.ts';
import type { QueueKeys } from './keys.ts';
import type { Due } from './later.ts';
import type { Queue } from './queue.ts';
import { isNoScript, scriptSha, scriptSource } from './scripts.ts';
import { pushEntry } from './store.ts';
import { scheduleCall, scheduleLater } from './store-time.ts';
import type { ResolvedUnique } from './unique.ts';

/** One task, checked and encoded by the queue, ready to write. */
export interface Built {
  readonly id: string;
  readonly entry: string;
  readonly keys: QueueKeys;
  /** Set when the task runs later. */
  readonly due: Due | undefined;
  /** Set for a unique task. */
  readonly unique: ResolvedUnique | undefined;
  /** Set when the task goes to a level other than the default, or to the front: push.lua / RPUSH. */
  readonly push: { readonly level: string; readonly front: boolean } | undefined;
  /** Its priority level when not the queue's default, else ''. */
  readonly level: string;
}

/** Resolves once `waitForReplicas` replicas confirmed what this connection wrote; throws if fewer did. */
export function checkReplicas(queue: Queue, replies: [Error | null, unknown][] | null, ids: readonly string[]): void {
  const failed = replies?.find(([err]) => err);
  if (failed) throw failed[0];
  if (queue.waitForReplicas === 0) return;
  const confirmed = Number(replies?.at(-1)?.[1] ?? 0);
  if (confirmed < queue.waitForReplicas) throw new NotReplicatedError(ids, confirmed, queue.waitForReplicas, queue.replicaTimeoutMs);
}

/** Writes one built task (the configuration checked first). */
export async function writeOne(queue: Queue, { id, entry, keys, due, push }: Built): Promise<string> {
  await queue.checkConfig();
  const redis = queue.redis;
  if (push) {
    await send(redis, () => pushEntry(redis, keys, entry, push.level, push.front));
    if (queue.waitForReplicas > 0)
      checkReplicas(queue, await send(redis, () => redis.pipeline().wait(queue.waitForReplicas, queue.replicaTimeoutMs).exec()), [id]);
    return id;
  }
  if (due) {
    // schedule.lua: the due time is TIME + delay (or runAt on Redis' clock), computed inside Redis.
    if (queue.waitForReplicas === 0) await send(redis, () => scheduleLater(redis, keys, entry, due.delayMs, due.atMs));
    else {
      let replies = await send(redis, () =>
        scheduledPipeline(queue, keys, [entry], [due]).wait(queue.waitForReplicas, queue.replicaTimeoutMs).exec(),
      );
      if (isNoScript(replies?.[0]?.[0])) {
        // The server did not know the script, so nothing ran: send it again with its text.
        const source = scriptSource('schedule');
        const call = scheduleCall(keys, entry, due.delayMs, due.atMs);
        replies = await send(redis, () =>
          redis
            .pipeline()
            .eval(source, call.keys.length, ...call.keys, ...call.args)
            .wait(queue.waitForReplicas, queue.replicaTimeoutMs)
            .exec(),
        );
      }
      checkReplicas(queue, replies, [id]);
    }
    return id;
  }
  if (queue.waitForReplicas === 0) {
    await send(redis, () => redis.lpush(keys.waiting, entry));
    return id;
  }
  checkReplicas(
    queue,
    await send(redis, () => redis.pipeline().lpush(keys.waiting, entry).wait(queue.waitForReplicas, queue.replicaTimeoutMs).exec()),
    [id],
  );
  return id;
}

/** Writes built tasks: one pipelined batch per partition, in order; push.lua (or RPUSH) for other levels and atFront. */
export async function writeMany(queue: Queue, built: readonly Built[]): Promise<string[]> {
  const byPartition = new Map<QueueKeys, { entries: string[]; ids: string[]; later: string[]; dues: Due[] }>();
  const pushed: Built[] = [];
  for (const b of built) {
    if (b.push) {
      pushed.push(b);
      continue;
    }
    let group = byPartition.get(b.keys);
    if (!group) byPartition.set(b.keys, (group = { entries: [], ids: [], later: [], dues: [] }));
    if (b.due) {
      group.later.push(b.entry);
      group.dues.push(b.due);
    } else group.entries.push(b.entry);
    group.ids.push(b.id);
  }
  const CHUNK = 1000;
  if (built.length > 0) await queue.checkConfig();
  const redis = queue.redis;
  // Tasks of another level or for the front: one push.lua (or RPUSH) each, before the pipelines (whose WAIT
  // then covers them too).
  await Promise.all(pushed.map((b) => send(redis, () => pushEntry(redis, b.keys, b.entry, b.push!.level, b.push!.front))));
  if (pushed.length > 0 && byPartition.size === 0 && queue.waitForReplicas > 0)
    checkReplicas(
      queue,
      await send(redis, () => redis.pipeline().wait(queue.waitForReplicas, queue.replicaTimeoutMs).exec()),
      pushed.map((b) => b.id),
    );
  await Promise.all(
    [...byPartition].map(async ([keys, { entries, ids, later, dues }]) => {
      const pipeline = scheduledPipeline(queue, keys, later, dues);
      for (let i = 0; i < entries.length; i += CHUNK) pipeline.lpush(keys.waiting, ...entries.slice(i, i + CHUNK));
      if (queue.waitForReplicas > 0) pipeline.wait(queue.waitForReplicas, queue.replicaTimeoutMs);
      let replies = (await send(redis, () => pipeline.exec())) ?? [];
      // A server that did not know schedule.lua ran none of those calls: send exactly them again, with the text.
      const missed = later.map((_, i) => i).filter((i) => isNoScript(replies[i]?.[0]));
      if (missed.length > 0) {
        const again = redis.pipeline();
        const source = scriptSource('schedule');
        for (const i of missed) {
          const due = dues[i] as Due;
          const call = scheduleCall(keys, later[i] as string, due.delayMs, due.atMs);
          again.eval(source, call.keys.length, ...call.keys, ...call.args);
        }
        if (queue.waitForReplicas > 0) again.wait(queue.waitForReplicas, queue.replicaTimeoutMs);
        replies = [...replies.filter(([err]) => !isNoScript(err)), ...((await send(redis, () => again.exec())) ?? [])];
      }
      checkReplicas(queue, replies, ids);
    }),
  );
  return built.map((b) => b.id);
}

/** A pipeline that starts with one schedule.lua call per entry that runs later. */
function scheduledPipeline(queue: Queue, keys: QueueKeys, entries: readonly string[], dues: readonly Due[]) {
  const pipeline = queue.redis.pipeline();
  const sha = scriptSha('schedule');
  entries.forEach((entry, i) => {
    const due = dues[i] as Due;
    const call = scheduleCall(keys, entry, due.delayMs, due.atMs);
    pipeline.evalsha(sha, call.keys.length, ...call.keys, ...call.args);
  });
  return pipeline;
}
