// The README's Retries / Running later / Schedules snippets (blocks marked file=time/...) run as written,
// against this checkout (`delayed-queue` mapped to src/index.ts) and the test Redis, then a worker runs what
// they enqueued: the retried charge succeeds on its second run, and the queue's keys are the documented ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InlineWorker, Queue } from '../src/index.ts';
import { dropQueue, useInspector, REDIS_URL, recorder, runUntil } from './helpers.ts';
import { readmeFiles, ROOT } from './newcomer-support.ts';

const redis = useInspector();

test('the Retries, Running later and Schedules snippets run as written', { timeout: 120_000 }, async () => {
  const files = readmeFiles();
  const name = `readme-${process.pid}-${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(ROOT, 'test', '.readme-time-'));
  const queue = new Queue({ name, redis: REDIS_URL });
  try {
    mkdirSync(join(dir, 'time'));
    for (const path of ['time/tasks.ts', 'time/enqueue.ts', 'time/schedule.ts']) {
      const text = files.get(path);
      assert.ok(text, `README.md has no block marked file=${path}`);
      const local = text
        .replaceAll("'delayed-queue'", `'${join(ROOT, 'src', 'index.ts')}'`)
        .replaceAll("name: 'billing'", `name: '${name}'`);
      writeFileSync(join(dir, path), local);
    }
    const run = (file: string) =>
      spawnSync(process.execPath, ['--import', 'tsx', join(dir, file)], {
        encoding: 'utf8',
        env: { ...process.env, REDIS_URL },
        timeout: 60_000,
      });
    const enqueued = run('time/enqueue.ts');
    assert.equal(enqueued.status, 0, enqueued.stderr);
    assert.match(enqueued.stdout, /^scheduled: report \["weekly"\] due /m);
    assert.equal(enqueued.stdout.match(/^scheduled: /gm)?.length, 4);
    const scheduled = run('time/schedule.ts');
    assert.equal(scheduled.status, 0, scheduled.stderr);
    assert.match(scheduled.stdout, /^schedule heartbeat: next /m);
    assert.match(scheduled.stdout, /^nightly report next at /m);
    assert.deepEqual(await queue.schedules(), []);
    // a worker runs what is due: the 'now' report at once, the weekly one after 2 s, a charge retried once
    const rec = recorder();
    const tasks = new URL(`file://${join(dir, 'time/tasks.ts')}`);
    await queue.enqueue('charge', ['acct-3', 100]);
    const worker = new InlineWorker({ queue, tasks: [tasks], handleSignals: false, successHandler: rec.successHandler });
    const results = () => rec.outcomes.map((o) => JSON.stringify(o.result));
    const expected = ['"now report done"', '"weekly report done"', '{"account":"acct-3","cents":100}'];
    await runUntil(worker, 'three results', () => expected.every((r) => results().includes(r)), 30_000);
    // The daily report falls due 5 s after the enqueue: on a loaded machine the worker may already have run it.
    assert.deepEqual(
      results()
        .filter((r) => r !== '"daily report done"')
        .sort(),
      ['"now report done"', '"weekly report done"', '{"account":"acct-3","cents":100}'],
    );
    assert.equal(rec.outcomes.find((o) => o.name === 'charge')?.attempt, 1, 'the charge ran twice: its first run threw');
  } finally {
    await dropQueue(redis, queue);
    await queue.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
