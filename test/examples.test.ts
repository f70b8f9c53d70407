// The README's examples, run as written (through the package's own name) against a fresh private Redis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startRedis } from '../scripts/redis-server.mjs';
import { waitFor } from './helpers.ts';

function run(file: string, env: Record<string, string>) {
  const proc = spawn(process.execPath, ['--import', 'tsx', `examples/${file}`], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, output: () => out, exited };
}

test('README examples: enqueue, then a worker runs every task, then stops on SIGTERM', {
  skip: process.env.CI_SKIP_EXAMPLES ? 'skipped' : false,
}, async () => {
  const server = await startRedis();
  try {
    const env = { REDIS_URL: server.url };
    const producer = run('enqueue.ts', env);
    assert.equal(await producer.exited, 0, producer.output());
    assert.match(producer.output(), /enqueued \S+ \S+ \S+ \S+/);
    assert.match(producer.output(), /runs now: 3/);
    const sweeper = run('sweeper.ts', env);
    const worker = run('worker.ts', env);
    await waitFor('four finished tasks', () => (worker.output().match(/finished:/g) ?? []).length >= 4, 60_000);
    // A signal before the sweeper installed its handlers would simply kill it: wait until it says it runs.
    await waitFor('the sweeper to run', () => sweeper.output().includes('sweeping queue'), 60_000);
    for (const p of [worker, sweeper]) p.proc.kill('SIGTERM');
    assert.equal(await worker.exited, 0, worker.output());
    assert.equal(await sweeper.exited, 0);
    const out = worker.output();
    assert.match(out, /\(add\) finished: 3\n/);
    assert.match(out, /\(add\) finished: 7\n/);
    assert.match(out, /\(add\) finished: 11\n/);
    assert.match(out, /\(resize\) finished: \{[^}]*width: 640/);
    assert.doesNotMatch(out, /failed/);
  } finally {
    await server.stop();
  }
});
