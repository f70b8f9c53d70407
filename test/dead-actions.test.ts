// Dead letters from the API and the CLI: list, requeue one by task id, requeue all, purge.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import {
  findDeadLetterById,
  InlineWorker,
  listDeadLetters,
  purgeDeadLetters,
  requeueAllDeadLetters,
  requeueDeadLetterById,
} from '../src/index.ts';
import { fail } from './fixtures/tasks.ts';
import { runCli } from './cli-support.ts';
import { FIXTURES, inspector, queueKeysNow, recorder, runUntil, withQueue } from './helpers.ts';
import type { Queue } from '../src/index.ts';

let redis: Redis;
before(() => {
  redis = inspector();
});
after(async () => {
  await redis.quit();
});

async function failAll(q: Queue, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await fail.delay(q, `no ${i}`));
  const rec = recorder();
  const w = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, errorHandler: rec.errorHandler });
  await runUntil(w, 'the failures', () => rec.outcomes.length === n);
  return ids;
}

test('API: find and requeue one dead letter by task id, requeue all, purge; nothing is left', () =>
  withQueue(
    redis,
    async (q) => {
      const ids = await failAll(q, 3);
      assert.equal((await listDeadLetters(q)).total, 3);
      const found = await findDeadLetterById(q, ids[1] as string);
      assert.ok(found && found.reason === 'thrown' && found.message === 'no 1', JSON.stringify(found));
      assert.equal(await requeueDeadLetterById(q, ids[1] as string), true);
      assert.equal(await requeueDeadLetterById(q, ids[1] as string), false, 'once');
      assert.equal(await q.waiting(), 1);
      assert.equal((await q.task(ids[1] as string)).state, 'waiting');
      assert.deepEqual(await requeueAllDeadLetters(q), { requeued: 2, skipped: 0 });
      assert.equal(await q.waiting(), 3);
      const rec = recorder();
      const w = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, errorHandler: rec.errorHandler });
      await runUntil(w, 'the requeued tasks to fail again', () => rec.outcomes.length === 3);
      assert.equal(await purgeDeadLetters(q), 3);
      assert.equal(await purgeDeadLetters(q), 0);
      assert.deepEqual(
        (await queueKeysNow(redis, q)).filter((k) => !k.endsWith(':sweep')),
        [],
      );
    },
    { deadLetters: 10 },
  ));

test('CLI: delayed dead lists, --requeue ID, --all, --purge; bad usage exits 2, an id without a letter exits 1', () =>
  withQueue(
    redis,
    async (q) => {
      const ids = await failAll(q, 2);
      const list = await runCli(['dead', '--queue', q.name]);
      assert.equal(list.code, 0, list.stderr);
      for (const id of ids) assert.match(list.stdout, new RegExp(`${id.replace('.', '\\.')}  fail  thrown: no `));
      assert.match(list.stdout, /2 of 2 shown/);
      const json = (await runCli(['dead', '--queue', q.name, '--json'])).stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { id: string });
      assert.deepEqual(json.map((l) => l.id).sort(), [...ids].sort());
      assert.deepEqual(await runCli(['dead', '--queue', q.name, '--requeue', ids[0] as string]).then((r) => [r.code, r.stdout]), [
        0,
        `requeued ${ids[0]}\n`,
      ]);
      assert.equal((await runCli(['dead', '--queue', q.name, '--requeue', ids[0] as string])).code, 1);
      assert.deepEqual(await runCli(['dead', '--queue', q.name, '--all']).then((r) => r.stdout), 'requeued 1\n');
      assert.equal(await q.waiting(), 2);
      const rec = recorder();
      const w = new InlineWorker({ queue: q, tasks: [FIXTURES], handleSignals: false, errorHandler: rec.errorHandler });
      await runUntil(w, 'the failures again', () => rec.outcomes.length === 2);
      assert.deepEqual(await runCli(['dead', '--queue', q.name, '--purge']).then((r) => r.stdout), 'purged 2\n');
      assert.equal((await runCli(['dead', '--queue', q.name, '--all', '--purge'])).code, 2);
      assert.equal((await runCli(['dead', '--queue', q.name, '--requeue', 'a|b'])).code, 2);
    },
    { deadLetters: 10 },
  ));
