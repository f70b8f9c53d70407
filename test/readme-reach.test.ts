// The README's "Looking up and cancelling a task" snippet (block marked file=reach/cancel.ts) runs as written,
// against this checkout (`delayed-queue` mapped to src/index.ts) and the test Redis, and leaves no key behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InlineWorker, Queue } from '../src/index.ts';
import { dropQueue, useInspector, queueKeysNow, REDIS_URL } from './helpers.ts';
import { readmeFiles, ROOT } from './newcomer-support.ts';

const execFileAsync = promisify(execFile);
const redis = useInspector();

test('the result snippet runs as written: a worker runs the task, the wait prints 3', { timeout: 60_000 }, async () => {
  const text = readmeFiles().get('reach/result.ts');
  assert.ok(text, 'README.md has no block marked file=reach/result.ts');
  const name = `readme-result-${process.pid}-${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(ROOT, 'test', '.readme-reach-'));
  const queue = new Queue({ name, redis: REDIS_URL });
  try {
    mkdirSync(join(dir, 'reach'));
    const file = join(dir, 'reach/result.ts');
    writeFileSync(
      file,
      text.replaceAll("'delayed-queue'", `'${join(ROOT, 'src', 'index.ts')}'`).replaceAll("name: 'math'", `name: '${name}'`),
    );
    // The worker loads the snippet's task definition (the same module, under a name that does not enqueue).
    const tasksFile = join(dir, 'reach/tasks.ts');
    writeFileSync(
      tasksFile,
      `import { defineTask } from '${join(ROOT, 'src', 'index.ts')}';\nexport const add = defineTask('add', (a: number, b: number) => a + b);\n`,
    );
    const worker = new InlineWorker({ queue, tasks: [tasksFile], handleSignals: false });
    const running = worker.run();
    try {
      // Not spawnSync: the worker runs in this process and must keep going while the snippet waits.
      const run = await execFileAsync(process.execPath, ['--import', 'tsx', file], { env: { ...process.env, REDIS_URL }, timeout: 30_000 });
      assert.equal(run.stdout, '3\n', run.stderr);
    } finally {
      await worker.close();
      await running;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await queue.close();
    await dropQueue(redis, name);
  }
});

test('the lookup and cancel snippet runs as written: scheduled, removed, unknown; nothing is left', { timeout: 60_000 }, async () => {
  const text = readmeFiles().get('reach/cancel.ts');
  assert.ok(text, 'README.md has no block marked file=reach/cancel.ts');
  const name = `readme-reach-${process.pid}-${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(ROOT, 'test', '.readme-reach-'));
  try {
    mkdirSync(join(dir, 'reach'));
    writeFileSync(
      join(dir, 'reach/cancel.ts'),
      text.replaceAll("'delayed-queue'", `'${join(ROOT, 'src', 'index.ts')}'`).replaceAll("name: 'reports'", `name: '${name}'`),
    );
    const run = spawnSync(process.execPath, ['--import', 'tsx', join(dir, 'reach/cancel.ts')], {
      encoding: 'utf8',
      env: { ...process.env, REDIS_URL },
      timeout: 30_000,
    });
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^scheduled \d{4}-\d\d-\d\dT/);
    assert.deepEqual(lines.slice(1), ['removed', 'unknown']);
    assert.deepEqual(await queueKeysNow(redis, { name, prefix: 'delayed' }), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await dropQueue(redis, name);
  }
});
