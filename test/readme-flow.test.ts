// The README's "Per-key limits and semaphores" snippets (flow/tasks.ts and its test) run as written, with
// node:test, on the memory store (`delayed-queue` mapped to this checkout's src/), and pass with no Redis:
// REDIS_URL points nowhere while it runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readmeFiles, ROOT } from './newcomer-support.ts';

test('the per-key limits snippet passes under node --test, with no Redis server', { timeout: 120_000 }, () => {
  const files = readmeFiles();
  const dir = mkdtempSync(join(ROOT, 'test', '.readme-flow-'));
  try {
    for (const path of ['flow/tasks.ts', 'flow/tasks.test.ts']) {
      const text = files.get(path);
      assert.ok(text, `README.md has no block marked file=${path}`);
      const local = text
        .replaceAll("'delayed-queue'", `'${join(ROOT, 'src', 'index.ts')}'`)
        .replaceAll("'delayed-queue/testing'", `'${join(ROOT, 'src', 'testing.ts')}'`)
        .replaceAll("'delayed-queue/task'", `'${join(ROOT, 'src', 'task-entry.ts')}'`);
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), local);
    }
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    const { NODE_TEST_CONTEXT: _ours, ...env } = process.env;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', 'flow/tasks.test.ts'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...env, REDIS_URL: 'redis://127.0.0.1:1' },
      timeout: 100_000,
    });
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^# pass 1$/m);
    assert.match(run.stdout, /^# fail 0$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
