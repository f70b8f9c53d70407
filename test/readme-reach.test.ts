// The README's "Looking up and cancelling a task" snippet (block marked file=reach/cancel.ts) runs as written,
// against this checkout (`delayed-queue` mapped to src/index.ts) and the test Redis, and leaves no key behind.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { dropQueue, inspector, queueKeysNow, REDIS_URL } from './helpers.ts';
import { readmeFiles, ROOT } from './newcomer-support.ts';

let redis: Redis;
before(() => {
  redis = inspector();
});
after(async () => {
  await redis.quit();
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
