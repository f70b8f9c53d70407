// The Prometheus endpoint: `delayed worker --metrics-port` serves counters, gauges and the run-time
// histogram; the Metrics class can also be used in-process (and counts enqueues through a Queue it wraps).
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { Queue } from '../src/index.ts';
import { Metrics } from '../src/metrics.ts';
import { CliProcess, killAll, runCli, tasksModule, uniqueName } from './cli-support.ts';
import { dropQueue, inspector, REDIS_URL, waitFor } from './helpers.ts';

const redis = inspector();
const made: string[] = [];
function queue(tag: string): string {
  const name = uniqueName(tag);
  made.push(name);
  return name;
}
const opened: Queue[] = [];
after(async () => {
  await killAll();
  for (const q of opened) await q.close();
  for (const name of made) await dropQueue(redis, name);
  redis.disconnect();
});

/** The value of one sample line, e.g. `delayed_tasks_failed_total{queue="q",task="boom",reason="thrown"}`. */
function sample(text: string, metric: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`) && line.split(' ')[0] !== metric) continue;
    const body = /\{([^}]*)\}/.exec(line)?.[1] ?? '';
    const have = Object.fromEntries([...body.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('delayed worker --metrics-port', { timeout: 120_000 }, () => {
  test('serves outcome counters by task and reason, queue gauges, the run-time histogram and recoveries', async () => {
    const name = queue('metrics');
    const k = (s: string) => `delayed:{${name}}:${s}`;
    const worker = new CliProcess([
      'worker',
      '--queue',
      name,
      '--tasks',
      tasksModule(),
      '--concurrency',
      '2',
      '--metrics-port',
      '0',
      '--metrics-host',
      '127.0.0.1',
      '--quiet',
    ]);
    try {
      const [, url] = await worker.waitFor(/metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)/);
      const scrape = async () => {
        const res = await fetch(url as string);
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
        return await res.text();
      };
      const q = new Queue({ name, redis: REDIS_URL });
      opened.push(q);
      await q.enqueue('add', [1, 2]);
      await q.enqueue('add', [3, 4]);
      await q.enqueue('boom', ['no']);
      await q.enqueue('ghost', []);
      // A worker that died holding a task: this worker's sweeps put it back, then run it.
      const now = Date.now();
      await redis.zadd(k('workers'), now - 60_000, 'gone.1.z');
      await redis.lpush(k('worker:gone.1.z'), '1|0|0||lost.1|add|60000|3|[5,6]');

      const text = await waitFor(
        'all outcomes counted',
        async () => {
          const t = await scrape();
          const done =
            sample(t, 'delayed_tasks_succeeded_total', { queue: name, task: 'add' }) === 3 &&
            sample(t, 'delayed_tasks_failed_total', { queue: name, task: 'boom', reason: 'thrown' }) === 1 &&
            sample(t, 'delayed_tasks_failed_total', { queue: name, task: '', reason: 'unknown-task' }) === 1 &&
            sample(t, 'delayed_tasks_recovered_total', { queue: name }) === 1 &&
            // An outcome is counted when it happens; the task leaves its worker's list a moment later.
            sample(t, 'delayed_queue_in_flight', { queue: name }) === 0;
          return done ? t : undefined;
        },
        15_000,
        25,
      );
      assert.equal(sample(text, 'delayed_tasks_started_total', { queue: name }), 5);
      assert.equal(sample(text, 'delayed_tasks_failed_total', { queue: name, task: 'boom', reason: 'thrown' }), 1);
      assert.equal(
        sample(text, 'delayed_tasks_failed_total', { queue: name, task: '', reason: 'unknown-task' }),
        1,
        'a name from Redis that no module defines must not become a label',
      );
      assert.equal(
        sample(text, 'delayed_tasks_failed_total', { queue: name, task: '', reason: 'timeout' }),
        undefined,
        'no zero series with an empty task label',
      );
      assert.equal(sample(text, 'delayed_task_run_seconds_count', { queue: name, task: 'add', outcome: 'succeeded' }), 3);
      assert.equal(sample(text, 'delayed_task_run_seconds_bucket', { queue: name, task: 'add', outcome: 'succeeded', le: '+Inf' }), 3);
      assert.ok((sample(text, 'delayed_task_run_seconds_sum', { queue: name, task: 'add', outcome: 'succeeded' }) ?? -1) >= 0);
      assert.equal(sample(text, 'delayed_queue_waiting', { queue: name }), 0);
      assert.equal(sample(text, 'delayed_queue_in_flight', { queue: name }), 0);
      assert.equal(sample(text, 'delayed_queue_workers', { queue: name, state: 'alive' }), 1);
      assert.equal(sample(text, 'delayed_worker_active_tasks', { queue: name }), 0);
      const age = sample(text, 'delayed_queue_oldest_lease_age_seconds', { queue: name });
      assert.ok(age !== undefined && age >= 0 && age < 3, `lease age ${age}`);
      assert.match(text, /^# HELP delayed_task_run_seconds .*queue wait is not measured/m);
      assert.match(text, /^process_resident_memory_bytes /m);

      // Gauges follow the queue: tasks waiting while the worker is busy.
      await q.enqueue('slow', [1500]);
      await q.enqueue('slow', [1500]);
      await q.enqueue('slow', [1500]);
      const busy = await waitFor(
        'the worker busy with two slow tasks',
        async () => {
          const t = await scrape();
          return sample(t, 'delayed_queue_in_flight', { queue: name }) === 2 ? t : undefined;
        },
        15_000,
        25,
      );
      assert.equal(sample(busy, 'delayed_queue_waiting', { queue: name }), 1);
      assert.equal(sample(busy, 'delayed_worker_active_tasks', { queue: name }), 2);
      await q.close();

      const other = await fetch((url as string).replace('/metrics', '/nope'));
      assert.equal(other.status, 404);
      worker.proc.kill('SIGTERM');
      assert.equal((await worker.exited).code, 0);
    } finally {
      await worker.kill();
    }
  });

  test('a taken port exits 1 and says so', async () => {
    const name = queue('metrics');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const r = await runCli([
        'worker',
        '--queue',
        name,
        '--tasks',
        tasksModule(),
        '--metrics-port',
        String(port),
        '--metrics-host',
        '127.0.0.1',
      ]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`cannot serve metrics on port ${port}: .*EADDRINUSE`));
      assert.match(r.stderr, /pick another --metrics-port/);
    } finally {
      server.close();
    }
  });
});

describe('Metrics in-process', { timeout: 120_000 }, () => {
  test('counts enqueues through a Queue it wraps, and reads the queue gauges at scrape time', async () => {
    const name = queue('metrics');
    const q = new Queue({ name, redis: REDIS_URL });
    opened.push(q);
    const metrics = new Metrics({ processMetrics: false });
    metrics.countEnqueues(q);
    metrics.observeQueue(q);
    await q.enqueue('add', [1, 2]);
    await q.enqueueMany([
      { name: 'add', args: [1, 2] },
      { name: 'add', args: [3, 4] },
    ]);
    const text = await metrics.text();
    assert.equal(sample(text, 'delayed_tasks_enqueued_total', { queue: name }), 3);
    assert.equal(sample(text, 'delayed_queue_waiting', { queue: name }), 3);
    assert.equal(sample(text, 'delayed_queue_workers', { queue: name, state: 'alive' }), 0);
    assert.doesNotMatch(text, /^process_/m);
    await q.close();
  });
});
