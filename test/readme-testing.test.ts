// The README's "Testing your tasks without Redis" snippet runs as written, with node:test, beside the
// Getting-started task module (`delayed-queue` mapped to this checkout's src/), and passes, with no Redis:
// REDIS_URL points nowhere while it runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readmeFiles, ROOT } from './newcomer-support.ts';

test('the Testing-without-Redis snippet passes under node --test, with no Redis server', { timeout: 120_000 }, () => {
  const files = readmeFiles();
  const dir = mkdtempSync(join(ROOT, 'test', '.readme-testing-'));
  try {
    for (const path of ['src/tasks.ts', 'test/tasks.test.ts']) {
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
    // The child is a test run of its own, not a subtest of this one: it must not see this runner's context.
    const { NODE_TEST_CONTEXT: _ours, ...env } = process.env;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', 'test/tasks.test.ts'], {
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
